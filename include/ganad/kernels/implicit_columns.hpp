/// ImplicitColumns, the GEMM operand source for im2col's column matrix that is never stored
/// (implicit GEMM): each packed panel is gathered straight from the images' stride-2 phases.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/simd.hpp"
#include "ganad/kernels/avx512.hpp"
#include "ganad/kernels/conv_geometry.hpp"
#include "ganad/kernels/gemm_traits.hpp"
#include "ganad/kernels/transpose.hpp"

namespace ganad::kernels {

/// The column matrix of im2col, never stored: a GEMM B source (gemm.hpp, MatrixB), or A
/// source through as_a(), that gathers each panel straight from the images' phases
/// (Stride2Phases). Where im2col
/// writes the columns (a few MB per chunk, out to L3) and the GEMM's packer reads them back,
/// this reads the phases (C x p.floats floats per sample, L2-sized) and writes the panels,
/// which stay in L1. Same values, so the same bits. Float with AVX-512 only; usable() where
/// the phases are (also for the rows of 14 that im2col itself runs through Stride2Row) and
/// OH*OW >= 16.
///
/// A 16-column group of B spans one sample, or the end of one and the start of the next:
/// its table holds, per part, the offset of its first window float and the permute indices
/// relative to it, all below 32 (checked), so each part is two loads and a permute.
class ImplicitColumns {
 public:
  ImplicitColumns() = default;
  ImplicitColumns(const ConvGeometry& g, const Stride2Phases& p)
      : g_(g), pw_(p.pw), floats_(p.floats), tap_base_(p.tap_base) {
    const int ohw = g.out_size();
    usable_ = has_stride2_rows<float> && p.usable && ohw >= 16;
    // Any 16 consecutive outputs of a sample must lie within 32 floats of the first.
    for (int o = 0; usable_ && o < ohw; ++o) usable_ = window_float(std::min(o + 15, ohw - 1)) - window_float(o) < 32;
  }
  [[nodiscard]] bool usable() const { return usable_; }
  [[nodiscard]] std::size_t phase_floats(int batch) const { return std::size_t(batch) * g_.channels * floats_; }

  /// Splits `batch` images into phases (phase_floats(batch) floats; p: the Stride2Phases
  /// this was made from) and readies the column tables for that many samples (grown once).
  void split(const Stride2Phases& p, int batch, const float* images, float* phases) {
    const Stride2Row split[2] = {Stride2Row(p.first_w, g_.width, p.pw), Stride2Row(p.first_w + 1, g_.width, p.pw)};
    const std::ptrdiff_t planes = std::ptrdiff_t(batch) * g_.channels;
    const std::size_t plane_floats = std::size_t(g_.image_size());
    parallel_for(planes, double(planes) * p.floats, [&](std::ptrdiff_t plane) {
      // Two planes ahead: split_plane's row order (even rows, then odd) defeats the prefetcher.
      if (plane + 2 < planes) prefetch_range(images + std::size_t(plane + 2) * plane_floats, sizeof(float) * plane_floats);
      split_plane(g_, p, split, images + std::size_t(plane) * plane_floats, phases + std::size_t(plane) * p.floats);
    });
    grow_groups(batch);
    phases_ = phases;
    batch_ = batch;
  }

  /// The B source for the last split: B = im2col columns (C*K*K x batch*OH*OW).
  void pack(int p0, int j0, int kc, int cols, float* panel) const;
  /// The same columns as an A source (pack_a's panels), for p0 a multiple of 16.
  template <int MR>
  void pack_rows(int i0, int p0, int mc, int kc, float* out) const;
  /// This as the GEMM's A (gemm_sourced_a).
  struct AsA {
    const ImplicitColumns* columns;
    template <int MR>
    void pack(int i0, int p0, int mc, int kc, float* out) const {
      columns->pack_rows<MR>(i0, p0, mc, kc, out);
    }
  };
  [[nodiscard]] AsA as_a() const { return {this}; }

 private:
#if defined(__AVX512F__)
  struct GroupReader;
  [[nodiscard]] GroupReader reader(int q, int lanes) const;
#endif
  struct Group {
    alignas(64) std::array<int, 16> index[2];
    std::ptrdiff_t offset[2];  // part's first window float: sample * C * floats + window float
    int sample[2];          // part 1's sample (part 0's, + 1); its lanes exist only below batch
    std::uint16_t lanes[2];
  };
  void grow_groups(int batch);
  [[nodiscard]] int window_float(int o) const { return o / g_.out_width * pw_ + o % g_.out_width; }

  ConvGeometry g_{};
  int pw_ = 0, floats_ = 0;
  std::vector<int> tap_base_;
  bool usable_ = false;
  std::vector<Group> groups_;
  const float* phases_ = nullptr;
  int batch_ = 0;
};

inline void ImplicitColumns::grow_groups(int batch) {
  const int ohw = g_.out_size(), needed = (batch * ohw + 15) / 16;
  if (int(groups_.size()) >= needed) return;
  const std::ptrdiff_t sample_floats = std::ptrdiff_t(g_.channels) * floats_;
  std::vector<Group> groups(std::size_t(needed), Group{});
  for (int q = 0; q < needed; ++q) {
    Group& grp = groups[std::size_t(q)];
    const int first_sample = 16 * q / ohw;
    for (int l = 0; l < 16; ++l) {  // two parts at most: OH*OW >= 16
      const int col = 16 * q + l, n = col / ohw, o = col % ohw, part = n - first_sample;
      if (grp.lanes[part] == 0) {  // the part's first lane: its window's first float
        grp.sample[part] = n;
        grp.offset[part] = n * sample_floats + window_float(o);
      }
      grp.index[part][std::size_t(l)] = int(n * sample_floats + window_float(o) - grp.offset[part]);
      grp.lanes[part] = std::uint16_t(grp.lanes[part] | (1u << l));
    }
  }
  groups_ = std::move(groups);
}

#if defined(__AVX512F__)
/// One 16-column group of B, ready to gather from any (channel, tap) row.
struct ImplicitColumns::GroupReader {
  __mmask16 lanes0, lanes1;
  __m512i index0, index1;
  const float *part0, *part1;

  /// The group's 16 values in the row whose window starts `at` floats into a sample's phases.
  [[gnu::always_inline]] __m512 gather(std::size_t at) const {
    __m512 v = _mm512_maskz_permutex2var_ps(lanes0, _mm512_loadu_ps(part0 + at), index0, _mm512_loadu_ps(part0 + at + 16));
    if (lanes1)
      v = _mm512_mask_mov_ps(v, lanes1,
                             _mm512_permutex2var_ps(_mm512_loadu_ps(part1 + at), index1, _mm512_loadu_ps(part1 + at + 16)));
    return v;
  }
};

/// Group `q`, its lanes from `lanes` on zeroed (they lie past the columns asked for).
inline ImplicitColumns::GroupReader ImplicitColumns::reader(int q, int lanes) const {
  const Group& grp = groups_[std::size_t(q)];
  const __mmask16 valid = __mmask16(lanes >= 16 ? 0xffffu : (1u << lanes) - 1u);
  const __mmask16 lanes1 = __mmask16(grp.sample[1] < batch_ ? grp.lanes[1] & valid : 0);
  return {__mmask16(grp.lanes[0] & valid), lanes1, _mm512_load_si512(grp.index[0].data()),
          _mm512_load_si512(grp.index[1].data()), phases_ + grp.offset[0], lanes1 ? phases_ + grp.offset[1] : phases_};
}
#endif

inline void ImplicitColumns::pack([[maybe_unused]] int p0, [[maybe_unused]] int j0, [[maybe_unused]] int kc,
                                  [[maybe_unused]] int cols, [[maybe_unused]] float* panel) const {
#if defined(__AVX512F__)
  const int KK = g_.kernel * g_.kernel;
  const int* tap_base = tap_base_.data();
  const std::size_t floats = std::size_t(floats_);
  for (int h = 0; h < 2; ++h) {  // the panel's two 16-column halves
    float* dst = panel + 16 * h;
    const int lanes = std::clamp(cols - 16 * h, 0, 16);
    if (lanes == 0) {
      for (int k = 0; k < kc; ++k) _mm512_store_ps(dst + std::size_t(k) * 32, _mm512_setzero_ps());
      continue;
    }
    const GroupReader group = reader((j0 + 16 * h) / 16, lanes);
    int c = p0 / KK, t = p0 % KK;
    for (int k = 0; k < kc; ++k, dst += 32) {
      _mm512_store_ps(dst, group.gather(std::size_t(c) * floats + std::size_t(tap_base[t])));
      if (++t == KK) t = 0, ++c;
    }
  }
#endif
}

template <int MR>
void ImplicitColumns::pack_rows([[maybe_unused]] int i0, [[maybe_unused]] int p0, [[maybe_unused]] int mc,
                                [[maybe_unused]] int kc, [[maybe_unused]] float* out) const {
#if defined(__AVX512F__)
  const int KK = g_.kernel * g_.kernel;
  const int* tap_base = tap_base_.data();
  const std::size_t floats = std::size_t(floats_);
  alignas(64) float tile[MR][16];
  std::size_t at[MR];  // each row's window start in a sample's phases
  for (int ir = 0; ir < mc; ir += MR) {
    const int rows = std::min(MR, mc - ir);
    for (int i = 0; i < rows; ++i) {
      const int r = i0 + ir + i;
      at[i] = std::size_t(r / KK) * floats + std::size_t(tap_base[r % KK]);
    }
    float* panel = out + std::size_t(ir) * kc;
    for (int k0 = 0; k0 < kc; k0 += 16) {  // p0 is a multiple of 16 (the GEMM's k blocks)
      const int width = std::min(16, kc - k0);
      const GroupReader group = reader((p0 + k0) / 16, width);
      for (int i = 0; i < MR; ++i) _mm512_store_ps(tile[i], i < rows ? group.gather(at[i]) : _mm512_setzero_ps());
      if constexpr (MR == 8) {
        if (width == 16) {
          transpose_8x8(&tile[0][0], 16, panel + std::size_t(k0) * MR);
          transpose_8x8(&tile[0][8], 16, panel + std::size_t(k0 + 8) * MR);
          continue;
        }
      }
      for (int k = 0; k < width; ++k)
        for (int i = 0; i < MR; ++i) panel[std::size_t(k0 + k) * MR + i] = tile[i][k];
    }
  }
#endif
}

}  // namespace ganad::kernels
