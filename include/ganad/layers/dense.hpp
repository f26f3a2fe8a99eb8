/// Dense (fully connected) layer: any input shape, flattened, to N features.
#pragma once

#include <span>
#include <string_view>

#include "ganad/core/concepts.hpp"
#include "ganad/core/init.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/gemm.hpp"

namespace ganad {

/// Dense<N> bound to scalar T and input shape In (flattened to K = In::size features).
///   y[n, o]  = b[o] + sum_i w[i, o] x[n, i]
///   dx[n, i] = sum_o w[i, o] dy[n, o]
///   dw[i, o] += sum_n x[n, i] dy[n, o];   db[o] += sum_n dy[n, o]
/// Shape: In -> Flat<N>. Params: [w: K x N (row i = input i, as Keras' Dense kernel; the
/// transpose of torch.nn.Linear's weight) | b: N]. This layout makes the forward and the
/// weight gradient plain products (no transposed packing), which matters when the batch is
/// small next to the layer, as in the generator's first layer.
template <class T, ShapeType In, int N>
class DenseLayer : public ParamBlock<T, std::size_t(N) * In::size + N> {
  static_assert(N > 0, "Dense: the number of outputs N must be positive");
  using Base = ParamBlock<T, std::size_t(N) * In::size + N>;
  static constexpr int K = int(In::size);

 public:
  using scalar_type = T;
  using in_shape = In;
  using out_shape = Flat<N>;
  static constexpr std::size_t weight_count = std::size_t(N) * K;
  using Base::param_count;
  static constexpr std::string_view name() { return "Dense"; }

  void initialize(Init scheme, Rng& rng) {
    init_weights<T>(scheme, this->params().first(weight_count), this->params().subspan(weight_count),
                    K, N, rng);
  }

  void forward(ConstBatchView<T, In> x, BatchView<T, out_shape> y) {
    kernels::gemm<T>(kernels::Trans::no, kernels::Trans::no, x.batch, N, K, T(1), x.data, K, w(),
                     N, T(0), y.data, N, {.col_bias = b()});
  }

  void backward(ConstBatchView<T, In> x, ConstBatchView<T, out_shape>,
                ConstBatchView<T, out_shape> dy, BatchView<T, In> dx,
                ParamGrads mode = ParamGrads::accumulate) {
    if (mode == ParamGrads::accumulate) {
      kernels::gemm<T>(kernels::Trans::yes, kernels::Trans::no, K, N, x.batch, T(1), x.data, K,
                       dy.data, N, T(1), this->grads_, N);
      kernels::accumulate_column_sums<T>(x.batch, N, dy.data, this->grads_ + weight_count);
    }
    if (dx.data)
      kernels::gemm<T>(kernels::Trans::no, kernels::Trans::yes, x.batch, K, N, T(1), dy.data, N,
                       w(), N, T(0), dx.data, K);
  }

 private:
  const T* w() const { return this->params_; }
  const T* b() const { return this->params_ + weight_count; }
};

/// Fully connected layer with N outputs; flattens whatever comes in.
template <int N>
struct Dense : layer_spec_tag {
  template <class T, class In>
  using bind = DenseLayer<T, In, N>;
};

static_assert(Layer<DenseLayer<float, Shape<2, 3, 3>, 4>>);

}  // namespace ganad
