/// Detection metrics from scores (higher = more anomalous) and labels (1 = anomaly):
/// AUROC with ties as the Mann-Whitney statistic counts them, average precision (AUPRC),
/// the ROC curve, TPR at a given FPR, and precision/recall/F1 at a threshold.
#pragma once

#include <algorithm>
#include <limits>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "ganad/core/error.hpp"

namespace ganad::metrics {

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
template <class S>
void check(std::span<const S> scores, std::span<const int> labels, const char* who, bool need_both = true) {
  if (scores.size() != labels.size())
    throw ValueError(std::string(who) + ": " + std::to_string(scores.size()) + " scores but " +
                     std::to_string(labels.size()) + " labels");
  if (scores.empty()) throw ValueError(std::string(who) + ": no scores");
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
template <class S>
std::vector<std::size_t> by_score_desc(std::span<const S> scores) {
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return idx;
}
}  // namespace detail

/// Area under the ROC curve: P(score of an anomaly > score of a normal) + P(equal) / 2.
template <class S>
double auroc(std::span<const S> scores, std::span<const int> labels) {
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
template <class S>
std::vector<RocPoint> roc_curve(std::span<const S> scores, std::span<const int> labels) {
  detail::check(scores, labels, "roc_curve");
  const auto idx = detail::by_score_desc(scores);
  std::size_t pos = 0;
  for (int l : labels) pos += std::size_t(l);
  const double P = double(pos), N = double(labels.size() - pos);
  std::vector<RocPoint> out{{std::numeric_limits<double>::infinity(), 0.0, 0.0}};
  std::size_t tp = 0, fp = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) {
      (labels[idx[j]] ? tp : fp) += 1;
      ++j;
    }
    out.push_back({double(scores[idx[i]]), double(fp) / N, double(tp) / P});
    i = j;
  }
  return out;
}

/// Average precision, as scikit-learn's average_precision_score: sum over distinct
/// thresholds of (R_k - R_{k-1}) P_k.
template <class S>
double average_precision(std::span<const S> scores, std::span<const int> labels) {
  detail::check(scores, labels, "average_precision");
  const auto idx = detail::by_score_desc(scores);
  std::size_t pos = 0;
  for (int l : labels) pos += std::size_t(l);
  double ap = 0, prev_recall = 0;
  std::size_t tp = 0, seen = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) {
      tp += std::size_t(labels[idx[j]]);
      ++j;
    }
    seen = j;
    const double recall = double(tp) / double(pos), precision = double(tp) / double(seen);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

/// The highest TPR among ROC points with FPR <= max_fpr.
template <class S>
double tpr_at_fpr(std::span<const S> scores, std::span<const int> labels, double max_fpr) {
  double best = 0;
  for (const auto& p : roc_curve(scores, labels))
    if (p.fpr <= max_fpr + 1e-12) best = std::max(best, p.tpr);
  return best;
}

/// Confusion counts when flagging score > threshold.
template <class S>
Confusion confusion_at(std::span<const S> scores, std::span<const int> labels, double threshold) {
  detail::check(scores, labels, "confusion_at", false);
  Confusion c;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool flagged = double(scores[i]) > threshold;
    if (labels[i]) (flagged ? c.tp : c.fn) += 1;
    else (flagged ? c.fp : c.tn) += 1;
  }
  return c;
}

}  // namespace ganad::metrics
