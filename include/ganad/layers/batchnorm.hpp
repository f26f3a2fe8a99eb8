/// BatchNorm: per-channel normalisation (per feature for vectors) with a learnable scale
/// and shift, running statistics, and a train/eval mode set by the owning network.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <string_view>

#include "ganad/core/concepts.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/kernels/batchnorm.hpp"
#include "ganad/kernels/eltwise.hpp"

namespace ganad {

/// BatchNorm bound to T and In: channels C = In::channels, statistics over the batch and
/// the H x W positions (m values per channel).
///   train: mean, var = biased batch statistics; y = gamma (x - mean) / sqrt(var + eps) + beta;
///          running_mean += momentum (mean - running_mean),
///          running_var  += momentum (var * m / (m - 1) - running_var)      (as PyTorch)
///   eval:  the same with running_mean, running_var: a sample's output does not depend on its batch.
///   backward (train): dx = gamma inv_std / m (m dy - sum dy - xhat sum dy xhat); eval: dx = gamma inv_std dy;
///   dgamma += sum dy xhat; dbeta += sum dy.
/// Shape: In -> In. Params: [gamma: C | beta: C]. State: [running_mean: C | running_var: C].
template <class T, ShapeType In, double Momentum, double Eps>
class BatchNormLayer : public ParamBlock<T, 2 * std::size_t(In::channels)> {
  static constexpr int C = In::channels;
  static constexpr int spatial = In::height * In::width;

 public:
  using scalar_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t state_count = 2 * std::size_t(C);
  static constexpr std::string_view name() { return "BatchNorm"; }

  BatchNormLayer() {
    std::fill(state_.begin(), state_.begin() + C, T(0));
    std::fill(state_.begin() + C, state_.end(), T(1));
  }

  void initialize(Init scheme, Rng& rng) {
    auto p = this->params();
    for (int c = 0; c < C; ++c) p[c] = scheme == Init::dcgan ? T(rng.normal(1.0, 0.02)) : T(1);
    std::fill(p.begin() + C, p.end(), T(0));
  }
  void set_training(bool on) { training_ = on; }
  [[nodiscard]] bool training() const { return training_; }
  /// Running statistics, saved with the model: [running_mean | running_var].
  [[nodiscard]] std::span<T> state() { return state_; }

  void forward(ConstBatchView<T, In> x, BatchView<T, In> y) {
    const int n = x.batch;
    const T* gamma = this->params_;
    const T* beta = this->params_ + C;
    if (training_) {
      const double m = double(n) * spatial;
      if (m < 2)
        throw ValueError("BatchNorm: training needs more than one value per channel (got a batch of " +
                         std::to_string(n) + " samples of " + std::to_string(spatial) +
                         " positions); use a larger batch or eval()");
      kernels::channel_mean_var<T>(n, C, spatial, x.data, mean_.data(), inv_std_.data());
      for (int c = 0; c < C; ++c) {
        const T var = inv_std_[c];
        running_mean()[c] += T(Momentum) * (mean_[c] - running_mean()[c]);
        running_var()[c] += T(Momentum) * (T(var * m / (m - 1)) - running_var()[c]);
        inv_std_[c] = T(1) / std::sqrt(var + T(Eps));
      }
    } else {
      for (int c = 0; c < C; ++c) {
        mean_[c] = running_mean()[c];
        inv_std_[c] = T(1) / std::sqrt(running_var()[c] + T(Eps));
      }
    }
    for (int c = 0; c < C; ++c) {
      scale_[c] = gamma[c] * inv_std_[c];
      shift_[c] = beta[c] - mean_[c] * scale_[c];
    }
    kernels::channel_affine<T>(n, C, spatial, x.data, scale_.data(), shift_.data(), y.data);
  }

  void backward(ConstBatchView<T, In> x, ConstBatchView<T, In>, ConstBatchView<T, In> dy, BatchView<T, In> dx,
                ParamGrads mode = ParamGrads::accumulate) {
    const int n = x.batch;
    const T* gamma = this->params_;
    kernels::channel_grad_sums<T>(n, C, spatial, x.data, dy.data, mean_.data(), inv_std_.data(), sum_dy_.data(),
                                  sum_dy_xhat_.data());
    if (mode == ParamGrads::accumulate)
      for (int c = 0; c < C; ++c) {
        this->grads_[c] += sum_dy_xhat_[c];
        this->grads_[C + c] += sum_dy_[c];
      }
    if (!dx.data) return;
    if (training_)
      kernels::batch_norm_backward_data<T>(n, C, spatial, x.data, dy.data, mean_.data(), inv_std_.data(), gamma,
                                           sum_dy_.data(), sum_dy_xhat_.data(), dx.data);
    else
      kernels::channel_affine<T>(n, C, spatial, dy.data, scale_.data(), zeros_.data(), dx.data);
  }

 private:
  T* running_mean() { return state_.data(); }
  T* running_var() { return state_.data() + C; }

  bool training_ = true;
  std::array<T, 2 * C> state_{};
  // Of the last forward, for backward: mean and 1/sqrt(var + eps) used, and the affine map.
  std::array<T, C> mean_{}, inv_std_{}, scale_{}, shift_{}, sum_dy_{}, sum_dy_xhat_{}, zeros_{};
};

/// Batch normalisation; PyTorch's defaults (momentum 0.1, eps 1e-5).
template <double Momentum = 0.1, double Eps = 1e-5>
struct BatchNorm : layer_spec_tag {
  static_assert(Momentum > 0.0 && Momentum <= 1.0, "BatchNorm: Momentum must be in (0, 1]");
  static_assert(Eps > 0.0, "BatchNorm: Eps must be positive");
  template <class T, class In>
  using bind = BatchNormLayer<T, In, Momentum, Eps>;
};

static_assert(Layer<BatchNormLayer<float, Shape<4, 3, 3>, 0.1, 1e-5>>);

}  // namespace ganad
