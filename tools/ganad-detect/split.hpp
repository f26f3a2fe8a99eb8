// How ganad-detect and the MNIST example split the normal rows: shuffled with the seed, cut
// to a limit, and the last `holdout` share kept back to calibrate the threshold. One function,
// so that the same seed gives both programs the same training rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <ganad/core/random.hpp>

namespace ganad_detect {

struct Split {
  std::vector<int> train, calibration;
};

/// `rows` (indices of normal rows) shuffled with Rng(seed ^ 0xa5a5a5a5), cut to `limit`
/// (0: all), then floor(holdout * n) (at least 1) of them, from the end, for calibration.
inline Split split_normal_rows(std::vector<int> rows, std::uint64_t seed, int limit, double holdout) {
  ganad::Rng rng(seed ^ 0xa5a5a5a5ULL);
  rng.shuffle(rows.begin(), rows.end());
  if (limit > 0 && int(rows.size()) > limit) rows.resize(std::size_t(limit));
  const auto held = std::max<std::size_t>(std::size_t(std::floor(double(rows.size()) * holdout + 1e-9)), 1);
  Split s;
  s.calibration.assign(rows.end() - std::ptrdiff_t(std::min(held, rows.size())), rows.end());
  rows.resize(rows.size() - s.calibration.size());
  s.train = std::move(rows);
  return s;
}

}  // namespace ganad_detect
