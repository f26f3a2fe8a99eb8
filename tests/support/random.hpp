// Seeded test data.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "ganad/core/random.hpp"

namespace ganad::test {

/// Uniform in [lo, hi), and if margin > 0 at least margin away from 0 (away from kinks).
template <class T>
void fill_uniform(std::span<T> v, std::uint64_t seed, double lo = -1.0, double hi = 1.0,
                  double margin = 0.0) {
  Rng rng(seed);
  for (auto& x : v) {
    double d = rng.uniform(lo, hi);
    if (margin > 0 && std::abs(d) < margin) d = d < 0 ? d - margin : d + margin;
    x = T(d);
  }
}

template <class T>
std::vector<T> uniform_vector(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(n);
  fill_uniform<T>(v, seed, lo, hi);
  return v;
}

}  // namespace ganad::test
