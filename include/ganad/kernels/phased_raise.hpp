/// The raised product of a convolution, image = col2im(op(w) * in) + bias, computed one output
/// phase at a time from the input itself: no column matrix, no col2im, and no products for
/// the taps that fall outside the input (14% of ConvTranspose 256->128's). The sums are those
/// of the GEMM + col2im path, in the same order, so the bits are the same. Under
/// Precision::bf16 it sums bf16 pairs of input channels (its own bits).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/avx512.hpp"
#include "ganad/kernels/bf16.hpp"
#include "ganad/kernels/conv_geometry.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/layout.hpp"
#include "ganad/kernels/transpose.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/precision.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

/// Image pixel (S q + py, S r + px) belongs to phase (py, px). It receives tap (kh, kw) only
/// if kh = py + pad_top (mod S) and kw = px + pad_left (mod S), and then from input position
/// (q + dh, r + dw), a shift fixed per tap, when that lies inside the input. So each phase is
/// a plain sum over its own taps of (image channels x m) weights times m x 1 input columns.
///
/// The batch goes through in passes of `samples` samples, one per lane of a GEMM column tile:
/// the input is transposed to [position][channel][sample], which makes the B panel of every
/// (tap, pixel) a contiguous block already in the micro-kernel's layout (nothing is packed),
/// and each pixel's tile sums only its valid taps. The result, [channel][pixel][sample] per
/// phase, is transposed back into the NCHW image.
///
/// Applies to float with m <= the GEMM's k block (so that each tap is one block and the order
/// of summation is col2im's: bias, then the taps in (kh, kw) order) and kernels up to 8 x 8.
class PhasedRaise {
 public:
  using Tr = gemm_traits<float>;
  /// Samples per pass: the lanes of one column tile.
  static constexpr int samples = Tr::NR;
  /// Kernels up to 8 x 8.
  static constexpr int max_taps = 64;

  PhasedRaise() = default;
  /// g: the convolution (image C x H x W, columns OH x OW); m: rows of `in` per sample.
  PhasedRaise(const ConvGeometry& g, int m) : g_(g), m_(m), row_tiles_((g.channels + Tr::MR - 1) / Tr::MR) {
    usable_ = m >= 1 && m <= Tr::KC && g.channels >= 1 && g.kernel * g.kernel <= max_taps;
    if (!usable_) return;
    const int S = g.stride, K = g.kernel;
    tap_phase_.assign(std::size_t(K) * K, -1);
    tap_slot_.assign(std::size_t(K) * K, -1);
    std::size_t a_floats = 0, c_floats = 0;
    for (int py = 0; py < S; ++py)
      for (int px = 0; px < S; ++px) {
        Phase p{py, px, (g.height - py + S - 1) / S, (g.width - px + S - 1) / S, {}, 0, 0, 0};
        if (p.rows <= 0 || p.cols <= 0) continue;
        for (int kh = 0; kh < K; ++kh)
          for (int kw = 0; kw < K; ++kw) {
            const int dh = py + g.pad_top - kh, dw = px + g.pad_left - kw;
            if (dh % S != 0 || dw % S != 0) continue;
            tap_phase_[std::size_t(kh * K + kw)] = int(phases_.size());
            tap_slot_[std::size_t(kh * K + kw)] = int(p.taps.size());
            p.taps.push_back({kh * K + kw, dh / S, dw / S});
          }
        p.a_offset = a_floats;
        p.c_offset = c_floats;
        p.plane_offset = plane_floats_;
        plane_floats_ += std::size_t(p.rows) * p.cols;
        a_floats += p.taps.size() * std::size_t(row_tiles_) * Tr::MR * m;
        c_floats += std::size_t(row_tiles_) * Tr::MR * p.rows * p.cols * samples;
        for (int t = 0; t < p.rows * p.cols; ++t) tiles_.push_back({int(phases_.size()), t});
        phases_.push_back(std::move(p));
      }
    plane_floats_ += 16;
    a_.assign(a_floats, 0.f);
    c_.assign(c_floats, 0.f);
    x_stride_ = batch_minor_stride(m, samples);
    x_.assign(std::size_t(g.out_size()) * x_stride_, 0.f);
    bias_.assign(std::size_t(row_tiles_) * Tr::MR, 0.f);
  }

  [[nodiscard]] bool usable() const { return usable_; }

  /// Packs op(w)[(c, kh, kw)][i] = w[i * ldw + (c * K + kh) * K + kw] (op(w) = w^T, as both
  /// layers store their weights) into each phase's row panels, tap by tap; under
  /// Precision::bf16 also as bf16 pair panels, for run()s in bf16.
  void pack_weights(const float* w, int ldw) {
    const int KK = g_.kernel * g_.kernel, C = g_.channels, MR = Tr::MR;
    parallel_for(m_, double(m_) * C * KK, [&](std::ptrdiff_t i) {
      alignas(64) float scratch[max_taps * Tr::MR];  // [tap][row]
      for (int tile = 0; tile < row_tiles_; ++tile) {
        const int c0 = tile * MR, rows = std::min(MR, C - c0);
        if (rows < MR) std::fill(scratch, scratch + std::size_t(KK) * MR, 0.f);
        transpose_block(w + std::size_t(i) * ldw + std::size_t(c0) * KK, std::size_t(KK), rows, KK, scratch, MR);
        for (int tap = 0; tap < KK; ++tap) {
          if (tap_phase_[std::size_t(tap)] < 0) continue;  // its phase has no pixels (an image smaller than the stride)
          const Phase& p = phases_[std::size_t(tap_phase_[std::size_t(tap)])];
          float* panel = a_.data() + p.a_offset +
                         (std::size_t(tap_slot_[std::size_t(tap)]) * row_tiles_ + tile) * std::size_t(MR) * m_;
          std::copy_n(scratch + std::size_t(tap) * MR, MR, panel + std::size_t(i) * MR);
        }
      }
    });
    if constexpr (has_bf16_tiles) {
      if (product_precision() == Precision::bf16) {
        const std::size_t panels = a_.size() / (std::size_t(MR) * m_), depth = std::size_t(m_ + 1) / 2;
        if (a_pairs_.size() < panels * MR * depth) a_pairs_.resize(panels * MR * depth);
        parallel_for(std::ptrdiff_t(panels), double(a_.size()), [&](std::ptrdiff_t k) {
          detail::to_bf16_pairs_a<Tr::MR>(a_.data() + std::size_t(k) * MR * m_, m_, a_pairs_.data() + std::size_t(k) * MR * depth);
        });
      }
    }
  }

  /// image[n] = col2im(op(w) * in[n]) (+ bias[c] on channel c) for n < nb <= samples, after
  /// pack_weights: in is nb x m x OH*OW and image nb x C x H x W.
  /// Under Precision::bf16, the input and op(w) are rounded to bf16 and summed in pairs of
  /// input channels (an odd m pairs its last with zeros), in fp32; pack_weights must have run
  /// in bf16 too. The same bits on any thread count.
  void run(int nb, const float* in, float* image, const float* bias) {
    const int ohw = g_.out_size(), m = m_, C = g_.channels, MR = Tr::MR;
    if (bias) std::copy_n(bias, C, bias_.data());
    to_batch_minor(nb, m, ohw, in, samples, x_.data(), x_stride_);  // x_[position][channel][sample]
    const bool pairs = has_bf16_tiles && product_precision() == Precision::bf16;
    const std::size_t pair_depth = std::size_t(m + 1) / 2, pair_stride = batch_minor_stride((m + 1) / 2, samples);
    if (pairs) {  // x_ -> [position][channel pair][sample]: each position's B panel as pairs
      if (x_pairs_.size() < std::size_t(ohw) * pair_stride) x_pairs_.resize(std::size_t(ohw) * pair_stride);
      parallel_for(ohw, double(nb) * m * ohw, [&](std::ptrdiff_t pos) {
        detail::to_bf16_pairs_b(x_.data() + std::size_t(pos) * x_stride_, m, x_pairs_.data() + std::size_t(pos) * pair_stride);
      });
    }
    parallel_for(std::ptrdiff_t(tiles_.size()), 2.0 * samples * C * m * double(tiles_.size()), [&](std::ptrdiff_t k) {
      const Phase& p = phases_[std::size_t(tiles_[std::size_t(k)].phase)];
      const int tile = tiles_[std::size_t(k)].tile, q = tile / p.cols, r = tile % p.cols;
      const int ldc = p.rows * p.cols * samples;
      float* c = c_.data() + p.c_offset + std::size_t(tile) * samples;
      int valid = 0;
      for (const Tap& t : p.taps) valid += inside(q + t.dh, r + t.dw);
      if (valid == 0) {  // no tap reaches these pixels: the image is its bias there
        for (int row = 0; row < row_tiles_ * MR; ++row)
          std::fill_n(c + std::size_t(row) * ldc, samples, bias ? bias_[std::size_t(row)] : 0.f);
        return;
      }
      int seen = 0;
      for (std::size_t t = 0; t < p.taps.size(); ++t) {
        const int ih = q + p.taps[t].dh, iw = r + p.taps[t].dw;
        if (!inside(ih, iw)) continue;
        ++seen;
        const std::size_t position = std::size_t(ih * g_.out_width + iw);
        const detail::TileStore<float> st{1.f, 0.f, seen == 1, seen == valid, false, Activation::identity, 0.f, true};
        for (int rt = 0; rt < row_tiles_; ++rt) {
          const std::size_t panel = p.a_offset / (std::size_t(MR) * m) + t * row_tiles_ + rt;  // its index among a_'s panels
          float* ct = c + std::size_t(rt) * MR * ldc;
          const float* rb = bias ? bias_.data() + rt * MR : nullptr;
          if (pairs)
            detail::micro_kernel_bf16<Tr::MR>(m, a_pairs_.data() + panel * MR * pair_depth, x_pairs_.data() + position * pair_stride, ct,
                                              ldc, st, rb, nullptr);
          else
            detail::micro_kernel<float, Tr::MR>(m, a_.data() + panel * MR * m, x_.data() + position * x_stride_, ct, ldc, st, rb, nullptr);
        }
      }
    });
    // c_ -> image, channel by channel: each phase transposed to [sample][pixel], then its pixels
    // put in place (whole rows of two interleaved phases when the stride is 2).
    const int H = g_.height, W = g_.width, S = g_.stride;
    parallel_for(C, double(nb) * C * g_.image_size(), [&](std::ptrdiff_t ch) {
      float* planes = sample_planes(std::size_t(nb) * plane_floats_);
      for (const Phase& p : phases_) {
        const int pixels = p.rows * p.cols;
        if (ch + 1 < C)  // the next channel's block, while this one is transposed (-20% here)
          prefetch_range(c_.data() + p.c_offset + std::size_t(ch + 1) * pixels * samples,
                         sizeof(float) * std::size_t(pixels) * samples);
        transpose_block(c_.data() + p.c_offset + std::size_t(ch) * pixels * samples, samples, pixels, nb,
                        planes + p.plane_offset, plane_floats_);
      }
      for (int n = 0; n < nb; ++n) {
        const float* plane = planes + std::size_t(n) * plane_floats_;
        float* img = image + (std::size_t(n) * C + std::size_t(ch)) * g_.image_size();
        if (has_stride2_rows<float> && S == 2 && phases_.size() == 4) {  // rows of phases (py, 0) and (py, 1)
          for (int ih = 0; ih < H; ++ih) {
            const int py = ih % 2, q = ih / 2;
            const Phase& even = phases_[std::size_t(2 * py)];
            const Phase& odd = phases_[std::size_t(2 * py + 1)];
            interleave_pairs(plane + even.plane_offset + std::size_t(q) * even.cols,
                             plane + odd.plane_offset + std::size_t(q) * odd.cols, img + std::size_t(ih) * W, W);
          }
          continue;
        }
        for (const Phase& p : phases_)
          for (int q = 0; q < p.rows; ++q)
            for (int r = 0; r < p.cols; ++r)
              img[std::size_t(S * q + p.py) * W + S * r + p.px] = plane[p.plane_offset + std::size_t(q) * p.cols + r];
      }
    });
  }

 private:
  struct Tap {
    int tap, dh, dw;  // kh * K + kw; input position = pixel's (q, r) + (dh, dw)
  };
  struct Phase {
    int py, px, rows, cols;  // rows x cols pixels
    std::vector<Tap> taps;   // in (kh, kw) order: col2im's order of summation
    std::size_t a_offset, c_offset;
    std::size_t plane_offset;  // in a sample's [phase pixels] block of the transpose back
  };
  struct Tile {
    int phase, tile;
  };

  [[nodiscard]] bool inside(int ih, int iw) const {
    return ih >= 0 && ih < g_.out_height && iw >= 0 && iw < g_.out_width;
  }
  /// The calling thread's [sample][phase pixels] scratch, grown once and reused.
  static float* sample_planes(std::size_t floats) {
    static thread_local aligned_vector<float> scratch;
    if (scratch.size() < floats) scratch.resize(floats);
    return scratch.data();
  }

  ConvGeometry g_{};
  int m_ = 0, row_tiles_ = 0;
  // Floats per sample in the transpose back: every phase's pixels, then 16 of slack, since
  // interleave_pairs reads whole vectors past a row's end.
  std::size_t plane_floats_ = 0;
  std::size_t x_stride_ = 0;  // floats from one position of x_ to the next
  bool usable_ = false;
  std::vector<Phase> phases_;
  std::vector<Tile> tiles_;
  std::vector<int> tap_phase_, tap_slot_;  // per tap: its phase, and its place among that phase's taps
  aligned_vector<float> a_;     // per phase, tap and row tile: an MR x m panel of op(w)
  aligned_vector<float> c_;     // per phase: [channel][pixel][sample]
  aligned_vector<float> x_;     // the pass's input: [position][channel][sample], positions x_stride_ apart
  aligned_vector<float> bias_;  // padded to whole row tiles
  // bf16 (precision.hpp): a_'s panels and the pass's input as pairs of input channels
  aligned_vector<detail::Bf16Pair> a_pairs_, x_pairs_;
};

}  // namespace ganad::kernels
