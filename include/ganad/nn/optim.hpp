/// Optimizers over a network's one contiguous parameter span: Adam (DCGAN's settings by
/// default) and SGD with momentum. Their state (moments, step count) is saved with a model.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include "ganad/core/bytes.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/kernels/eltwise.hpp"

namespace ganad {

/// torch.optim.Adam's settings; the defaults are DCGAN's (lr 2e-4, beta1 0.5).
struct AdamOptions {
  double lr = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

/// Adam, as torch.optim.Adam computes it (bias-corrected moments, eps outside the sqrt).
template <class T>
class Adam {
 public:
  Adam(std::size_t n, AdamOptions options = {}) : options_(options), m_(n, T(0)), v_(n, T(0)) {
    if (!(options.lr > 0) || !(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1) ||
        !(options.eps > 0) || !(options.weight_decay >= 0))
      throw ValueError("Adam: need lr > 0, 0 <= beta1, beta2 < 1, eps > 0 and weight_decay >= 0");
  }
  /// params -= Adam step from grads (same length as the optimizer was made for).
  void step(std::span<T> params, std::span<const T> grads) {
    GANAD_ASSERT(params.size() == m_.size() && grads.size() == m_.size(), "Adam::step: size mismatch");
    ++t_;
    const double bias1 = 1.0 - std::pow(options_.beta1, double(t_));
    const double bias2 = 1.0 - std::pow(options_.beta2, double(t_));
    const kernels::AdamStep<T> s{T(options_.beta1),      T(options_.beta2),
                                 T(1.0 - options_.beta1), T(1.0 - options_.beta2),
                                 T(options_.lr / bias1),  T(1.0 / std::sqrt(bias2)),
                                 T(options_.eps),         T(options_.weight_decay)};
    kernels::adam_update<T>(m_.size(), s, grads.data(), params.data(), m_.data(), v_.data());
  }
  [[nodiscard]] const AdamOptions& options() const { return options_; }
  [[nodiscard]] std::int64_t steps() const { return t_; }
  [[nodiscard]] std::span<const T> first_moment() const { return m_; }
  [[nodiscard]] std::span<const T> second_moment() const { return v_; }

  /// Model-file payload: step count, first and second moments.
  void save_state(ByteWriter& w) const {
    w.put(std::int64_t(t_));
    w.put_floats<T>(first_moment());
    w.put_floats<T>(second_moment());
  }
  void load_state(ByteReader& r) {
    t_ = r.get<std::int64_t>();
    r.get_floats<T>(std::span<T>(m_));
    r.get_floats<T>(std::span<T>(v_));
  }

 private:
  AdamOptions options_;
  aligned_vector<T> m_, v_;
  std::int64_t t_ = 0;
};

/// torch.optim.SGD's settings (momentum, weight decay; no dampening, no Nesterov).
struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 0.0;
};

/// SGD with momentum: v = momentum v + g (+ weight_decay p); p -= lr v.
template <class T>
class Sgd {
 public:
  Sgd(std::size_t n, SgdOptions options = {}) : options_(options), velocity_(n, T(0)) {
    if (!(options.lr > 0) || !(options.momentum >= 0) || !(options.weight_decay >= 0))
      throw ValueError("Sgd: need lr > 0, momentum >= 0 and weight_decay >= 0");
  }
  void step(std::span<T> params, std::span<const T> grads) {
    GANAD_ASSERT(params.size() == velocity_.size() && grads.size() == velocity_.size(), "Sgd::step: size mismatch");
    ++t_;
    kernels::sgd_update<T>(velocity_.size(), T(options_.lr), T(options_.momentum), T(options_.weight_decay),
                           grads.data(), params.data(), velocity_.data());
  }
  [[nodiscard]] std::int64_t steps() const { return t_; }
  [[nodiscard]] std::span<const T> velocity() const { return velocity_; }

 private:
  SgdOptions options_;
  aligned_vector<T> velocity_;
  std::int64_t t_ = 0;
};

}  // namespace ganad
