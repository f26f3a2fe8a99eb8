/// What Conv2D and ConvTranspose2D share: the padding and stride specs, the compile-time
/// output-size rules, and ConvEngine, the three operations both layers are made of (one
/// is the other's adjoint, so each layer's forward is the other's data gradient).
#pragma once

#include <algorithm>
#include <cstddef>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/conv.hpp"
#include "ganad/kernels/gemm.hpp"

namespace ganad {

/// Stride of a convolution: Stride<2> halves (Conv2D) or doubles (ConvTranspose2D) H and W.
template <int S>
struct Stride {
  static_assert(S > 0, "Stride<S>: the stride must be positive");
  static constexpr int value = S;
};
/// Symmetric zero padding of P rows and columns, with PyTorch's output sizes:
/// Conv2D (H + 2P - K) / S + 1 (floor); ConvTranspose2D (H - 1) * S - 2P + K.
template <int P>
struct Pad {
  static_assert(P >= 0, "Pad<P>: the padding must be zero or positive");
  static constexpr int value = P;
};
/// Keras/TF 'same': Conv2D output ceil(H / S), ConvTranspose2D output H * S; the padding
/// that needs is split with the extra row/column at the bottom/right, as TF does.
struct Same {};
/// No padding: Pad<0>.
using Valid = Pad<0>;

namespace detail {

template <class P>
struct is_padding : std::false_type {};
template <int P>
struct is_padding<Pad<P>> : std::true_type {};
template <>
struct is_padding<Same> : std::true_type {};
template <class S>
struct is_stride : std::false_type {};
template <int S>
struct is_stride<Stride<S>> : std::true_type {};

/// A convolution from an image of extent H (one axis) to columns: their count and the
/// padding before the first row.
template <class Padding, int H, int K, int S>
struct conv_axis;
template <int P, int H, int K, int S>
struct conv_axis<Pad<P>, H, K, S> {
  static constexpr int out = (H + 2 * P - K) / S + 1;
  static constexpr int pad = P;
  static constexpr bool valid = H + 2 * P >= K && P < K;
};
template <int H, int K, int S>
struct conv_axis<Same, H, K, S> {
  static constexpr int out = (H + S - 1) / S;
  static constexpr int pad = std::max((out - 1) * S + K - H, 0) / 2;
  static constexpr bool valid = true;
};

/// The transposed direction: columns of extent H to an image; its extent and padding.
template <class Padding, int H, int K, int S>
struct conv_transpose_axis;
template <int P, int H, int K, int S>
struct conv_transpose_axis<Pad<P>, H, K, S> {
  static constexpr int out = (H - 1) * S - 2 * P + K;
  static constexpr int pad = P;
  static constexpr bool valid = out > 0 && P < K;
};
template <int H, int K, int S>
struct conv_transpose_axis<Same, H, K, S> {
  static constexpr int out = H * S;
  static constexpr int pad = std::max(K - S, 0) / 2;
  static constexpr bool valid = true;
};

/// im2col + GEMM, GEMM + col2im and the weight-gradient GEMM over one ConvGeometry, with
/// the work buffers they need (grown once, reused). The lowered columns of an image are kept
/// until the next raise, so Conv2D's weight gradient reuses what its forward lowered and
/// ConvTranspose2D's weight gradient what its data gradient lowered.
template <class T>
class ConvEngine {
 public:
  explicit ConvEngine(const kernels::ConvGeometry& g) : g_(g) {}
  [[nodiscard]] const kernels::ConvGeometry& geometry() const { return g_; }

  /// out_cm (m x batch*OH*OW) = op(w) (m x C*K*K) * im2col(image) [+ row_bias].
  void lowered_product(int batch, const T* image, const T* w, kernels::Trans tw, int m,
                       const T* row_bias, T* out_cm) {
    lower(batch, image, /*reuse=*/false);  // the same buffer holds new data on every step
    const int k = g_.col_rows(), n = batch * g_.out_size();
    kernels::gemm<T>(tw, kernels::Trans::no, m, n, k, T(1), w, tw == kernels::Trans::no ? k : m,
                     cols_.data(), n, T(0), out_cm, n, {.row_bias = row_bias});
  }

  /// image = col2im(op(w) (C*K*K x m) * in_cm (m x batch*OH*OW)).
  void raised_product(int batch, const T* w, kernels::Trans tw, int m, const T* in_cm, T* image) {
    const int rows = g_.col_rows(), n = batch * g_.out_size();
    reserve_cols(batch);
    lowered_image_ = nullptr;  // cols_ now holds a product, not a lowering
    kernels::gemm<T>(tw, kernels::Trans::no, rows, n, m, T(1), w, tw == kernels::Trans::no ? m : rows,
                     in_cm, n, T(0), cols_.data(), n);
    kernels::col2im<T>(g_, batch, cols_.data(), image);
  }

  /// dw (m x C*K*K) += a_cm (m x batch*OH*OW) * im2col(image)^T.
  void weight_gradient(int batch, const T* a_cm, int m, const T* image, T* dw) {
    lower(batch, image, /*reuse=*/true);  // image is what the last lowered_product lowered
    const int k = g_.col_rows(), n = batch * g_.out_size();
    kernels::gemm<T>(kernels::Trans::no, kernels::Trans::yes, m, k, n, T(1), a_cm, n, cols_.data(), n,
                     T(1), dw, k);
  }

  /// A channel-major scratch buffer (slot 0 or 1) of at least `size` elements.
  T* scratch(int slot, std::size_t size) {
    auto& b = scratch_[slot];
    if (b.size() < size) b.resize(size);
    return b.data();
  }

 private:
  void reserve_cols(int batch) {
    const std::size_t need = std::size_t(g_.col_rows()) * batch * g_.out_size();
    if (cols_.size() < need) cols_.resize(need);
  }
  void lower(int batch, const T* image, bool reuse) {
    if (reuse && image == lowered_image_ && batch == lowered_batch_) return;
    reserve_cols(batch);
    kernels::im2col<T>(g_, batch, image, cols_.data());
    lowered_image_ = image;
    lowered_batch_ = batch;
  }

  kernels::ConvGeometry g_;
  aligned_vector<T> cols_;
  aligned_vector<T> scratch_[2];
  const T* lowered_image_ = nullptr;
  int lowered_batch_ = -1;
};

}  // namespace detail
}  // namespace ganad
