/// score::Weighted: a weighted sum of standardised scores of other scorers,
/// sum_i w_i (s_i - mean_i) / sd_i, with mean_i and sd_i taken on normal data. Weights are
/// set by the user, or chosen on a labelled validation set by fit_weights.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ganad/detect/metrics.hpp"
#include "ganad/detect/scorer.hpp"

namespace ganad::score {

template <class... Scorers>
class Weighted {
  static constexpr std::size_t N = sizeof...(Scorers);
  static_assert(N > 0, "score::Weighted: give at least one scorer");

 public:
  static constexpr std::string_view name() { return "weighted"; }
  /// Equal weights 1 / N until set_weights or fit_weights.
  explicit Weighted(Scorers... s) : scorers_(std::move(s)...) {
    weights_.fill(1.0 / N);
    sd_.fill(1.0);
  }

  void set_weights(std::array<double, N> w) {
    for (double v : w)
      if (!std::isfinite(v)) throw ValueError("score::Weighted::set_weights: weights must be finite");
    weights_ = w;
  }
  [[nodiscard]] const std::array<double, N>& weights() const { return weights_; }
  template <std::size_t I>
  auto& scorer() { return std::get<I>(scorers_); }
  /// Every component fitted and the standardisation taken.
  [[nodiscard]] bool fitted() const {
    return standardized_ && std::apply([](const auto&... s) { return (s.fitted() && ...); }, scorers_);
  }

  /// Fits every component that learns from normal data, then standardises on the same data.
  template <class Gan>
  void fit(Gan& gan, const Samples<typename Gan::T>& normal) {
    std::apply([&](auto&... s) { (fit_one(s, gan, normal), ...); }, scorers_);
    standardize_on(gan, normal);
  }
  /// Takes each component's mean and standard deviation on normal data, leaving the
  /// components as they are (they must be fitted already: e.g. an encoder trained before).
  template <class Gan>
  void standardize_on(Gan& gan, const Samples<typename Gan::T>& normal) {
    std::array<double, N> sum{}, sum2{};
    std::size_t rows = 0;
    Batch<typename Gan::T, typename Gan::image_shape> staging;
    const auto src = normal.template as<typename Gan::image_shape>("score::Weighted::standardize_on");
    detail::scan_in_chunks(src, staging, "score::Weighted::standardize_on", [&](auto chunk, int) {
      raw_components(gan, chunk);
      for (std::size_t i = 0; i < N; ++i)
        for (int n = 0; n < chunk.batch; ++n) sum[i] += parts_[i][std::size_t(n)], sum2[i] += parts_[i][std::size_t(n)] * parts_[i][std::size_t(n)];
      rows += std::size_t(chunk.batch);
    });
    for (std::size_t i = 0; i < N; ++i) {
      mean_[i] = sum[i] / double(rows);
      sd_[i] = std::sqrt(std::max(sum2[i] / double(rows) - mean_[i] * mean_[i], 1e-24));
    }
    standardized_ = true;
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    detail::require_fitted(standardized_, "score::Weighted");
    raw_components(gan, x);
    for (int n = 0; n < x.batch; ++n) {
      double s = 0;
      for (std::size_t i = 0; i < N; ++i) s += weights_[i] * (parts_[i][std::size_t(n)] - mean_[i]) / sd_[i];
      out[std::size_t(n)] = typename Gan::T(s);
    }
  }

  /// Chooses weights on a grid over the simplex (step 1/steps) maximising AUROC on labelled
  /// validation data (labels 1 = anomaly); returns that AUROC.
  template <class Gan>
  double fit_weights(Gan& gan, const Samples<typename Gan::T>& x, const metrics::Labels& labels, int steps = 10) {
    detail::require_fitted(fitted(), "score::Weighted::fit_weights");
    if (steps < 1) throw ValueError("score::Weighted::fit_weights: steps must be at least 1");
    const auto src = x.template as<typename Gan::image_shape>("score::Weighted::fit_weights");
    if (std::size_t(src.rows) != labels.values().size())
      throw ShapeError("score::Weighted::fit_weights: " + std::to_string(src.rows) + " samples but " +
                       std::to_string(labels.values().size()) + " labels");
    std::array<std::vector<double>, N> z;
    Batch<typename Gan::T, typename Gan::image_shape> staging;
    detail::scan_in_chunks(src, staging, "score::Weighted::fit_weights", [&](auto chunk, int) {
      raw_components(gan, chunk);
      for (std::size_t i = 0; i < N; ++i)
        for (int n = 0; n < chunk.batch; ++n) z[i].push_back((parts_[i][std::size_t(n)] - mean_[i]) / sd_[i]);
    });
    double best = -1;
    std::array<double, N> w{}, best_w = weights_;
    std::vector<double> s(std::size_t(src.rows));
    auto search = [&](auto&& self, std::size_t i, int left) -> void {
      if (i + 1 == N) {
        w[i] = double(left) / steps;
        for (std::size_t n = 0; n < s.size(); ++n) {
          s[n] = 0;
          for (std::size_t k = 0; k < N; ++k) s[n] += w[k] * z[k][n];
        }
        const double a = metrics::auroc(s, labels);
        if (a > best) best = a, best_w = w;
        return;
      }
      for (int k = 0; k <= left; ++k) {
        w[i] = double(k) / steps;
        self(self, i + 1, left - k);
      }
    };
    search(search, 0, steps);
    weights_ = best_w;
    return best;
  }

  [[nodiscard]] std::string describe() const {
    std::string s = "score::Weighted<";
    std::apply([&](const auto&... c) { ((s += c.describe() + ";"), ...); }, scorers_);
    return s + ">";
  }
  void save_state(ByteWriter& w) const {
    std::apply([&](const auto&... c) { (c.save_state(w), ...); }, scorers_);
    for (std::size_t i = 0; i < N; ++i) {
      w.put_float(weights_[i]);
      w.put_float(mean_[i]);
      w.put_float(sd_[i]);
    }
    w.put(std::uint8_t(standardized_));
  }
  void load_state(ByteReader& r) {
    std::apply([&](auto&... c) { (c.load_state(r), ...); }, scorers_);
    for (std::size_t i = 0; i < N; ++i) {
      weights_[i] = r.get_float<double>();
      mean_[i] = r.get_float<double>();
      sd_[i] = r.get_float<double>();
    }
    standardized_ = r.get<std::uint8_t>() != 0;
  }

 private:
  template <class S, class Gan>
  static void fit_one(S& s, Gan& gan, const Samples<typename Gan::T>& normal) {
    if constexpr (FittableScorer<S, Gan>) s.fit(gan, normal);
  }
  /// Every component's raw scores of one chunk into parts_ (grown, never shrunk).
  template <class Gan>
  void raw_components(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x) {
    using T = typename Gan::T;
    const std::size_t n = std::size_t(x.batch);
    auto& buffer = std::get<std::vector<T>>(buffers_);
    if (buffer.size() < n) buffer.resize(n);
    const std::span<T> out(buffer.data(), n);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((std::get<I>(scorers_).score(gan, x, out), parts_[I].resize(std::max(parts_[I].size(), n)),
        std::copy(out.begin(), out.end(), parts_[I].begin())),
       ...);
    }(std::make_index_sequence<N>{});
  }

  std::tuple<Scorers...> scorers_;
  std::array<double, N> weights_{}, mean_{}, sd_{};
  bool standardized_ = false;
  std::array<std::vector<double>, N> parts_;
  std::tuple<std::vector<float>, std::vector<double>> buffers_;  // one component's scores, in the GAN's scalar type
};

}  // namespace ganad::score
