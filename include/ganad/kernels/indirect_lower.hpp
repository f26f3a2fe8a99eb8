/// The lowered product of a convolution, out = op(w) * im2col(image) (+ row bias), computed
/// from the image itself: no column matrix, and no products for the taps that fall in the
/// padding (14% of ConvTranspose 256->128's data gradient, 16% of Conv 64->128's forward).
/// The sums are the GEMM's over stored columns, in the same order, so the bits are the same.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/avx512.hpp"
#include "ganad/kernels/conv_geometry.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/layout.hpp"
#include "ganad/kernels/transpose.hpp"
#include "ganad/kernels/parallel.hpp"
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

  IndirectLower() = default;
  /// g: the convolution (image C x H x W, columns OH x OW); m: rows of op(w) (output rows).
  IndirectLower(const ConvGeometry& g, int m) : g_(g), m_(m) {
    const int K = g.kernel, KK = K * K, depth = g.col_rows();
    x_stride_ = batch_minor_stride(g.channels, samples);
    // Table offsets are ints: reaching K rows and columns past the image must fit.
    usable_ = m >= 2 && depth >= 1 &&
              double(g.height + g.pad_top + K) * double(g.width + g.pad_left + K) * double(x_stride_) < 2147483647.0;
    if (!usable_) return;
    rows_padded_ = std::max((m + Tr::MR - 1) / Tr::MR * Tr::MR, (m + Tr::MR_short - 1) / Tr::MR_short * Tr::MR_short);
    const int k_blocks = (depth + Tr::KC - 1) / Tr::KC;
    // A pixel's valid taps are a rectangle [kh0, kh1) x [kw0, kw1); pixels with the same
    // rectangle (the interior, each edge, each corner) share their tables.
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
          for (int pc = 0; pc < depth; pc += Tr::KC) {
            table_start_.push_back(int(rows_.size()));
            for (int k = pc; k < std::min(depth, pc + Tr::KC); ++k) {
              const int c = k / KK, kh = k % KK / K, kw = k % K;
              if (kh < kh0 || kh >= kh1 || kw < kw0 || kw >= kw1) continue;
              rows_.push_back({k - pc, int((kh * g.width + kw) * x_stride_ + std::size_t(c) * samples)});
            }
          }
          table_start_.push_back(int(rows_.size()));  // the end of the last table (k_blocks + 1 per kind)
        }
        pixels_.push_back({kind * (k_blocks + 1), (std::ptrdiff_t(ih) * g.width + iw) * std::ptrdiff_t(x_stride_)});
      }
    x_.assign(std::size_t(g.image_size()) * x_stride_, 0.f);
    c_.assign(std::size_t(rows_padded_) * g.out_size() * samples, 0.f);
    bias_.assign(std::size_t(rows_padded_), 0.f);
  }

  [[nodiscard]] bool usable() const { return usable_; }

  /// out[n] = a * im2col(image[n]) (+ row_bias[i] on row i) for n < nb <= samples: a is op(w)
  /// packed (m x C*K*K), image nb x C x H x W, out nb x m x OH*OW. gemm() over the stored
  /// columns gives the same bits.
  void run(const PackedA<float>& a, int nb, const float* image, float* out, const float* row_bias) {
    const int C = g_.channels, hw = g_.image_size(), ohw = g_.out_size(), m = m_;
    if (row_bias) std::copy_n(row_bias, m, bias_.data());
    to_batch_minor(nb, C, hw, image, samples, x_.data(), x_stride_);  // x_[position][channel][sample]
    if (a.short_rows()) products<Tr::MR_short>(a, row_bias != nullptr);
    else products<Tr::MR>(a, row_bias != nullptr);
    // c_[row][pixel][sample] -> out[sample][row][pixel]
    parallel_for(m, double(nb) * m * ohw, [&](std::ptrdiff_t i) {
      transpose_block(c_.data() + std::size_t(i) * ohw * samples, samples, ohw, nb, out + std::size_t(i) * ohw,
                      std::size_t(m) * ohw);
    });
  }

 private:
  struct Row {
    int k;  // in its k block: the A panel's column
    int x;  // floats from the pixel's origin in x_ (position (kh, kw) from it, channel c)
  };
  struct Pixel {
    int table;           // its kind's first table in table_start_
    std::ptrdiff_t origin;  // floats into x_ of image position (oh S - pad_top, ow S - pad_left), maybe outside
  };

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
        const Pixel& px = pixels_[std::size_t(p)];
        const Row* rows = rows_.data() + table_start_[std::size_t(px.table + kb)];
        const int count = table_start_[std::size_t(px.table + kb + 1)] - table_start_[std::size_t(px.table + kb)];
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
  std::vector<Row> rows_;          // every table's rows
  std::vector<int> table_start_;   // per kind of pixel, per k block: its first row; then the end
  std::vector<Pixel> pixels_;      // per output pixel
  aligned_vector<float> x_;        // the pass's image: [position][channel][sample], positions x_stride_ apart
  aligned_vector<float> c_;        // [row][pixel][sample]
  aligned_vector<float> bias_;     // padded to whole row tiles
};

}  // namespace ganad::kernels
