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

/// im2col + GEMM, GEMM + col2im and the weight-gradient GEMM over one ConvGeometry. The
/// batch goes through in chunks of samples whose columns fit in cache (about 2 MiB, and at
/// least 512 GEMM columns so the products stay efficient): the column matrix of a whole
/// batch would be 20-50 MB for the DCGAN's layers, and writing it to memory and reading it
/// back cost as much as the GEMMs. The chunk size depends only on the shapes and the batch,
/// never on the thread count, so the summation order (weight gradients) is fixed.
template <class T>
class ConvEngine {
 public:
  explicit ConvEngine(const kernels::ConvGeometry& g) : g_(g) {}
  [[nodiscard]] const kernels::ConvGeometry& geometry() const { return g_; }

  /// out_cm (m x batch*OH*OW) = op(w) (m x C*K*K) * im2col(image) [+ row_bias].
  void lowered_product(int batch, const T* image, const T* w, kernels::Trans tw, int m, const T* row_bias, T* out_cm) {
    lowered(batch, image, w, tw, m, row_bias, out_cm, nullptr, 0, nullptr);
  }
  /// lowered_product and, from the same im2col columns, dw (m_dw x C*K*K) += a_cm (m_dw x
  /// batch*OH*OW) * im2col(image)^T: ConvTranspose2D's backward needs both of the same image
  /// (its output gradient), and building the columns once saves half the im2col work.
  void lowered_product_and_weight_gradient(int batch, const T* image, const T* w, kernels::Trans tw, int m, T* out_cm,
                                           const T* a_cm, int m_dw, T* dw) {
    lowered(batch, image, w, tw, m, nullptr, out_cm, a_cm, m_dw, dw);
  }

  /// image = col2im(op(w) (C*K*K x m) * in_cm (m x batch*OH*OW)) [+ channel_bias per image channel].
  void raised_product(int batch, const T* w, kernels::Trans tw, int m, const T* in_cm, T* image,
                      const T* channel_bias = nullptr) {
    const int rows = g_.col_rows(), ohw = g_.out_size(), ld = batch * ohw;
    for_each_chunk(batch, [&](int n0, int nb, T* cols) {
      kernels::gemm<T>(tw, kernels::Trans::no, rows, nb * ohw, m, T(1), w, tw == kernels::Trans::no ? m : rows,
                       in_cm + std::size_t(n0) * ohw, ld, T(0), cols, nb * ohw);
      kernels::col2im<T>(g_, nb, cols, image + image_offset(n0), channel_bias);
    });
  }

  /// dw (m x C*K*K) += a_cm (m x batch*OH*OW) * im2col(image)^T, chunk by chunk in order.
  void weight_gradient(int batch, const T* a_cm, int m, const T* image, T* dw) {
    lowered(batch, image, nullptr, kernels::Trans::no, 0, nullptr, nullptr, a_cm, m, dw);
  }

  /// A scratch buffer (slots 0 and 1: the layers' channel-major copies; 2: the engine's
  /// transposed weight gradient) of at least `size` elements.
  T* scratch(int slot, std::size_t size) {
    auto& b = scratch_[slot];
    if (b.size() < size) b.resize(size);
    return b.data();
  }

  /// Samples per chunk for a batch of `batch`.
  [[nodiscard]] int chunk(int batch) const {
    const double sample_bytes = double(g_.col_rows()) * g_.out_size() * sizeof(T);
    const int by_columns = (512 + g_.out_size() - 1) / g_.out_size();
    const int by_bytes = int(double(2 << 20) / sample_bytes);
    return std::clamp(std::max(by_columns, by_bytes), 1, std::max(batch, 1));
  }

 private:
  [[nodiscard]] std::size_t image_offset(int n) const {
    return std::size_t(n) * g_.channels * g_.image_size();
  }
  /// Per chunk: im2col(image), then out_cm = op(w) * cols (if out_cm) and dw += a_cm * cols^T
  /// (if dw). The chunks run in order, so dw's summation order is fixed.
  void lowered(int batch, const T* image, const T* w, kernels::Trans tw, int m, const T* row_bias, T* out_cm,
               const T* a_cm, int m_dw, T* dw) {
    const int k = g_.col_rows(), ohw = g_.out_size(), ld = batch * ohw;
    // The weight gradient is summed transposed, dw^T (C*K*K x m_dw) = cols * a_cm^T, then
    // added to dw once: that way the large operand (cols) is packed by the GEMM's cheap
    // row-panel packer and only the small one (a_cm) needs a transposing pack.
    T* dw_t = dw ? scratch(2, std::size_t(k) * m_dw) : nullptr;
    for_each_chunk(batch, [&](int n0, int nb, T* cols) {
      kernels::im2col<T>(g_, nb, image + image_offset(n0), cols);
      if (out_cm)
        kernels::gemm<T>(tw, kernels::Trans::no, m, nb * ohw, k, T(1), w, tw == kernels::Trans::no ? k : m, cols, nb * ohw,
                         T(0), out_cm + std::size_t(n0) * ohw, ld, {.row_bias = row_bias});
      if (dw)
        kernels::gemm<T>(kernels::Trans::no, kernels::Trans::yes, k, m_dw, nb * ohw, T(1), cols, nb * ohw,
                         a_cm + std::size_t(n0) * ohw, ld, n0 == 0 ? T(0) : T(1), dw_t, m_dw);
    });
    if (dw) kernels::add_transposed<T>(m_dw, k, dw_t, dw);
  }
  template <class F>
  void for_each_chunk(int batch, F&& f) {
    const int c = chunk(batch);
    const std::size_t need = std::size_t(g_.col_rows()) * c * g_.out_size();
    if (cols_.size() < need) cols_.resize(need);
    for (int n0 = 0; n0 < batch; n0 += c) f(n0, std::min(c, batch - n0), cols_.data());
  }

  kernels::ConvGeometry g_;
  aligned_vector<T> cols_;
  aligned_vector<T> scratch_[3];
};

}  // namespace detail
}  // namespace ganad
