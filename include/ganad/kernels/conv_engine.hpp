/// ConvEngine: the three products both convolution layers are made of (the lowered product,
/// the raised product and the weight gradient), over one geometry, through the kernels its
/// ConvPlan chose; chunks of the batch keep the column matrices cache-sized.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/conv_geometry.hpp"
#include "ganad/kernels/conv_plan.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/im2col.hpp"
#include "ganad/kernels/implicit_columns.hpp"
#include "ganad/kernels/indirect_lower.hpp"
#include "ganad/kernels/layout.hpp"
#include "ganad/kernels/phased_raise.hpp"

namespace ganad::kernels {

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
///
/// Which kernel runs for which product is the ConvPlan made at construction (conv_plan.hpp).
template <class T>
class ConvEngine {
 public:
  /// m: the column side's channels (Conv2D's output channels, ConvTranspose2D's input ones).
  ConvEngine(const ConvGeometry& g, int m) : g_(g), tables_(conv_tables(g)) {
    plan_.per_sample = per_sample_gemms<T>(g);
    plan_.m = m;
    plan_.k = g.col_rows();
    if constexpr (std::is_same_v<T, float>) {
      implicit_ = ImplicitColumns(g, tables_.phases);
      plan_.implicit_usable = implicit_.usable();
      if (!plan_.per_sample) {
        indirect_ = IndirectLower(g, m);
        plan_.indirect_usable = indirect_.usable();
        if (g.channels >= conv_traits::phased_min_channels) {
          phased_ = PhasedRaise(g, m);
          plan_.phased_usable = phased_.usable();
        }
      }
    }
  }
  [[nodiscard]] const ConvGeometry& geometry() const { return g_; }
  [[nodiscard]] const ConvPlan& plan() const { return plan_; }

  /// out (batch x m x OH*OW) = op(w) (m x C*K*K) * im2col(image) [+ row_bias].
  void lowered_product(int batch, const T* image, const T* w, Trans tw, int m, const T* row_bias, T* out) {
    lowered(batch, image, w, tw, m, row_bias, out, nullptr, 0, nullptr);
  }
  /// lowered_product (if out) and, from the same im2col columns, dw (m_dw x C*K*K) += a
  /// (batch x m_dw x OH*OW) * im2col(image)^T (if dw): ConvTranspose2D's backward needs both of
  /// the same image (its output gradient), and building the columns once saves half the
  /// im2col work.
  void lowered_product_and_weight_gradient(int batch, const T* image, const T* w, Trans tw, int m, T* out,
                                           const T* a, int m_dw, T* dw) {
    lowered(batch, image, w, tw, m, nullptr, out, a, m_dw, dw);
  }

  /// image = col2im(op(w) (C*K*K x m) * in (batch x m x OH*OW)) [+ channel_bias per image channel].
  void raised_product(int batch, const T* w, Trans tw, int m, const T* in, T* image,
                      const T* channel_bias = nullptr) {
    if (phased(batch, tw, m)) phased_raise(batch, w, m, in, image, channel_bias);
    else raised(batch, w, tw, m, plan_.per_sample ? in : channel_major(0, batch, m, in), image, channel_bias);
  }
  /// Conv2D's backward: dw += a * im2col(image)^T and image_grad = col2im(op(w) * a), with
  /// one channel-major copy of a serving both (the phased raise reads a as it is).
  void weight_gradient_and_raised_product(int batch, const T* a, int m, const T* image, T* dw, const T* w,
                                          Trans tw, T* image_grad) {
    const bool phased_grad = image_grad && phased(batch, tw, m);
    const T* a_side = plan_.per_sample || (phased_grad && !dw) ? a : channel_major(1, batch, m, a);
    if (dw) lowered_side(batch, image, nullptr, Trans::no, 0, nullptr, nullptr, a_side, m, dw);
    if (phased_grad) phased_raise(batch, w, m, a, image_grad, nullptr);
    else if (image_grad) raised(batch, w, tw, m, a_side, image_grad, nullptr);
  }

  /// Samples per chunk for a batch of `batch`.
  [[nodiscard]] int chunk(int batch) const { return ConvPlan::chunk<T>(g_, batch); }

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
    to_channel_major<T>(batch, m, g_.out_size(), x, cm);
    return cm;
  }

  void lowered(int batch, const T* image, const T* w, Trans tw, int m, const T* row_bias, T* out,
               const T* a, int m_dw, T* dw) {
    if (out && indirect(batch, m)) {
      indirect_lower(batch, image, w, tw, m, row_bias, out);
      out = nullptr;  // the weight gradient, if asked for, as below on its own
    }
    if (!out && !dw) return;
    const T* a_side = dw && !plan_.per_sample ? channel_major(1, batch, m_dw, a) : a;
    T* out_side = out && !plan_.per_sample ? scratch(0, std::size_t(batch) * m * g_.out_size()) : out;
    lowered_side(batch, image, w, tw, m, row_bias, out_side, a_side, m_dw, dw);
    if (out && !plan_.per_sample) from_channel_major<T>(batch, m, g_.out_size(), out_side, out);
  }

  /// Per chunk: im2col(image), then out = op(w) * cols (if out) and dw += a * cols^T (if dw),
  /// out and a in the engine's column-side layout. The chunks (and in per-sample mode the
  /// samples) run in order, so dw's summation order is fixed. The weight gradient is summed
  /// transposed, dw^T (C*K*K x m_dw) = cols * a^T, then added to dw once: that way the large
  /// operand (cols) is packed by the GEMM's cheap row-panel packer and only the small one
  /// needs a transposing pack.
  void lowered_side(int batch, const T* image, const T* w, Trans tw, int m, const T* row_bias, T* out,
                    const T* a, int m_dw, T* dw) {
    const int k = g_.col_rows(), ohw = g_.out_size(), ld = batch * ohw;
    const int ldw = tw == Trans::no ? k : m;
    T* dw_t = dw ? scratch(2, std::size_t(k) * m_dw) : nullptr;
    if (out) packed_w_.pack(tw, m, k, w, ldw);
    // Where the phases allow and the columns feed one product, none are stored: its panels
    // are packed straight from the images' phases (ImplicitColumns), as B of out or as A of
    // dw^T. Feeding both (ConvTranspose2D's backward), the columns are gathered once and
    // copied twice: gathering twice measured no faster.
    const bool implicit = (out && !dw && plan_.lowered_gemm(false) == ConvMethod::implicit_gemm) ||
                          (dw && !out && plan_.weight_gradient(m_dw, false) == ConvMethod::implicit_gemm);
    for_each_chunk(batch, [&](int n0, int nb, T* cols) {
      if constexpr (std::is_same_v<T, float>) {
        if (implicit) {
          const std::size_t floats = implicit_.phase_floats(nb);
          if (phases_.size() < floats) phases_.resize(floats);
          implicit_.split(tables_.phases, nb, image + image_offset(n0), phases_.data());
          if (out)
            gemm<T>(packed_w_, implicit_, nb * ohw, T(1), T(0), out + std::size_t(n0) * ohw, ld,
                             {.row_bias = row_bias});
          if (dw)
            gemm_sourced_a<T>(implicit_.as_a(), Trans::yes, k, m_dw, nb * ohw, T(1),
                                       a + std::size_t(n0) * ohw, ld, n0 == 0 ? T(0) : T(1), dw_t, m_dw);
          return;
        }
      }
      im2col<T>(g_, tables_, nb, image + image_offset(n0), cols);
      if (plan_.per_sample) {
        for (int s = 0; s < nb; ++s) {
          const std::size_t n = std::size_t(n0 + s);
          if (out)
            gemm<T>(packed_w_, Trans::no, ohw, T(1), cols + std::size_t(s) * ohw, nb * ohw, T(0),
                             out + n * m * ohw, ohw, {.row_bias = row_bias});
          if (dw)
            gemm<T>(Trans::no, Trans::yes, k, m_dw, ohw, T(1), cols + std::size_t(s) * ohw,
                             nb * ohw, a + n * m_dw * ohw, ohw, n == 0 ? T(0) : T(1), dw_t, m_dw);
        }
        return;
      }
      if (out)
        gemm<T>(packed_w_, Trans::no, nb * ohw, T(1), cols, nb * ohw, T(0), out + std::size_t(n0) * ohw,
                         ld, {.row_bias = row_bias});
      if (dw)
        gemm<T>(Trans::no, Trans::yes, k, m_dw, nb * ohw, T(1), cols, nb * ohw,
                         a + std::size_t(n0) * ohw, ld, n0 == 0 ? T(0) : T(1), dw_t, m_dw);
    }, /*columns=*/!implicit);
    if (dw) add_transposed<T>(m_dw, k, dw_t, dw);
  }

  /// Whether the raised product goes through PhasedRaise (the same bits, no columns, no
  /// products with taps outside the input; in bf16 its own pairs): the plan's choice, for op(w) = w^T (as both
  /// layers call it) and the layer's m.
  bool phased(int batch, Trans tw, int m) const {
    return tw == Trans::yes && m == plan_.m && plan_.raised(batch) == ConvMethod::phase_decomposition;
  }
  /// Whether the lowered product goes through IndirectLower (the same bits, no columns, no
  /// products with taps in the padding; in bf16 its own pairs): the plan's choice, for the layer's m.
  bool indirect(int batch, int m) const {
    return m == plan_.m && plan_.lowered(batch) == ConvMethod::indirect_convolution;
  }
  /// lowered_product through indirect_, image and out in NCHW.
  void indirect_lower(int batch, const T* image, const T* w, Trans tw, int m, const T* row_bias, T* out) {
    if constexpr (std::is_same_v<T, float>) {
      constexpr int lanes = IndirectLower::samples;
      const int k = g_.col_rows();
      packed_w_.pack(tw, m, k, w, tw == Trans::no ? k : m);
      indirect_.prepare_weights(packed_w_);
      for (int n0 = 0; n0 < batch; n0 += lanes)
        indirect_.run(packed_w_, std::min(lanes, batch - n0), image + image_offset(n0),
                      out + std::size_t(n0) * m * g_.out_size(), row_bias);
    }
  }
  /// raised_product through phased_, `in` in NCHW (batch x m x OH*OW).
  void phased_raise(int batch, const T* w, int m, const T* in, T* image, const T* channel_bias) {
    if constexpr (std::is_same_v<T, float>) {
      constexpr int lanes = PhasedRaise::samples;
      phased_.pack_weights(w, g_.col_rows());
      for (int n0 = 0; n0 < batch; n0 += lanes)
        phased_.run(std::min(lanes, batch - n0), in + std::size_t(n0) * m * g_.out_size(), image + image_offset(n0),
                    channel_bias);
    }
  }

  /// image = col2im(op(w) * in), in in the engine's column-side layout.
  void raised(int batch, const T* w, Trans tw, int m, const T* in, T* image, const T* channel_bias) {
    const int rows = g_.col_rows(), ohw = g_.out_size(), ld = batch * ohw;
    const int ldw = tw == Trans::no ? m : rows;
    packed_w_.pack(tw, rows, m, w, ldw);
    for_each_chunk(batch, [&](int n0, int nb, T* cols) {
      if (plan_.per_sample)
        for (int s = 0; s < nb; ++s)
          gemm<T>(packed_w_, Trans::no, ohw, T(1), in + std::size_t(n0 + s) * m * ohw, ohw, T(0),
                           cols + std::size_t(s) * ohw, nb * ohw);
      else
        gemm<T>(packed_w_, Trans::no, nb * ohw, T(1), in + std::size_t(n0) * ohw, ld, T(0), cols,
                         nb * ohw);
      col2im<T>(g_, tables_, nb, cols, image + image_offset(n0), channel_bias);
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

  ConvGeometry g_;
  ConvTables tables_;
  ConvPlan plan_;
  PackedA<T> packed_w_;  // op(w), packed once per call for all chunks
  ImplicitColumns implicit_;
  aligned_vector<float> phases_;  // implicit_'s phases of a chunk
  PhasedRaise phased_;
  IndirectLower indirect_;
  aligned_vector<T> cols_;
  aligned_vector<T> scratch_[3];  // 0: channel-major out/in, 1: channel-major a, 2: dw^T
};

}  // namespace ganad::kernels
