/// Detector<Gan, Scorer>: turns a scorer's scores into decisions, with PyOD's names. fit() the
/// scorer on normal training data, calibrate() a threshold on normal validation data for a
/// target false-positive rate, then decision_function() (raw scores) and predict() (0/1).
/// It owns its scorer and references its GAN; save(detector, path) writes all three. Without a
/// scorer named, it uses score::NearestNeighbours with its defaults (docs/scoring.md).
/// Scoring from several threads is correct: callers of one Detector take turns, and
/// replica() gives each thread its own copy to run side by side (docs/service.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ganad/core/error.hpp"
#include "ganad/core/samples.hpp"
#include "ganad/detect/score/nearest_neighbours.hpp"
#include "ganad/detect/scorer.hpp"

namespace ganad {

/// Where calibrate() puts the threshold: give at most one of the two (default: a 5%
/// false-positive rate on the normal validation data).
struct CalibrationOptions {
  std::optional<double> false_positive_rate = std::nullopt;  ///< in (0, 1): flag at most this share of the normal data
  std::optional<double> quantile = std::nullopt;             ///< in (0, 1): threshold = this quantile of its scores
};

template <class Gan, class ScorerType = score::NearestNeighbours>
  requires Scorer<ScorerType, Gan>
class Detector {
 public:
  using T = typename Gan::T;
  using image_shape = typename Gan::image_shape;
  using scalar_type = T;

  Detector(Gan& gan, ScorerType scorer) : gan_(&gan), scorer_(std::move(scorer)) {}
  explicit Detector(Gan& gan) : Detector(gan, ScorerType()) {}

  [[nodiscard]] ScorerType& scorer() { return scorer_; }
  [[nodiscard]] const ScorerType& scorer() const { return scorer_; }
  [[nodiscard]] Gan& gan() { return *gan_; }

  /// The precision of the networks' products in fit, calibrate and scoring (fp32 by default).
  /// bf16 runs D's (and G's) convolutions and Dense layers in bf16 on machines with
  /// AVX512_BF16 (fp32 elsewhere: kernels::bf16_supported()); a scorer's own arithmetic
  /// (distances, statistics) stays fp32. Set it before fit(). Not saved in model files.
  void set_precision(Precision p) { precision_ = p; }
  [[nodiscard]] Precision precision() const { return precision_; }

  /// A copy to score with on another thread, side by side with this one: its own GAN with
  /// this one's weights (the networks keep their activations inside) and its own scorer
  /// buffers, sharing the scorer's fitted references, with the same threshold. It gives this
  /// Detector's bits. A snapshot: take replicas after training, fit() and calibrate().
  [[nodiscard]] Detector replica() const {
    // A fresh GAN given this one's state: a copy would also take every training buffer
    // with its capacity (350 MB for the MNIST example's GAN after training).
    auto own = std::make_shared<Gan>(gan_->options());
    const auto lock = lock_gan();  // other threads may be scoring: the GAN and the scorer's buffers
    {
      ByteWriter state;
      gan_->save_state(state);
      ByteReader in(state.bytes(), "Detector::replica");
      own->load_state(in);
    }
    Detector r(*own, scorer_);
    r.owned_gan_ = std::move(own);
    r.threshold_ = threshold_;
    r.validation_ = validation_;
    r.precision_ = precision_;
    return r;
  }

  /// Fits the scorer on normal training data, if it learns anything from it (FeatureMatching,
  /// NearestNeighbours, Reconstruction, Weighted); a no-op for score::Discriminator.
  void fit(const Samples<T>& normal) {
    const auto lock = lock_gan();
    const kernels::PrecisionScope precision(precision_);
    if constexpr (FittableScorer<ScorerType, Gan>) scorer_.fit(*gan_, normal);
    else (void)normal.template as<image_shape>("Detector::fit");  // still a shape check
  }
  [[nodiscard]] bool fitted() const { return scorer_.fitted(); }

  /// Sets the threshold from normal validation scores: the smallest value that flags at most
  /// false_positive_rate of them (or the given quantile). The data may hold no anomalies at
  /// all; it must hold at least 1 / false_positive_rate samples.
  void calibrate(const Samples<T>& normal_validation, const CalibrationOptions& options = {}) {
    const double rate = false_positive_rate_of(options);
    const auto s = decision_function(normal_validation);
    const double needed = std::ceil(1.0 / rate - 1e-9);
    if (double(s.size()) < needed)
      throw ValueError("Detector::calibrate: " + std::to_string(s.size()) +
                       " validation samples are too few to place a threshold at a false-positive rate of " + std::to_string(rate) +
                       "; at least " + std::to_string(int(needed)) + " are needed");
    std::vector<T> sorted(s.data(), s.data() + s.size());
    std::sort(sorted.begin(), sorted.end());
    // At most floor(rate n) validation scores lie strictly above the threshold.
    const std::size_t above = std::size_t(std::floor(rate * double(sorted.size()) + 1e-9));
    threshold_ = double(sorted[sorted.size() - 1 - std::min(above, sorted.size() - 1)]);
    validation_ = std::move(sorted);
  }
  [[nodiscard]] bool calibrated() const { return threshold_.has_value(); }

  /// The decision threshold: a score above it is an anomaly. NotFittedError before
  /// calibrate() or set_threshold().
  [[nodiscard]] double threshold() const {
    require_threshold("threshold");
    return *threshold_;
  }
  void set_threshold(double t) {
    if (!std::isfinite(t)) throw ValueError("Detector::set_threshold: the threshold must be finite");
    threshold_ = t;
  }

  /// One anomaly score per row (higher = more anomalous), as PyOD's decision_function.
  ScoreVector<T> decision_function(const Samples<T>& x) {
    const auto lock = lock_gan();
    const kernels::PrecisionScope precision(precision_);
    return detail::score_rows(x, staging_, "Detector::decision_function",
                              [&](ConstBatchView<T, image_shape> chunk, std::span<T> out) { scorer_.score(*gan_, chunk, out); });
  }
  /// 1 where the score is above the threshold (an anomaly), else 0, as PyOD's predict.
  Eigen::VectorXi predict(const Samples<T>& x) {
    require_threshold("predict");
    return decisions(decision_function(x));
  }
  /// predict() for scores already computed by decision_function(): the same 0/1 without
  /// scoring twice.
  Eigen::VectorXi decisions(const ScoreVector<T>& scores) const {
    require_threshold("decisions");
    return (scores.array() > T(*threshold_)).template cast<int>().matrix();
  }
  /// Scores mapped to [0, 1] by the normal validation data's distribution (the share of it
  /// scoring lower, ties counted half). A rank, not a calibrated probability of anomaly.
  /// NotFittedError before calibrate().
  Eigen::VectorXd scaled_scores(const Samples<T>& x) {
    if (validation_.empty()) throw NotFittedError("Detector::scaled_scores: call calibrate() on normal validation data first");
    const auto s = decision_function(x);
    Eigen::VectorXd out(s.size());
    for (Eigen::Index i = 0; i < s.size(); ++i) {
      const auto lo = std::lower_bound(validation_.begin(), validation_.end(), s[i]);
      const auto hi = std::upper_bound(validation_.begin(), validation_.end(), s[i]);
      out[i] = (double(lo - validation_.begin()) + 0.5 * double(hi - lo)) / double(validation_.size());
    }
    return out;
  }

  /// Model file: the GAN, the scorer's state and options, the threshold and the sorted
  /// validation scores; after load(), scores and decisions are bit-identical.
  [[nodiscard]] std::string describe() const { return "Detector | " + gan_->describe() + " | " + scorer_.describe(); }
  void save_state(ByteWriter& w) const {
    gan_->save_state(w);
    scorer_.save_state(w);
    w.put(std::uint8_t(threshold_.has_value()));
    w.put_float(threshold_.value_or(0.0));
    w.put(std::uint64_t(validation_.size()));
    w.put_floats<T>(validation_);
  }
  void load_state(ByteReader& r) {
    gan_->load_state(r);
    scorer_.load_state(r);
    const bool has_threshold = r.get<std::uint8_t>() != 0;
    const double t = r.get_float<double>();
    std::vector<T> validation(detail::get_count(r, sizeof(T), "Detector"));
    r.get_floats<T>(validation);
    threshold_ = has_threshold ? std::optional<double>(t) : std::nullopt;
    validation_ = std::move(validation);
  }

 private:
  static double false_positive_rate_of(const CalibrationOptions& o) {
    if (o.false_positive_rate && o.quantile)
      throw ValueError("Detector::calibrate: give false_positive_rate or quantile, not both");
    const double v = o.quantile ? *o.quantile : o.false_positive_rate.value_or(0.05);
    if (!(v > 0.0 && v < 1.0))
      throw ValueError(std::string("Detector::calibrate: ") + (o.quantile ? "quantile" : "false_positive_rate") + " must be in (0, 1), not " +
                       std::to_string(v));
    return o.quantile ? 1.0 - v : v;
  }
  /// Scorers run G and both discriminators and use this Detector's buffers: one caller at a
  /// time per GAN (the discriminators' mutexes, also held by their own scoring methods).
  std::scoped_lock<std::mutex, std::mutex> lock_gan() const {
    return std::scoped_lock<std::mutex, std::mutex>(gan_->discriminator().callers_mutex(), gan_->averaged_discriminator().callers_mutex());
  }
  void require_threshold(const char* who) const {
    if (!threshold_) throw NotFittedError(std::string("Detector::") + who + ": no threshold yet; call calibrate() or set_threshold() first");
  }

  Gan* gan_;
  std::shared_ptr<Gan> owned_gan_;  // a replica's own GAN
  ScorerType scorer_;
  std::optional<double> threshold_;
  std::vector<T> validation_;  // sorted scores of the calibration data
  Precision precision_ = Precision::fp32;
  Batch<T, image_shape> staging_;
};

}  // namespace ganad
