/// AnomalyDiscriminator<Net>: the GAN's discriminator network (one logit per sample) and the
/// seed's anomaly score computed from it, 1 - D(x) = sigmoid(-logit), always in eval mode.
/// Its scoring methods may be called from several threads: they take turns (docs/service.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <mutex>
#include <span>
#include <string>

#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/core/samples.hpp"
#include "ganad/kernels/precision.hpp"
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

/// A mutex that a copy of its owner does not share: each copy of a network serialises its
/// own callers, and copies run side by side.
struct CallerMutex {
  mutable std::mutex m;
  CallerMutex() = default;
  CallerMutex(const CallerMutex&) {}
  CallerMutex& operator=(const CallerMutex&) { return *this; }
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

/// What a discriminator pass returns per sample.
enum class DiscriminatorOutput {
  anomaly_score,   ///< 1 - D(x) = sigmoid(-logit), in (0, 1)
  negative_logit,  ///< -logit: the same order, unbounded, no ties from float saturation
  logit            ///< D's logit itself (higher = more like the training data)
};

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
  /// Held while anomaly_score, negative_logit or logits run, and by Detector while it scores:
  /// the network keeps its activations inside, so callers of one object take turns. Lock it
  /// to run net() yourself beside them.
  [[nodiscard]] std::mutex& callers_mutex() const { return callers_.m; }

  /// The precision of anomaly_score, negative_logit and logits's products (fp32 by default;
  /// bf16 where the machine has AVX512_BF16, else fp32: kernels::bf16_supported()). Not
  /// saved in model files. score_batch runs in its caller's precision (kernels::PrecisionScope).
  void set_precision(Precision p) { precision_ = p; }
  [[nodiscard]] Precision precision() const { return precision_; }

  /// 1 - D(x) = sigmoid(-logit) per row, in (0, 1). In float it saturates to 0 or 1 for
  /// inputs D is sure of (many ties); negative_logit ranks the same without ties.
  ScoreVector<T> anomaly_score(const Samples<T>& x) {
    return run(x, DiscriminatorOutput::anomaly_score, "AnomalyDiscriminator::anomaly_score");
  }
  /// -logit per row: the same order as anomaly_score, unbounded, no saturation.
  ScoreVector<T> negative_logit(const Samples<T>& x) {
    return run(x, DiscriminatorOutput::negative_logit, "AnomalyDiscriminator::negative_logit");
  }
  /// D's logit per row.
  ScoreVector<T> logits(const Samples<T>& x) { return run(x, DiscriminatorOutput::logit, "AnomalyDiscriminator::logits"); }

  /// The scorer-level form: one checked chunk in, one value per sample into out, in eval
  /// mode, without allocating once this batch size has been seen. @pre out.size() == x.batch.
  void score_batch(ConstBatchView<T, in_shape> x, DiscriminatorOutput what, std::span<T> out) {
    GANAD_ASSERT(out.size() == std::size_t(x.batch), "AnomalyDiscriminator::score_batch: out must hold one value per sample");
    detail::EvalScope<Net> eval(net_);
    const auto logit = net_.forward(x);
    for (int i = 0; i < x.batch; ++i) {
      const T z = logit.data[i];
      out[std::size_t(i)] = what == DiscriminatorOutput::logit ? z : what == DiscriminatorOutput::negative_logit ? -z : stable_sigmoid(-z);
    }
  }

 private:
  ScoreVector<T> run(const Samples<T>& x, DiscriminatorOutput what, const char* who) {
    const std::lock_guard lock(callers_.m);
    const kernels::PrecisionScope precision(precision_);
    return detail::score_rows(x, staging_, who,
                              [&](ConstBatchView<T, in_shape> chunk, std::span<T> out) { score_batch(chunk, what, out); });
  }

  Net net_;
  Batch<T, in_shape> staging_;
  detail::CallerMutex callers_;
  Precision precision_ = Precision::fp32;
};

}  // namespace ganad
