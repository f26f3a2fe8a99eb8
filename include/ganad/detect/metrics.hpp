/// Detection metrics from scores (higher = more anomalous) and labels (1 = anomaly):
/// AUROC with ties as the Mann-Whitney statistic counts them, average precision (AUPRC),
/// the ROC curve, TPR at a given FPR, and precision/recall/F1 at a threshold. They take
/// any sequence of scores (ScoreVector, std::vector, span) and depend on nothing GAN-specific.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "ganad/core/error.hpp"

namespace ganad::metrics {

/// Scores as the metrics read them: from float or double ScoreVector, std::vector or span.
class Scores {
 public:
  Scores(std::span<const float> s) : values_(s.begin(), s.end()) {}
  Scores(std::span<const double> s) : values_(s.begin(), s.end()) {}
  Scores(const std::vector<float>& s) : Scores(std::span<const float>(s)) {}
  Scores(const std::vector<double>& s) : Scores(std::span<const double>(s)) {}
  template <class Derived>
    requires(Derived::IsVectorAtCompileTime != 0)
  Scores(const Eigen::MatrixBase<Derived>& s) : values_(std::size_t(s.size())) {
    for (Eigen::Index i = 0; i < s.size(); ++i) values_[std::size_t(i)] = double(s(i));
  }
  [[nodiscard]] std::span<const double> values() const { return values_; }

 private:
  std::vector<double> values_;
};

/// Labels as the metrics read them (0 = normal, 1 = anomaly): std::vector, span or VectorXi.
class Labels {
 public:
  Labels(std::span<const int> y) : values_(y.begin(), y.end()) {}
  Labels(const std::vector<int>& y) : Labels(std::span<const int>(y)) {}
  Labels(const Eigen::VectorXi& y) : values_(y.data(), y.data() + y.size()) {}
  [[nodiscard]] std::span<const int> values() const { return values_; }

 private:
  std::vector<int> values_;
};

/// Counts at one threshold: predicted anomalous when score > threshold.
struct Confusion {
  std::size_t tp = 0, fp = 0, tn = 0, fn = 0;
  [[nodiscard]] double precision() const { return tp + fp ? double(tp) / double(tp + fp) : 0.0; }
  [[nodiscard]] double recall() const { return tp + fn ? double(tp) / double(tp + fn) : 0.0; }
  [[nodiscard]] double false_positive_rate() const { return fp + tn ? double(fp) / double(fp + tn) : 0.0; }
  [[nodiscard]] double f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
};

/// One ROC point: FPR and TPR when flagging scores >= threshold.
struct RocPoint {
  double threshold, fpr, tpr;
};

namespace detail {
inline void check(std::span<const double> scores, std::span<const int> labels, const char* who, bool need_both = true) {
  if (scores.size() != labels.size())
    throw ValueError(std::string(who) + ": " + std::to_string(scores.size()) + " scores but " +
                     std::to_string(labels.size()) + " labels");
  if (scores.empty()) throw ValueError(std::string(who) + ": no scores");
  for (std::size_t i = 0; i < scores.size(); ++i)  // NaN has no order: sorting and tie runs would be meaningless
    if (std::isnan(scores[i])) throw ValueError(std::string(who) + ": score " + std::to_string(i) + " is NaN");
  std::size_t pos = 0;
  for (int l : labels) {
    if (l != 0 && l != 1) throw ValueError(std::string(who) + ": labels must be 0 (normal) or 1 (anomaly)");
    pos += std::size_t(l);
  }
  if (need_both && (pos == 0 || pos == labels.size()))
    throw ValueError(std::string(who) + ": needs both classes; all " + std::to_string(labels.size()) + " labels are " +
                     (pos == 0 ? "0 (normal)" : "1 (anomaly)"));
}
/// Indices sorted by descending score.
inline std::vector<std::size_t> by_score_desc(std::span<const double> scores) {
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return idx;
}
/// Walks the scores from the highest down, one run of tied scores at a time, calling
/// f(score, tp, fp) after each run with the anomalies and normals seen so far.
template <class F>
void walk_descending(std::span<const double> scores, std::span<const int> labels, F&& f) {
  const auto idx = by_score_desc(scores);
  std::size_t tp = 0, fp = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    for (; j < idx.size() && scores[idx[j]] == scores[idx[i]]; ++j) (labels[idx[j]] ? tp : fp) += 1;
    f(scores[idx[i]], tp, fp);
    i = j;
  }
}
inline std::size_t positives(std::span<const int> labels) {
  std::size_t pos = 0;
  for (int l : labels) pos += std::size_t(l);
  return pos;
}
}  // namespace detail

/// Area under the ROC curve: P(score of an anomaly > score of a normal) + P(equal) / 2.
inline double auroc(const Scores& scores_in, const Labels& labels_in) {
  const auto scores = scores_in.values();
  const auto labels = labels_in.values();
  detail::check(scores, labels, "auroc");
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;  // of the anomalies, with tied scores sharing their average rank
  std::size_t pos = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = (double(i + 1) + double(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k)
      if (labels[idx[k]]) rank_sum += avg_rank, ++pos;
    i = j;
  }
  const double neg = double(scores.size() - pos);
  return (rank_sum - double(pos) * double(pos + 1) / 2.0) / (double(pos) * neg);
}

/// The ROC curve, one point per distinct score (descending), starting at (0, 0).
inline std::vector<RocPoint> roc_curve(const Scores& scores, const Labels& labels) {
  detail::check(scores.values(), labels.values(), "roc_curve");
  const double P = double(detail::positives(labels.values())), N = double(labels.values().size()) - P;
  std::vector<RocPoint> out{{std::numeric_limits<double>::infinity(), 0.0, 0.0}};
  detail::walk_descending(scores.values(), labels.values(), [&](double score, std::size_t tp, std::size_t fp) {
    out.push_back({score, double(fp) / N, double(tp) / P});
  });
  return out;
}

/// Average precision, as scikit-learn's average_precision_score: sum over distinct
/// thresholds of (R_k - R_{k-1}) P_k.
inline double average_precision(const Scores& scores, const Labels& labels) {
  detail::check(scores.values(), labels.values(), "average_precision");
  const double P = double(detail::positives(labels.values()));
  double ap = 0, prev_recall = 0;
  detail::walk_descending(scores.values(), labels.values(), [&](double, std::size_t tp, std::size_t fp) {
    const double recall = double(tp) / P, precision = double(tp) / double(tp + fp);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
  });
  return ap;
}

/// The highest TPR among ROC points with FPR <= max_fpr.
inline double tpr_at_fpr(const Scores& scores, const Labels& labels, double max_fpr) {
  double best = 0;
  for (const auto& p : roc_curve(scores, labels))
    if (p.fpr <= max_fpr + 1e-12) best = std::max(best, p.tpr);
  return best;
}

/// Confusion counts when flagging score > threshold.
inline Confusion confusion_at(const Scores& scores_in, const Labels& labels_in, double threshold) {
  const auto scores = scores_in.values();
  const auto labels = labels_in.values();
  detail::check(scores, labels, "confusion_at", false);
  Confusion c;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool flagged = scores[i] > threshold;
    if (labels[i]) (flagged ? c.tp : c.fn) += 1;
    else (flagged ? c.fp : c.tn) += 1;
  }
  return c;
}

}  // namespace ganad::metrics
