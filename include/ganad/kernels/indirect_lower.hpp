/// The lowered product of a convolution, out = op(w) * im2col(image) (+ row bias), computed
/// from the image itself: no column matrix, and no products for the taps that fall in the
/// padding (14% of ConvTranspose 256->128's data gradient, 16% of Conv 64->128's forward).
/// The sums are the GEMM's over stored columns, in the same order, so the bits are the same.
/// Under Precision::bf16 it sums bf16 pairs of channels (its own order, its own bits).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
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

/// The batch goes through in passes of `samples` samples, one per lane of a GEMM column tile:
/// the image is transposed to [position][channel][sample], so the column tile of output pixel
/// (oh, ow) meets, for every row (c, kh, kw) of the columns, a contiguous row of `samples`
/// floats at image position (oh S - pad_top + kh, ow S - pad_left + kw), or nothing when that
/// lies in the padding. Each tile's k loop walks a list of those rows (an indirection table,
/// one per kind of border pixel and k block) instead of a packed panel, skipping the padding.
///
/// The order of summation is the GEMM's: the same k blocks of op(w)'s packed panels (PackedA),
/// in each the rows in (c, kh, kw) order, merged into C block after block as gemm() does. A
/// skipped row's product is an exact zero, and adding zero to a sum that starts at +0 changes
/// no bit (a product that underflows to -0 is the one exception, far below any gradient here).
class IndirectLower {
 public:
  using Tr = gemm_traits<float>;
  /// Samples per pass: the lanes of one column tile.
  static constexpr int samples = Tr::NR;
  /// The bf16 pairs' row tile: the fp32 one (12 rows, 24 accumulators, measured 5-10% slower).
  static constexpr int pair_rows = Tr::MR;

  IndirectLower() = default;
  /// g: the convolution (image C x H x W, columns OH x OW); m: rows of op(w) (output rows).
  IndirectLower(const ConvGeometry& g, int m) : g_(g), m_(m) {
    const int K = g.kernel, KK = K * K, depth = g.col_rows();
    x_stride_ = batch_minor_stride(g.channels, samples);
    // Table offsets are ints: reaching K rows and columns past the image must fit.
    usable_ = m >= 2 && depth >= 1 &&
              double(g.height + g.pad_top + K) * double(g.width + g.pad_left + K) * double(x_stride_) < 2147483647.0;
    if (!usable_) return;
    rows_padded_ = std::max({(m + Tr::MR - 1) / Tr::MR * Tr::MR, (m + Tr::MR_short - 1) / Tr::MR_short * Tr::MR_short,
                             (m + pair_rows - 1) / pair_rows * pair_rows});
    make_tables(depth, Tr::KC, x_stride_, [&](int k) { return Tap{k / KK, k % KK / K, k % K}; }, tables_);
    x_.assign(std::size_t(g.image_size()) * x_stride_, 0.f);
    c_.assign(std::size_t(rows_padded_) * g.out_size() * samples, 0.f);
    bias_.assign(std::size_t(rows_padded_), 0.f);
  }

  [[nodiscard]] bool usable() const { return usable_; }

  /// Under Precision::bf16, op(w)'s bf16 pair panels from a (m x C*K*K): once per product,
  /// before its passes' run() calls. Nothing in fp32.
  void prepare_weights(const PackedA<float>& a) {
    if constexpr (has_bf16_tiles) {
      if (product_precision() == Precision::bf16) pack_pairs(a);
    }
  }

  /// out[n] = a * im2col(image[n]) (+ row_bias[i] on row i) for n < nb <= samples: a is op(w)
  /// packed (m x C*K*K), image nb x C x H x W, out nb x m x OH*OW, in this thread's product
  /// precision (precision.hpp; under bf16 after prepare_weights(a)). In fp32, gemm() over the
  /// stored columns gives the same bits.
  void run(const PackedA<float>& a, int nb, const float* image, float* out, const float* row_bias) {
    if constexpr (has_bf16_tiles) {
      if (product_precision() == Precision::bf16) {
        run_pairs(nb, image, out, row_bias);
        return;
      }
    }
    run_fp32(a, nb, image, out, row_bias);
  }

 private:
  /// run() in fp32: the GEMM's sums over the packed panels, skipping the padding.
  void run_fp32(const PackedA<float>& a, int nb, const float* image, float* out, const float* row_bias) {
    prepare(nb, image, row_bias);
    if (a.short_rows()) products<Tr::MR_short>(a, row_bias != nullptr);
    else products<Tr::MR>(a, row_bias != nullptr);
    finish(nb, out);
  }

  /// run() with bf16 products: op(w)'s rows and the pass's image rounded to bf16, k walked in
  /// pairs of channels (c, c + 1) at one tap (so that a pair lies in the padding or not as a
  /// whole; an odd C pairs its last channel with zeros), in blocks of KC / 2 pairs, summed in
  /// fp32. The same bits on any thread count. @pre has_bf16_tiles, prepare_weights()
  void run_pairs(int nb, const float* image, float* out, const float* row_bias) {
    const int C = g_.channels, KK = g_.kernel * g_.kernel, depth = (C + 1) / 2 * KK;
    constexpr int QB = Tr::KC / 2, MR = pair_rows;  // pairs per k block; the row tile
    const int blocks = (depth + QB - 1) / QB, tiles = (m_ + MR - 1) / MR;
    prepare(nb, image, row_bias);
    // x_[position][channel][sample] -> xp_[position][channel pair][sample]: a 2 x samples panel per pair
    parallel_for(g_.image_size(), double(nb) * C * g_.image_size(), [&](std::ptrdiff_t p) {
      detail::to_bf16_pairs_b(x_.data() + std::size_t(p) * x_stride_, C, xp_.data() + std::size_t(p) * pair_stride_);
    });
    const int ohw = g_.out_size(), ldc = ohw * samples;
    for (int qb = 0; qb < blocks; ++qb) {
      const int qc = std::min(QB, depth - qb * QB);
      const detail::TileStore<float> st{1.f, 0.f, qb == 0, qb + 1 == blocks, false, Activation::identity, 0.f, false};
      parallel_for(ohw, 4.0 * samples * m_ * qc * ohw, [&](std::ptrdiff_t p) {
        const Pixel& px = pair_tables_.pixels[std::size_t(p)];
        const int first = pair_tables_.starts[std::size_t(px.table + qb)], count = pair_tables_.starts[std::size_t(px.table + qb + 1)] - first;
        const Row* rows = pair_tables_.rows.data() + first;
        for (int t = 0; t < tiles; ++t) {
          const detail::Bf16Pair* panel = wp_.data() + (std::size_t(qb) * tiles + t) * QB * MR;
          simd<float> acc[MR][Tr::NV];
          float* c = c_.data() + std::size_t(t * MR) * ldc + p * samples;
          detail::start_tile<float, MR>(acc, c, ldc, st);
#pragma GCC unroll 4
          for (int r = 0; r < count; ++r)
            detail::pair_update<MR>(acc, panel + rows[r].k * MR, xp_.data() + (px.origin + rows[r].x));
          detail::merge_tile<float, MR>(acc, c, ldc, st, row_bias ? bias_.data() + t * MR : nullptr, nullptr);
        }
      });
    }
    finish(nb, out);
  }


  struct Row {
    int k;  // in its k block: the A panel's column
    int x;  // floats from the pixel's origin in x_ (position (kh, kw) from it, channel c)
  };
  struct Pixel {
    int table;           // its kind's first table in table_start_
    std::ptrdiff_t origin;  // floats into x_ of image position (oh S - pad_top, ow S - pad_left), maybe outside
  };

  /// op(w)'s pair panels (prepare_weights), and on the first call the pair tables.
  void pack_pairs(const PackedA<float>& a) {
    const int C = g_.channels, KK = g_.kernel * g_.kernel, pairs_c = (C + 1) / 2, depth = pairs_c * KK;
    constexpr int QB = Tr::KC / 2, MR = pair_rows;  // pairs per k block; the row tile
    if (pair_tables_.pixels.empty()) {  // made on the first call
      pair_stride_ = batch_minor_stride(pairs_c, samples);
      make_tables(depth, QB, pair_stride_, [&](int q) { return Tap{q / KK, q % KK / g_.kernel, q % g_.kernel}; }, pair_tables_);
      xp_.assign(std::size_t(g_.image_size()) * pair_stride_, 0u);
      wp_.resize(std::size_t((depth + QB - 1) / QB) * rows_padded_ * QB);
    }
    // per k block and row tile, [pair][row] of (w[i][2cp][tap], w[i][2cp + 1][tap])
    const int blocks = (depth + QB - 1) / QB, tiles = (m_ + MR - 1) / MR;
    parallel_for(std::ptrdiff_t(blocks) * tiles, double(depth) * rows_padded_, [&](std::ptrdiff_t bt) {
      const int qb = int(bt / tiles), t = int(bt % tiles);
      detail::Bf16Pair* panel = wp_.data() + (std::size_t(qb) * tiles + t) * QB * MR;
      for (int q = qb * QB; q < (qb + 1) * QB; ++q)
        for (int i = t * MR; i < (t + 1) * MR; ++i) {
          const int cp = q / KK, tap = q % KK;
          const auto w = [&](int c) {
            if (q >= depth || i >= m_ || c >= C) return 0.f;
            const int k = c * KK + tap;
            return a.trans() == Trans::no ? a.source()[std::size_t(i) * a.source_ld() + k] : a.source()[std::size_t(k) * a.source_ld() + i];
          };
          panel[std::size_t(q - qb * QB) * MR + (i - t * MR)] =
              detail::Bf16Pair(to_bf16_bits(w(2 * cp))) | detail::Bf16Pair(to_bf16_bits(w(2 * cp + 1))) << 16;
        }
    });
  }

  /// The pass's image in x_ (batch-minor) and the row bias padded to whole row tiles.
  void prepare(int nb, const float* image, const float* row_bias) {
    if (row_bias) std::copy_n(row_bias, m_, bias_.data());
    to_batch_minor(nb, g_.channels, g_.image_size(), image, samples, x_.data(), x_stride_);  // x_[position][channel][sample]
  }
  /// c_[row][pixel][sample] -> out[sample][row][pixel]
  void finish(int nb, float* out) {
    const int m = m_, ohw = g_.out_size();
    parallel_for(m, double(nb) * m * ohw, [&](std::ptrdiff_t i) {
      transpose_block(c_.data() + std::size_t(i) * ohw * samples, samples, ohw, nb, out + std::size_t(i) * ohw,
                      std::size_t(m) * ohw);
    });
  }

  struct Tap {
    int c, kh, kw;  // the channel (or channel pair) and the kernel position of a row of k
  };
  /// The rows of each kind of pixel and k block.
  struct Tables {
    std::vector<Row> rows;     // every table's rows
    std::vector<int> starts;   // per kind of pixel, per k block: its first row; then the end
    std::vector<Pixel> pixels; // per output pixel
  };
  /// Tables for k in [0, depth) in blocks of `block`, tap(k) its channel and kernel position,
  /// image positions `stride` apart. A pixel's valid taps are a rectangle [kh0, kh1) x
  /// [kw0, kw1); pixels with the same rectangle (the interior, each edge, each corner) share
  /// their tables.
  template <class TapOf>
  void make_tables(int depth, int block, std::size_t stride, TapOf tap, Tables& t) const {
    const ConvGeometry& g = g_;
    const int K = g.kernel, k_blocks = (depth + block - 1) / block;
    std::vector<int> keys;
    for (int oh = 0; oh < g.out_height; ++oh)
      for (int ow = 0; ow < g.out_width; ++ow) {
        const int ih = oh * g.stride - g.pad_top, iw = ow * g.stride - g.pad_left;
        const int kh0 = std::max(0, -ih), kh1 = std::clamp(g.height - ih, 0, K);
        const int kw0 = std::max(0, -iw), kw1 = std::clamp(g.width - iw, 0, K);
        const int key = ((kh0 * (K + 1) + kh1) * (K + 1) + kw0) * (K + 1) + kw1;
        auto it = std::find(keys.begin(), keys.end(), key);
        int kind = int(it - keys.begin());
        if (it == keys.end()) {
          keys.push_back(key);
          for (int pc = 0; pc < depth; pc += block) {
            t.starts.push_back(int(t.rows.size()));
            for (int k = pc; k < std::min(depth, pc + block); ++k) {
              const Tap at = tap(k);
              if (at.kh < kh0 || at.kh >= kh1 || at.kw < kw0 || at.kw >= kw1) continue;
              t.rows.push_back({k - pc, int((at.kh * g.width + at.kw) * stride + std::size_t(at.c) * samples)});
            }
          }
          t.starts.push_back(int(t.rows.size()));  // the end of the last table (k_blocks + 1 per kind)
        }
        t.pixels.push_back({kind * (k_blocks + 1), (std::ptrdiff_t(ih) * g.width + iw) * std::ptrdiff_t(stride)});
      }
  }

  /// c_ = a * columns, k block after k block (as gemm_block), each block's pixels split over
  /// the threads.
  template <int MR>
  void products(const PackedA<float>& a, bool bias) {
    const int depth = g_.col_rows(), ohw = g_.out_size(), m = m_, ldc = ohw * samples;
    const int k_blocks = (depth + Tr::KC - 1) / Tr::KC;
    for (int kb = 0; kb < k_blocks; ++kb) {
      const int pc = kb * Tr::KC, kc = std::min(Tr::KC, depth - pc);
      const detail::TileStore<float> st{1.f, 0.f, pc == 0, pc + kc >= depth, false, Activation::identity, 0.f, false};
      parallel_for(ohw, 2.0 * samples * m * kc * ohw, [&](std::ptrdiff_t p) {
        const Pixel& px = tables_.pixels[std::size_t(p)];
        const Row* rows = tables_.rows.data() + tables_.starts[std::size_t(px.table + kb)];
        const int count = tables_.starts[std::size_t(px.table + kb + 1)] - tables_.starts[std::size_t(px.table + kb)];
        for (int ic = 0; ic < m; ic += Tr::MC) {
          const float* panels = a.block(ic, pc);
          for (int ir = 0; ir < std::min(Tr::MC, m - ic); ir += MR)
            tile<MR>(count, rows, panels + std::size_t(ir) * kc, x_.data(), px.origin,
                     c_.data() + std::size_t(ic + ir) * ldc + p * samples, ldc, st,
                     bias ? bias_.data() + ic + ir : nullptr);
        }
      });
    }
  }

  /// One MR x samples tile: the rows of one table, then merged into C. The pixel's origin
  /// may lie outside x_ (in the padding); each row's position does not.
  template <int MR>
  static void tile(int count, const Row* rows, const float* a, const float* x, std::ptrdiff_t origin, float* c, int ldc,
                   const detail::TileStore<float>& st, const float* row_bias) {
    simd<float> acc[MR][Tr::NV];
    detail::start_tile<float, MR>(acc, c, ldc, st);
#pragma GCC unroll 4
    for (int r = 0; r < count; ++r) detail::rank1_update<float, MR>(acc, a + rows[r].k * MR, x + (origin + rows[r].x));
    detail::merge_tile<float, MR>(acc, c, ldc, st, row_bias, nullptr);
  }

  ConvGeometry g_{};
  int m_ = 0, rows_padded_ = 0;  // rows of c_: m in whole row tiles of either height
  std::size_t x_stride_ = 0;  // floats from one position of x_ to the next
  bool usable_ = false;
  Tables tables_;
  aligned_vector<float> x_;        // the pass's image: [position][channel][sample], positions x_stride_ apart
  aligned_vector<float> c_;        // [row][pixel][sample]
  aligned_vector<float> bias_;     // padded to whole row tiles
  // run_pairs: its tables over channel pairs, the pass's image as pairs [position][pair][sample]
  // (positions pair_stride_ apart) and op(w)'s pair panels [k block][row tile][pair][row].
  Tables pair_tables_;
  std::size_t pair_stride_ = 0;
  aligned_vector<detail::Bf16Pair> xp_, wp_;
};

}  // namespace ganad::kernels
