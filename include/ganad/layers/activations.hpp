/// Element-wise activations: ReLU, LeakyReLU<Slope>, Tanh, Sigmoid. Each maps a shape to
/// itself, has no parameters, and computes its derivative from its output.
#pragma once

#include <span>
#include <string_view>

#include "ganad/core/concepts.hpp"
#include "ganad/kernels/eltwise.hpp"

namespace ganad {

/// y = f(x) element-wise;  dx = dy * f'(x), with f' taken from y:
///   ReLU: f'= [y > 0];  LeakyReLU: f' = y > 0 ? 1 : slope;  Tanh: f' = 1 - y^2;
///   Sigmoid: f' = y (1 - y).   Shape: In -> In. No parameters.
template <class T, ShapeType In, kernels::Activation Kind, double Slope = 0.0>
class ActivationLayer : public ParamBlock<T, 0> {
 public:
  using scalar_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::string_view name() {
    switch (Kind) {
      case kernels::Activation::relu: return "ReLU";
      case kernels::Activation::leaky_relu: return "LeakyReLU";
      case kernels::Activation::tanh: return "Tanh";
      case kernels::Activation::sigmoid: return "Sigmoid";
      default: return "Identity";
    }
  }

  void forward(ConstBatchView<T, In> x, BatchView<T, In> y) {
    kernels::activation_forward<T>(Kind, T(Slope), x.size(), x.data, y.data);
  }
  void backward(ConstBatchView<T, In>, ConstBatchView<T, In> y, ConstBatchView<T, In> dy,
                BatchView<T, In> dx, ParamGrads = ParamGrads::accumulate) {
    if (dx.data) kernels::activation_backward<T>(Kind, T(Slope), y.size(), y.data, dy.data, dx.data);
  }
};

/// max(x, 0).
struct ReLU : layer_spec_tag {
  template <class T, class In>
  using bind = ActivationLayer<T, In, kernels::Activation::relu>;
};
/// x > 0 ? x : Slope * x; Slope must be positive (the derivative is read from the output).
template <double Slope = 0.2>
struct LeakyReLU : layer_spec_tag {
  static_assert(Slope > 0.0, "LeakyReLU: Slope must be positive (use ReLU for a zero slope)");
  template <class T, class In>
  using bind = ActivationLayer<T, In, kernels::Activation::leaky_relu, Slope>;
};
/// tanh(x).
struct Tanh : layer_spec_tag {
  template <class T, class In>
  using bind = ActivationLayer<T, In, kernels::Activation::tanh>;
};
/// 1 / (1 + exp(-x)).
struct Sigmoid : layer_spec_tag {
  template <class T, class In>
  using bind = ActivationLayer<T, In, kernels::Activation::sigmoid>;
};

static_assert(Layer<ActivationLayer<float, Shape<2, 3, 3>, kernels::Activation::tanh>>);

}  // namespace ganad
