/// AnomalyDiscriminator<Net>: the GAN's discriminator network (one logit per sample) and the
/// seed's anomaly score computed from it, 1 - D(x) = sigmoid(-logit), always in eval mode.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/gan/input.hpp"
#include "ganad/nn/loss.hpp"

namespace ganad {

namespace detail {
template <class Out>
struct assert_one_logit {
  static_assert(std::is_same_v<Out, Flat<1>>,
                "Gan: the discriminator must end in one logit per sample (for example Flatten, Dense<1>); "
                "its output shape is the argument of assert_one_logit named above");
  static constexpr bool value = true;
};

/// Runs `net` in eval mode for the duration of a scope (scores never depend on the batch).
template <class Net>
struct EvalScope {
  Net& net;
  bool was_training;
  explicit EvalScope(Net& n) : net(n), was_training(n.training()) { net.eval(); }
  ~EvalScope() {
    if (was_training) net.train();
  }
};
}  // namespace detail

/// Owns the discriminator network D (logits, no sigmoid) and scores inputs with it.
/// Higher scores are less like the normal training data.
template <class Net>
class AnomalyDiscriminator {
  static_assert(detail::assert_one_logit<typename Net::out_shape>::value);

 public:
  using net_type = Net;
  using scalar_type = typename Net::scalar_type;
  using in_shape = typename Net::in_shape;
  using T = scalar_type;

  explicit AnomalyDiscriminator(const InitOptions& init = {}) : net_(init) {}

  [[nodiscard]] Net& net() { return net_; }
  [[nodiscard]] const Net& net() const { return net_; }

  /// D's logits (eval mode), one per sample. @pre out.size() == x.batch.
  void logits(ConstBatchView<T, in_shape> x, std::span<T> out) { run(detail::rows_of(x), out, Kind::logit); }
  /// 1 - D(x) = sigmoid(-logit), in (0, 1). In float it saturates to 0 or 1 for inputs D is
  /// sure of (many ties); negative_logit ranks the same without ties.
  void anomaly_score(ConstBatchView<T, in_shape> x, std::span<T> out) { run(detail::rows_of(x), out, Kind::score); }
  /// -logit: the same order as anomaly_score, unbounded, no saturation.
  void negative_logit(ConstBatchView<T, in_shape> x, std::span<T> out) { run(detail::rows_of(x), out, Kind::neg_logit); }

  /// Eigen forms: one sample per row (C*H*W columns), one score per row.
  ScoreVector<T> anomaly_score(const RowsRef<T>& x) { return run_rows(x, Kind::score, "anomaly_score"); }
  ScoreVector<T> negative_logit(const RowsRef<T>& x) { return run_rows(x, Kind::neg_logit, "negative_logit"); }
  ScoreVector<T> logits(const RowsRef<T>& x) { return run_rows(x, Kind::logit, "logits"); }
  /// Flat-span form: whole samples one after another.
  std::vector<T> anomaly_score(std::span<const T> x) {
    const auto src = detail::rows_of<T, in_shape>(x, "anomaly_score");
    std::vector<T> out(std::size_t(src.rows));
    run(src, out, Kind::score);
    return out;
  }

 private:
  enum class Kind { logit, score, neg_logit };
  ScoreVector<T> run_rows(const RowsRef<T>& x, Kind kind, const char* who) {
    const auto src = detail::rows_of<T, in_shape>(x, who);
    ScoreVector<T> out(src.rows);
    run(src, std::span<T>(out.data(), std::size_t(src.rows)), kind);
    return out;
  }
  void run(const detail::RowSource<T, in_shape>& src, std::span<T> out, Kind kind) {
    if (out.size() != std::size_t(src.rows))
      throw ShapeError("AnomalyDiscriminator: " + std::to_string(src.rows) + " samples but room for " +
                       std::to_string(out.size()) + " scores");
    detail::EvalScope<Net> eval(net_);
    detail::scan_in_chunks(src, staging_, "anomaly_score", [&](ConstBatchView<T, in_shape> chunk, int r0) {
      const auto logit = net_.forward(chunk);
      for (int i = 0; i < chunk.batch; ++i) {
        const T z = logit.data[i];
        out[std::size_t(r0 + i)] = kind == Kind::logit ? z : kind == Kind::neg_logit ? -z : stable_sigmoid(-z);
      }
    });
  }

  Net net_;
  Batch<T, in_shape> staging_;
};

}  // namespace ganad
