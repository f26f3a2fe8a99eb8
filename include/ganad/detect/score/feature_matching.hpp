/// score::FeatureMatching: diagonal Mahalanobis distance of D's features (eval mode) to their
/// mean over the normal data given to fit(): mean_d (f_d - mu_d)^2 / (var_d + eps).
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ganad/detect/scorer.hpp"

namespace ganad::score {

struct FeatureMatchingOptions {
  double eps = 1e-3;     ///< added to every feature's variance
  bool averaged = true;  ///< features of the averaged D (false: the trained D's last weights)
};

class FeatureMatching {
 public:
  static constexpr std::string_view name() { return "feature_matching"; }
  explicit FeatureMatching(FeatureMatchingOptions options = {}) : options_(options) {
    if (!(options.eps > 0)) throw ValueError("score::FeatureMatching: eps must be positive, not " + std::to_string(options.eps));
  }
  [[nodiscard]] const FeatureMatchingOptions& options() const { return options_; }
  [[nodiscard]] bool fitted() const { return !mean_.empty(); }

  template <class Gan>
  void fit(Gan& gan, const Samples<typename Gan::T>& normal) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    const auto src = normal.template as<typename Gan::image_shape>("score::FeatureMatching::fit");
    std::vector<double> sum(F, 0.0), sum2(F, 0.0);
    auto& d = detail::scoring_discriminator(gan, options_.averaged).net();
    Batch<typename Gan::T, typename Gan::image_shape> staging;
    detail::scan_in_chunks(src, staging, "score::FeatureMatching::fit", [&](auto chunk, int) {
      const auto f = detail::features(d, chunk);
      for (int n = 0; n < chunk.batch; ++n)
        for (std::size_t k = 0; k < F; ++k) {
          const double v = f.data[std::size_t(n) * F + k];
          sum[k] += v;
          sum2[k] += v * v;
        }
    });
    std::vector<double> mean(F), inv_var(F);
    for (std::size_t k = 0; k < F; ++k) {
      mean[k] = sum[k] / src.rows;
      inv_var[k] = 1.0 / (std::max(sum2[k] / src.rows - mean[k] * mean[k], 0.0) + options_.eps);
    }
    mean_ = std::move(mean);
    inv_var_ = std::move(inv_var);
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    detail::require_fitted(fitted(), "score::FeatureMatching");
    if (mean_.size() != F) throw ShapeError("score::FeatureMatching: fitted on another discriminator's features");
    const auto f = detail::features(detail::scoring_discriminator(gan, options_.averaged).net(), x);
    for (int n = 0; n < x.batch; ++n) {
      double s = 0;
      for (std::size_t k = 0; k < F; ++k) {
        const double dv = f.data[std::size_t(n) * F + k] - mean_[k];
        s += dv * dv * inv_var_[k];
      }
      out[std::size_t(n)] = typename Gan::T(s / F);
    }
  }

  [[nodiscard]] std::string describe() const { return "score::FeatureMatching"; }
  void save_state(ByteWriter& w) const {
    w.put_float(options_.eps);
    w.put(std::uint8_t(options_.averaged));
    w.put(std::uint64_t(mean_.size()));
    w.put_floats<double>(mean_);
    w.put_floats<double>(inv_var_);
  }
  void load_state(ByteReader& r) {
    FeatureMatchingOptions o;
    o.eps = r.get_float<double>();
    o.averaged = r.get<std::uint8_t>() != 0;
    const std::size_t n = detail::get_count(r, 2 * sizeof(double), "score::FeatureMatching");
    std::vector<double> mean(n), inv_var(n);
    r.get_floats<double>(mean);
    r.get_floats<double>(inv_var);
    options_ = o;
    mean_ = std::move(mean);
    inv_var_ = std::move(inv_var);
  }

 private:
  FeatureMatchingOptions options_;
  std::vector<double> mean_, inv_var_;
};

}  // namespace ganad::score
