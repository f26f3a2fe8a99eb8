/// Flatten and Reshape: the same values under another compile-time shape.
#pragma once

#include <string_view>

#include "ganad/core/concepts.hpp"
#include "ganad/kernels/eltwise.hpp"

namespace ganad {

/// y = x, dx = dy, reinterpreted from In to Out (same element count). Shape: In -> Out.
template <class T, ShapeType In, ShapeType Out>
class ReshapeLayer : public ParamBlock<T, 0> {
  static_assert(assert_same_size<In, Out>::value);

 public:
  using scalar_type = T;
  using in_shape = In;
  using out_shape = Out;
  static constexpr std::string_view name() { return Out::is_flat ? "Flatten" : "Reshape"; }

  void forward(ConstBatchView<T, In> x, BatchView<T, Out> y) { kernels::copy(x.size(), x.data, y.data); }
  void backward(ConstBatchView<T, In>, ConstBatchView<T, Out>, ConstBatchView<T, Out> dy,
                BatchView<T, In> dx, ParamGrads = ParamGrads::accumulate) {
    if (dx.data) kernels::copy(dy.size(), dy.data, dx.data);
  }
};

/// Reshape<Shape<C, H, W>>: the input's C*H*W must equal the target's.
template <class Target>
struct Reshape : layer_spec_tag {
  static_assert(is_shape<Target>::value,
                "Reshape: the argument must be a shape, for example Reshape<Shape<256, 7, 7>>");
  template <class T, class In>
  using bind = ReshapeLayer<T, In, Target>;
};

/// Flatten: Shape<C, H, W> -> Flat<C*H*W>.
struct Flatten : layer_spec_tag {
  template <class T, class In>
  using bind = ReshapeLayer<T, In, Flat<int(In::size)>>;
};

static_assert(Layer<ReshapeLayer<float, Shape<2, 3, 3>, Flat<18>>>);

}  // namespace ganad
