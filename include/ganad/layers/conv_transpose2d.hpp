/// ConvTranspose2D: the transposed (fractionally strided) convolution, the adjoint of
/// Conv2D with the same geometry. It upsamples: Stride<2> doubles H and W.
#pragma once

#include <string>
#include <string_view>

#include "ganad/core/concepts.hpp"
#include "ganad/core/init.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/layers/conv_common.hpp"

namespace ganad {

/// ConvTranspose2D<OutC, K, Stride<S>, Padding> bound to T and In = Shape<C, H, W>.
/// It is the adjoint of a Conv2D from Shape<OutC, OH, OW> to Shape<C, H, W> with weights w:
///   y[n,o,p,q]  = b[o] + sum_{c,u,v,i,j : i*S+u-pt = p, j*S+v-pl = q} w[c,o,u,v] x[n,c,i,j]
///   dx[n,c,i,j] = sum_{o,u,v} w[c,o,u,v] dy[n,o, i*S+u-pt, j*S+v-pl]       (dy = 0 outside)
///   dw[c,o,u,v] += sum_{n,i,j} x[n,c,i,j] dy[n,o, i*S+u-pt, j*S+v-pl];  db[o] += sum_{n,p,q} dy[n,o,p,q]
/// Shape: Shape<C,H,W> -> Shape<OutC, OH, OW>, OH = (H - 1)*S - 2P + K for Pad<P>, H*S for Same.
/// Params: [w: C x OutC x K x K (torch.nn.ConvTranspose2d's layout) | b: OutC].
/// Forward is Conv2D's data gradient (the raised product); its data gradient is Conv2D's
/// forward (the lowered product): the same kernels::ConvEngine, the other way round.
template <class T, ShapeType In, int OutC, int K, int S, class Padding>
class ConvTranspose2DLayer : public ParamBlock<T, std::size_t(In::channels) * OutC * K * K + OutC> {
  static_assert(OutC > 0 && K > 0, "ConvTranspose2D: the number of output channels and the kernel size must be positive");
  using Rows = detail::conv_transpose_axis<Padding, In::height, K, S>;
  using Cols = detail::conv_transpose_axis<Padding, In::width, K, S>;
  static_assert(Rows::valid && Cols::valid,
                "ConvTranspose2D: Pad<P> needs P < K and a positive output size (H - 1)*S - 2P + K; "
                "use less padding or Same");

 public:
  using scalar_type = T;
  using in_shape = In;
  using out_shape = Shape<OutC, Rows::out, Cols::out>;
  static constexpr std::size_t weight_count = std::size_t(In::channels) * OutC * K * K;
  static constexpr std::string_view name() { return "ConvTranspose2D"; }
  /// The geometry of the adjoint Conv2D: image = this layer's output, columns = its input.
  static constexpr kernels::ConvGeometry geometry{OutC, Rows::out, Cols::out, K, S,
                                                  Rows::pad, Cols::pad, In::height, In::width};

  void initialize(Init scheme, Rng& rng) {
    // fan_in as PyTorch computes it for ConvTranspose2d (from weight.size(1) = OutC).
    init_weights<T>(scheme, this->params().first(weight_count), this->params().subspan(weight_count),
                    OutC * K * K, In::channels * K * K, rng);
  }

  /// Which kernels compute this layer at batch `batch` (kernels::ConvPlan), in words.
  [[nodiscard]] std::string plan_summary(int batch) const { return kernels::describe_plan(engine_.plan(), false, batch); }

  void forward(ConstBatchView<T, In> x, BatchView<T, out_shape> y) {
    engine_.raised_product(x.batch, w(), kernels::Trans::yes, In::channels, x.data, y.data, b());
  }

  void backward(ConstBatchView<T, In> x, ConstBatchView<T, out_shape>, ConstBatchView<T, out_shape> dy,
                BatchView<T, In> dx, ParamGrads mode = ParamGrads::accumulate) {
    const bool params = mode == ParamGrads::accumulate;
    if (params) kernels::accumulate_channel_sums<T>(x.batch, OutC, geometry.image_size(), dy.data, this->grads_ + weight_count);
    // One im2col of dy serves the data and the weight gradient.
    engine_.lowered_product_and_weight_gradient(x.batch, dy.data, w(), kernels::Trans::no, In::channels, dx.data, x.data,
                                                In::channels, params ? this->grads_ : nullptr);
  }

 private:
  const T* w() const { return this->params_; }
  const T* b() const { return this->params_ + weight_count; }
  kernels::ConvEngine<T> engine_{geometry, In::channels};
};

/// Transposed convolution with OutC output channels and a K x K kernel.
template <int OutC, int K, class S = Stride<1>, class Padding = Valid>
struct ConvTranspose2D : layer_spec_tag {
  static_assert(detail::is_stride<S>::value, "ConvTranspose2D: the third argument must be Stride<S>");
  static_assert(detail::is_padding<Padding>::value,
                "ConvTranspose2D: the fourth argument must be Pad<P>, Valid or Same");
  template <class T, class In>
  using bind = ConvTranspose2DLayer<T, In, OutC, K, S::value, Padding>;
};

static_assert(Layer<ConvTranspose2DLayer<float, Shape<4, 5, 5>, 2, 3, 2, Same>>);

}  // namespace ganad
