/// Conv2D: 2-D convolution (cross-correlation, as PyTorch and Keras compute it), NCHW,
/// square K x K kernel, stride S, zero padding Pad<P> (PyTorch sizes) or Same (Keras sizes).
#pragma once

#include <string>
#include <string_view>

#include "ganad/core/concepts.hpp"
#include "ganad/core/init.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/layers/conv_common.hpp"

namespace ganad {

/// Conv2D<OutC, K, Stride<S>, Padding> bound to T and In = Shape<C, H, W>.
///   y[n,o,i,j]  = b[o] + sum_{c,u,v} w[o,c,u,v] x[n,c, i*S+u-pt, j*S+v-pl]   (x = 0 outside)
///   dx[n,c,p,q] = sum_{o,u,v,i,j : i*S+u-pt = p, j*S+v-pl = q} w[o,c,u,v] dy[n,o,i,j]
///   dw[o,c,u,v] += sum_{n,i,j} dy[n,o,i,j] x[n,c, i*S+u-pt, j*S+v-pl];  db[o] += sum_{n,i,j} dy[n,o,i,j]
/// pt, pl: padding before (P, or half of what Same needs, rounded down).
/// Shape: Shape<C,H,W> -> Shape<OutC, OH, OW>, OH = (H + 2P - K)/S + 1 for Pad<P>, ceil(H/S) for Same.
/// Params: [w: OutC x C x K x K (torch.nn.Conv2d's layout) | b: OutC].
/// Forward: the lowered product w * im2col(x) + b over the batch (OutC x batch*OH*OW x
/// C*K*K); ConvEngine picks how it is computed (docs/kernels.md), always with the same bits.
template <class T, ShapeType In, int OutC, int K, int S, class Padding>
class Conv2DLayer : public ParamBlock<T, std::size_t(OutC) * In::channels * K * K + OutC> {
  static_assert(OutC > 0 && K > 0, "Conv2D: the number of output channels and the kernel size must be positive");
  using Rows = detail::conv_axis<Padding, In::height, K, S>;
  using Cols = detail::conv_axis<Padding, In::width, K, S>;
  static_assert(Rows::valid && Cols::valid,
                "Conv2D: the kernel must fit the padded input (H + 2P >= K) and Pad<P> needs P < K; "
                "use a smaller kernel, more padding, or Same");

 public:
  using scalar_type = T;
  using in_shape = In;
  using out_shape = Shape<OutC, Rows::out, Cols::out>;
  static constexpr std::size_t weight_count = std::size_t(OutC) * In::channels * K * K;
  static constexpr std::string_view name() { return "Conv2D"; }
  static constexpr kernels::ConvGeometry geometry{In::channels, In::height, In::width, K, S,
                                                  Rows::pad, Cols::pad, Rows::out, Cols::out};

  void initialize(Init scheme, Rng& rng) {
    init_weights<T>(scheme, this->params().first(weight_count), this->params().subspan(weight_count),
                    In::channels * K * K, OutC * K * K, rng);
  }

  /// Which kernels compute this layer at batch `batch` (kernels::ConvPlan), in words.
  [[nodiscard]] std::string plan_summary(int batch) const { return kernels::describe_plan(engine_.plan(), true, batch); }

  void forward(ConstBatchView<T, In> x, BatchView<T, out_shape> y) {
    engine_.lowered_product(x.batch, x.data, w(), kernels::Trans::no, OutC, b(), y.data);
  }

  void backward(ConstBatchView<T, In> x, ConstBatchView<T, out_shape>, ConstBatchView<T, out_shape> dy,
                BatchView<T, In> dx, ParamGrads mode = ParamGrads::accumulate) {
    const bool params = mode == ParamGrads::accumulate;
    if (params) kernels::accumulate_channel_sums<T>(x.batch, OutC, geometry.out_size(), dy.data, this->grads_ + weight_count);
    engine_.weight_gradient_and_raised_product(x.batch, dy.data, OutC, x.data, params ? this->grads_ : nullptr, w(),
                                               kernels::Trans::yes, dx.data);
  }

 private:
  const T* w() const { return this->params_; }
  const T* b() const { return this->params_ + weight_count; }
  kernels::ConvEngine<T> engine_{geometry, OutC};
};

/// 2-D convolution with OutC output channels and a K x K kernel.
template <int OutC, int K, class S = Stride<1>, class Padding = Valid>
struct Conv2D : layer_spec_tag {
  static_assert(detail::is_stride<S>::value, "Conv2D: the third argument must be Stride<S>");
  static_assert(detail::is_padding<Padding>::value, "Conv2D: the fourth argument must be Pad<P>, Valid or Same");
  template <class T, class In>
  using bind = Conv2DLayer<T, In, OutC, K, S::value, Padding>;
};

static_assert(Layer<Conv2DLayer<float, Shape<1, 8, 8>, 4, 3, 1, Pad<1>>>);

}  // namespace ganad
