/// Detector<Gan, Scorer>: turns a scorer's scores into decisions. fit() on normal training
/// data (fits the scorer, keeps the training scores), calibrate() a threshold on normal
/// validation data for a target false-positive rate, then predict() 0/1 per row, as PyOD.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "ganad/core/error.hpp"
#include "ganad/gan/input.hpp"
#include "ganad/gan/scorers.hpp"
#include "ganad/nn/serialize.hpp"

namespace ganad {

/// Threshold calibration on normal validation data: flag at most this share of it.
struct CalibrationOptions {
  double false_positive_rate = 0.05;  ///< used when quantile is not set
  double quantile = -1.0;             ///< if in (0, 1): threshold = this quantile of the scores
};

template <class Gan, class Scorer>
class Detector {
 public:
  using T = typename Gan::T;
  using image_shape = typename Gan::image_shape;

  explicit Detector(Gan& gan, Scorer scorer = {}) : gan_(&gan), scorer_(std::move(scorer)) {}

  [[nodiscard]] Scorer& scorer() { return scorer_; }
  [[nodiscard]] Gan& gan() { return *gan_; }

  /// Fits the scorer on normal training data if it learns anything (FeatureMatching,
  /// Reconstruction, Weighted) and keeps the training scores (decision_scores()).
  void fit(ConstBatchView<T, image_shape> normal) {
    if constexpr (detail::FittableScorer<Scorer, Gan>) scorer_.fit(*gan_, normal);
    decision_scores_ = scores(normal);
  }
  void fit(const RowsRef<T>& normal) { fit(staged(normal, "Detector::fit")); }

  /// Sets the threshold from normal validation scores: the smallest value that flags at most
  /// false_positive_rate of them (or the given quantile). The data may hold no anomalies at
  /// all; it must hold at least 1 / false_positive_rate samples.
  void calibrate(ConstBatchView<T, image_shape> normal_validation, CalibrationOptions options = {}) {
    const bool by_quantile = options.quantile > 0.0 && options.quantile < 1.0;
    const double rate = by_quantile ? 1.0 - options.quantile : options.false_positive_rate;
    if (!(rate > 0.0 && rate < 1.0))
      throw ValueError("Detector::calibrate: the false-positive rate must be in (0, 1), or the quantile in (0, 1)");
    const auto s = scores(normal_validation);
    const double needed = std::ceil(1.0 / rate - 1e-9);
    if (double(s.size()) < needed)
      throw ValueError("Detector::calibrate: " + std::to_string(s.size()) +
                       " validation samples are too few to place a threshold at a false-positive rate of " +
                       std::to_string(rate) + "; at least " + std::to_string(int(needed)) + " are needed");
    validation_.assign(s.data(), s.data() + s.size());
    std::sort(validation_.begin(), validation_.end());
    // At most floor(rate n) validation scores lie strictly above the threshold.
    const std::size_t above = std::size_t(std::floor(rate * double(validation_.size()) + 1e-9));
    threshold_ = double(validation_[validation_.size() - 1 - std::min(above, validation_.size() - 1)]);
    calibrated_ = true;
  }
  void calibrate(const RowsRef<T>& normal_validation, CalibrationOptions options = {}) {
    calibrate(staged(normal_validation, "Detector::calibrate"), options);
  }

  [[nodiscard]] double threshold() const { return threshold_; }
  void set_threshold(double t) {
    threshold_ = t;
    calibrated_ = true;
  }
  /// Scores of the training data given to fit(), as PyOD's decision_scores_.
  [[nodiscard]] const ScoreVector<T>& decision_scores() const { return decision_scores_; }

  /// One score per row (higher = more anomalous).
  ScoreVector<T> scores(ConstBatchView<T, image_shape> x) {
    ScoreVector<T> out(x.batch);
    detail::scan_in_chunks(detail::rows_of(x), staging_, "Detector::scores", [&](ConstBatchView<T, image_shape> chunk, int r0) {
      scorer_.score(*gan_, chunk, std::span<T>(out.data() + r0, std::size_t(chunk.batch)));
    });
    return out;
  }
  ScoreVector<T> scores(const RowsRef<T>& x) {
    const auto src = detail::rows_of<T, image_shape>(x, "Detector::scores");
    ScoreVector<T> out(src.rows);
    detail::scan_in_chunks(src, staging_, "Detector::scores", [&](ConstBatchView<T, image_shape> chunk, int r0) {
      scorer_.score(*gan_, chunk, std::span<T>(out.data() + r0, std::size_t(chunk.batch)));
    });
    return out;
  }

  /// score - threshold: positive means flagged.
  template <class X>
  ScoreVector<T> decision_function(const X& x) {
    require_threshold("decision_function");
    return (scores(x).array() - T(threshold_)).matrix();
  }
  /// 1 where score > threshold (an anomaly), else 0.
  template <class X>
  Eigen::VectorXi predict(const X& x) {
    require_threshold("predict");
    const auto s = scores(x);
    return (s.array() > T(threshold_)).template cast<int>().matrix();
  }
  /// Scores mapped to [0, 1] by the normal validation data's distribution (the share of it
  /// scoring lower, ties counted half). A rank, not a calibrated probability of anomaly.
  template <class X>
  Eigen::VectorXd scaled_scores(const X& x) {
    if (validation_.empty()) throw Error("Detector::scaled_scores: calibrate() on normal validation data first");
    const auto s = scores(x);
    Eigen::VectorXd out(s.size());
    for (Eigen::Index i = 0; i < s.size(); ++i) {
      const auto lo = std::lower_bound(validation_.begin(), validation_.end(), s[i]);
      const auto hi = std::upper_bound(validation_.begin(), validation_.end(), s[i]);
      out[i] = (double(lo - validation_.begin()) + 0.5 * double(hi - lo)) / double(validation_.size());
    }
    return out;
  }

 private:
  void require_threshold(const char* who) const {
    if (!calibrated_) throw Error(std::string("Detector::") + who + ": call calibrate() or set_threshold() first");
  }
  ConstBatchView<T, image_shape> staged(const RowsRef<T>& x, const char* who) {
    const auto src = detail::rows_of<T, image_shape>(x, who);
    whole_.resize(src.rows);
    for (int r = 0; r < src.rows; ++r)
      kernels::copy(image_shape::size, src.data + std::ptrdiff_t(r) * src.stride, whole_.data() + std::size_t(r) * image_shape::size);
    return whole_.view();
  }

  Gan* gan_;
  Scorer scorer_;
  ScoreVector<T> decision_scores_;
  std::vector<T> validation_;
  double threshold_ = 0.0;
  bool calibrated_ = false;
  Batch<T, image_shape> staging_, whole_;
};

/// Several saveable objects in one model file, e.g. save(bundle(gan, reconstruction), path).
template <class... Parts>
struct Bundle {
  std::tuple<Parts&...> parts;
  using scalar_type = typename std::remove_cvref_t<std::tuple_element_t<0, std::tuple<Parts...>>>::scalar_type;
  [[nodiscard]] std::string describe() const {
    std::string s;
    std::apply([&](const auto&... p) { ((s += (s.empty() ? "" : " + ") + p.describe()), ...); }, parts);
    return s;
  }
  void save_state(ByteWriter& w) const {
    std::apply([&](const auto&... p) { (p.save_state(w), ...); }, parts);
  }
  void load_state(ByteReader& r) {
    std::apply([&](auto&... p) { (p.load_state(r), ...); }, parts);
  }
};
template <class... Parts>
Bundle<Parts...> bundle(Parts&... parts) {
  return {std::tie(parts...)};
}
/// load(bundle(gan, scorer), path): the bundle is a temporary of references.
template <class... Parts>
void load(Bundle<Parts...>&& b, const std::string& path) {
  load(b, path);
}

}  // namespace ganad
