/// What Conv2D and ConvTranspose2D share: the padding and stride specs, the compile-time
/// output-size rules, and ConvEngine, the three operations both layers are made of (one
/// is the other's adjoint, so each layer's forward is the other's data gradient).
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/conv.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/indirect_lower.hpp"
#include "ganad/kernels/phased_raise.hpp"

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

/// im2col + GEMM, GEMM + col2im and the weight-gradient GEMM over one ConvGeometry. Both
/// sides are NCHW: the image side C x H x W, the column side m x OH x OW per sample.
///
/// The batch goes through in chunks of samples whose columns fit in cache (about 2 MiB, and
/// at least 512 GEMM columns so the products stay efficient): the column matrix of a whole
/// batch would be 20-50 MB for the DCGAN's layers, and writing it to memory and reading it
/// back cost as much as the GEMMs. The chunk size depends only on the shapes and the batch,
/// never on the thread count, so the summation order (weight gradients) is fixed.
///
/// Two ways to meet the column side: when a sample's OH*OW is large and a near multiple of
/// the GEMM's column tile (28 x 28 = 784), one GEMM per sample reads and writes the NCHW
/// tensor in place; otherwise (7 x 7, 14 x 14: a per-sample GEMM would be narrow or waste
/// part of its last tile) the column side is permuted to channel-major [m][batch*OH*OW] so
/// one GEMM covers a whole chunk.
template <class T>
class ConvEngine {
 public:
  explicit ConvEngine(const kernels::ConvGeometry& g) : g_(g), tables_(kernels::conv_tables(g)) {
    constexpr int nr = kernels::gemm_traits<T>::NR;
    const int ohw = g.out_size(), padded = (ohw + nr - 1) / nr * nr;
    // Measured on the DCGAN's layers: per sample, 28 x 28 gained 27% (ConvTranspose 64->1),
    // 14 x 14 lost 10% (ConvTranspose 128->64: 196 columns pad to 224).
    per_sample_ = ohw >= 256 && double(padded - ohw) <= 0.05 * ohw;
    if constexpr (std::is_same_v<T, float>) implicit_ = kernels::ImplicitColumns(g, tables_.phases);
  }
  [[nodiscard]] const kernels::ConvGeometry& geometry() const { return g_; }
  [[nodiscard]] bool per_sample() const { return per_sample_; }

  /// out (batch x m x OH*OW) = op(w) (m x C*K*K) * im2col(image) [+ row_bias].
  void lowered_product(int batch, const T* image, const T* w, kernels::Trans tw, int m, const T* row_bias, T* out) {
    lowered(batch, image, w, tw, m, row_bias, out, nullptr, 0, nullptr);
  }
  /// lowered_product (if out) and, from the same im2col columns, dw (m_dw x C*K*K) += a
  /// (batch x m_dw x OH*OW) * im2col(image)^T (if dw): ConvTranspose2D's backward needs both of
  /// the same image (its output gradient), and building the columns once saves half the
  /// im2col work.
  void lowered_product_and_weight_gradient(int batch, const T* image, const T* w, kernels::Trans tw, int m, T* out,
                                           const T* a, int m_dw, T* dw) {
    lowered(batch, image, w, tw, m, nullptr, out, a, m_dw, dw);
  }

  /// image = col2im(op(w) (C*K*K x m) * in (batch x m x OH*OW)) [+ channel_bias per image channel].
  void raised_product(int batch, const T* w, kernels::Trans tw, int m, const T* in, T* image,
                      const T* channel_bias = nullptr) {
    if (phased(batch, tw, m)) phased_raise(batch, w, m, in, image, channel_bias);
    else raised(batch, w, tw, m, per_sample_ ? in : channel_major(0, batch, m, in), image, channel_bias);
  }
  /// Conv2D's backward: dw += a * im2col(image)^T and image_grad = col2im(op(w) * a), with
  /// one channel-major copy of a serving both (the phased raise reads a as it is).
  void weight_gradient_and_raised_product(int batch, const T* a, int m, const T* image, T* dw, const T* w,
                                          kernels::Trans tw, T* image_grad) {
    const bool phased_grad = image_grad && phased(batch, tw, m);
    const T* a_side = per_sample_ || (phased_grad && !dw) ? a : channel_major(1, batch, m, a);
    if (dw) lowered_side(batch, image, nullptr, kernels::Trans::no, 0, nullptr, nullptr, a_side, m, dw);
    if (phased_grad) phased_raise(batch, w, m, a, image_grad, nullptr);
    else if (image_grad) raised(batch, w, tw, m, a_side, image_grad, nullptr);
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
  T* scratch(int slot, std::size_t size) {
    auto& b = scratch_[slot];
    if (b.size() < size) b.resize(size);
    return b.data();
  }
  /// x (batch x m x OH*OW) permuted to channel-major in scratch slot `slot`.
  const T* channel_major(int slot, int batch, int m, const T* x) {
    T* cm = scratch(slot, std::size_t(batch) * m * g_.out_size());
    kernels::to_channel_major<T>(batch, m, g_.out_size(), x, cm);
    return cm;
  }

  void lowered(int batch, const T* image, const T* w, kernels::Trans tw, int m, const T* row_bias, T* out,
               const T* a, int m_dw, T* dw) {
    if (out && indirect(batch, m)) {
      indirect_lower(batch, image, w, tw, m, row_bias, out);
      out = nullptr;  // the weight gradient, if asked for, as below on its own
    }
    if (!out && !dw) return;
    const T* a_side = dw && !per_sample_ ? channel_major(1, batch, m_dw, a) : a;
    T* out_side = out && !per_sample_ ? scratch(0, std::size_t(batch) * m * g_.out_size()) : out;
    lowered_side(batch, image, w, tw, m, row_bias, out_side, a_side, m_dw, dw);
    if (out && !per_sample_) kernels::from_channel_major<T>(batch, m, g_.out_size(), out_side, out);
  }

  /// Per chunk: im2col(image), then out = op(w) * cols (if out) and dw += a * cols^T (if dw),
  /// out and a in the engine's column-side layout. The chunks (and in per-sample mode the
  /// samples) run in order, so dw's summation order is fixed. The weight gradient is summed
  /// transposed, dw^T (C*K*K x m_dw) = cols * a^T, then added to dw once: that way the large
  /// operand (cols) is packed by the GEMM's cheap row-panel packer and only the small one
  /// needs a transposing pack.
  void lowered_side(int batch, const T* image, const T* w, kernels::Trans tw, int m, const T* row_bias, T* out,
                    const T* a, int m_dw, T* dw) {
    const int k = g_.col_rows(), ohw = g_.out_size(), ld = batch * ohw;
    const int ldw = tw == kernels::Trans::no ? k : m;
    T* dw_t = dw ? scratch(2, std::size_t(k) * m_dw) : nullptr;
    if (out) packed_w_.pack(tw, m, k, w, ldw);
    // Where the phases allow and the columns feed one product, none are stored: its panels
    // are packed straight from the images' phases (ImplicitColumns), as B of out or as A of
    // dw^T. Feeding both (ConvTranspose2D's backward), the columns are gathered once and
    // copied twice: gathering twice measured no faster.
    const bool implicit = !per_sample_ && implicit_.usable() && (out == nullptr) != (dw == nullptr) &&
                          (!out || m > 1) && (!dw || (k > 1 && m_dw > 1));
    for_each_chunk(batch, [&](int n0, int nb, T* cols) {
      if constexpr (std::is_same_v<T, float>) {
        if (implicit) {
          const std::size_t floats = implicit_.phase_floats(nb);
          if (phases_.size() < floats) phases_.resize(floats);
          implicit_.split(tables_.phases, nb, image + image_offset(n0), phases_.data());
          if (out)
            kernels::gemm<T>(packed_w_, implicit_, nb * ohw, T(1), T(0), out + std::size_t(n0) * ohw, ld,
                             {.row_bias = row_bias});
          if (dw)
            kernels::gemm_sourced_a<T>(implicit_.as_a(), kernels::Trans::yes, k, m_dw, nb * ohw, T(1),
                                       a + std::size_t(n0) * ohw, ld, n0 == 0 ? T(0) : T(1), dw_t, m_dw);
          return;
        }
      }
      kernels::im2col<T>(g_, tables_, nb, image + image_offset(n0), cols);
      if (per_sample_) {
        for (int s = 0; s < nb; ++s) {
          const std::size_t n = std::size_t(n0 + s);
          if (out)
            kernels::gemm<T>(packed_w_, kernels::Trans::no, ohw, T(1), cols + std::size_t(s) * ohw, nb * ohw, T(0),
                             out + n * m * ohw, ohw, {.row_bias = row_bias});
          if (dw)
            kernels::gemm<T>(kernels::Trans::no, kernels::Trans::yes, k, m_dw, ohw, T(1), cols + std::size_t(s) * ohw,
                             nb * ohw, a + n * m_dw * ohw, ohw, n == 0 ? T(0) : T(1), dw_t, m_dw);
        }
        return;
      }
      if (out)
        kernels::gemm<T>(packed_w_, kernels::Trans::no, nb * ohw, T(1), cols, nb * ohw, T(0), out + std::size_t(n0) * ohw,
                         ld, {.row_bias = row_bias});
      if (dw)
        kernels::gemm<T>(kernels::Trans::no, kernels::Trans::yes, k, m_dw, nb * ohw, T(1), cols, nb * ohw,
                         a + std::size_t(n0) * ohw, ld, n0 == 0 ? T(0) : T(1), dw_t, m_dw);
    }, /*columns=*/!implicit);
    if (dw) kernels::add_transposed<T>(m_dw, k, dw_t, dw);
  }

  /// Whether the raised product goes through kernels::PhasedRaise (the same bits, no columns,
  /// no products with taps outside the input): float, op(w) = w^T (as both layers call it),
  /// at least 16 image channels (its row tiles span channels), not per sample (28 x 28 images
  /// already run well), and at least 85% of its passes' lanes (one per sample) in use.
  bool phased(int batch, kernels::Trans tw, int m) {
    if constexpr (!std::is_same_v<T, float>) {
      return false;
    } else {
      if (per_sample_ || tw != kernels::Trans::yes || g_.channels < 16 || !fills_passes(batch)) return false;
      if (phased_m_ != m) {  // once per layer: m is the layer's channel count
        phased_ = kernels::PhasedRaise(g_, m);
        phased_m_ = m;
      }
      return phased_.usable();
    }
  }
  /// Whether the lowered product goes through kernels::IndirectLower (the same bits, no
  /// columns, no products with taps in the padding): float, not per sample, and at least 85%
  /// of its passes' lanes (one per sample) in use.
  bool indirect(int batch, int m) {
    if constexpr (!std::is_same_v<T, float>) {
      return false;
    } else {
      if (per_sample_ || !fills_passes(batch)) return false;
      if (indirect_m_ != m) {  // once per layer: m is the layer's channel count
        indirect_ = kernels::IndirectLower(g_, m);
        indirect_m_ = m;
      }
      return indirect_.usable();
    }
  }
  /// Whether a batch uses at least 85% of the lanes of the batch-minor kernels' passes (one
  /// sample per lane of a column tile; PhasedRaise and IndirectLower alike).
  static bool fills_passes(int batch) {
    constexpr int lanes = kernels::gemm_traits<float>::NR;
    const int passes = (batch + lanes - 1) / lanes;
    return batch >= 0.85 * passes * lanes;
  }
  /// lowered_product through indirect_, image and out in NCHW.
  void indirect_lower(int batch, const T* image, const T* w, kernels::Trans tw, int m, const T* row_bias, T* out) {
    if constexpr (std::is_same_v<T, float>) {
      constexpr int lanes = kernels::IndirectLower::samples;
      const int k = g_.col_rows();
      packed_w_.pack(tw, m, k, w, tw == kernels::Trans::no ? k : m);
      for (int n0 = 0; n0 < batch; n0 += lanes)
        indirect_.run(packed_w_, std::min(lanes, batch - n0), image + image_offset(n0),
                      out + std::size_t(n0) * m * g_.out_size(), row_bias);
    }
  }
  /// raised_product through phased_, `in` in NCHW (batch x m x OH*OW).
  void phased_raise(int batch, const T* w, int m, const T* in, T* image, const T* channel_bias) {
    if constexpr (std::is_same_v<T, float>) {
      constexpr int lanes = kernels::PhasedRaise::samples;
      phased_.pack_weights(w, g_.col_rows());
      for (int n0 = 0; n0 < batch; n0 += lanes)
        phased_.run(std::min(lanes, batch - n0), in + std::size_t(n0) * m * g_.out_size(), image + image_offset(n0),
                    channel_bias);
    }
  }

  /// image = col2im(op(w) * in), in in the engine's column-side layout.
  void raised(int batch, const T* w, kernels::Trans tw, int m, const T* in, T* image, const T* channel_bias) {
    const int rows = g_.col_rows(), ohw = g_.out_size(), ld = batch * ohw;
    const int ldw = tw == kernels::Trans::no ? m : rows;
    packed_w_.pack(tw, rows, m, w, ldw);
    for_each_chunk(batch, [&](int n0, int nb, T* cols) {
      if (per_sample_)
        for (int s = 0; s < nb; ++s)
          kernels::gemm<T>(packed_w_, kernels::Trans::no, ohw, T(1), in + std::size_t(n0 + s) * m * ohw, ohw, T(0),
                           cols + std::size_t(s) * ohw, nb * ohw);
      else
        kernels::gemm<T>(packed_w_, kernels::Trans::no, nb * ohw, T(1), in + std::size_t(n0) * ohw, ld, T(0), cols,
                         nb * ohw);
      kernels::col2im<T>(g_, tables_, nb, cols, image + image_offset(n0), channel_bias);
    });
  }

  /// f(n0, nb, cols) per chunk; cols is the chunk's column buffer if `columns`, else not to
  /// be used: ImplicitColumns needs none, so a network that only scores (a discriminator's
  /// forward) never allocates one (3.4 MB for Conv 64->128, 2 MB for Conv 1->64).
  template <class F>
  void for_each_chunk(int batch, F&& f, bool columns = true) {
    const int c = chunk(batch);
    const std::size_t need = columns ? std::size_t(g_.col_rows()) * c * g_.out_size() : 0;
    if (cols_.size() < need) cols_.resize(need);
    for (int n0 = 0; n0 < batch; n0 += c) f(n0, std::min(c, batch - n0), cols_.data());
  }

  kernels::ConvGeometry g_;
  kernels::ConvTables tables_;
  kernels::PackedA<T> packed_w_;  // op(w), packed once per call for all chunks
  kernels::ImplicitColumns implicit_;
  aligned_vector<float> phases_;  // implicit_'s phases of a chunk
  kernels::PhasedRaise phased_;
  int phased_m_ = 0;  // the m phased_ was built for (0: not yet)
  kernels::IndirectLower indirect_;
  int indirect_m_ = 0;  // the m indirect_ was built for (0: not yet)
  bool per_sample_ = false;
  aligned_vector<T> cols_;
  aligned_vector<T> scratch_[3];  // 0: channel-major out/in, 1: channel-major a, 2: dw^T
};

}  // namespace detail
}  // namespace ganad
