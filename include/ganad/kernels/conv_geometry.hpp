/// A convolution's geometry, from its "image" side (C x H x W, zero-padded) to its "column"
/// side (OH x OW), and the tables built from it once per layer: every tap's offsets, and the
/// stride-2 phase decomposition (each image plane split into its four phases).
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

namespace ganad::kernels {

/// A K x K convolution with stride S over a C x H x W image padded by pad_top / pad_left
/// (the padding after is whatever out_height / out_width imply). Conv2D maps image -> columns;
/// ConvTranspose2D maps columns -> image with the same geometry.
struct ConvGeometry {
  int channels, height, width;
  int kernel, stride;
  int pad_top, pad_left;
  int out_height, out_width;

  [[nodiscard]] constexpr int image_size() const { return height * width; }
  [[nodiscard]] constexpr int out_size() const { return out_height * out_width; }
  [[nodiscard]] constexpr int col_rows() const { return channels * kernel * kernel; }
};

/// For every kernel tap (kh, kw) and output position (oh, ow): the offset into a C x H x W
/// image's plane that im2col reads there, or -1 in the padding. Strided im2col and col2im
/// walk this table instead of recomputing bounds per row segment (segments are only OW = 7
/// or 14 long in the DCGAN, and the per-segment work cost more than the copying: Conv
/// 64->128 fwd+bwd 8% faster). Built once per layer (ConvEngine keeps it).
inline std::vector<int> tap_offsets(const ConvGeometry& g) {
  const int K = g.kernel, S = g.stride;
  std::vector<int> offsets(std::size_t(K) * K * g.out_size());
  int* o = offsets.data();
  for (int kh = 0; kh < K; ++kh)
    for (int kw = 0; kw < K; ++kw)
      for (int oh = 0; oh < g.out_height; ++oh)
        for (int ow = 0; ow < g.out_width; ++ow) {
          const int ih = oh * S - g.pad_top + kh, iw = ow * S - g.pad_left + kw;
          *o++ = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width ? ih * g.width + iw : -1;
        }
  return offsets;
}

/// Stride-2 im2col: output rows at least this long take Stride2Row (one permute per row);
/// shorter ones the phase windows of Stride2Phases. Measured (fwd+bwd, 1 thread): rows of 14
/// (ConvT 128->64's data gradient) were 0-2% slower through the phases, whose split is extra
/// work there; rows of 7 were 2.7x faster through them (im2col alone, Conv 64->128).
inline constexpr int stride2_rows_min_length = 12;

/// Stride 2 as a stride-1 problem: an image plane split into its four phases (even/odd rows
/// x even/odd columns), each zero-padded to ph x pw, turns every kernel tap into a plain
/// OH x OW window of one phase, at the same offsets in every plane. A window's 16-output
/// chunks then span at most 32 floats, so im2col moves 16 outputs with two loads and a
/// permute, and col2im adds up to 16 into each aligned vector of the phases with one
/// permute, its taps in order (the scalar loop's order of summation) while the vector stays
/// in a register, before the phases are interleaved back into the image. The DCGAN's rows
/// are 7 or 14 long: per element, the table loop moved one float at a time and Stride2Row
/// wasted half a vector on rows of 7.
/// Built once per layer; `usable` is false where the layout does not apply (other strides,
/// planes over max_floats, or windows whose chunks span more than 32 floats).
struct Stride2Phases {
  /// One vector of col2im: acc[offset, offset + 16) += (row `tap` + source)[index] on `lanes`.
  struct Add {
    int offset, source;                // source: 16 x the chunk of the first output landing here
    int tap;                           // kh * K + kw
    std::uint16_t readable_lo, readable_hi;  // lanes of the tap row's [source, source + 32) that exist
    std::uint16_t lanes;
    alignas(64) std::array<int, 16> index;
  };
  static constexpr int max_floats = 16384;  // per (sample, channel) plane
  static constexpr int group = 8;           // samples per task: each cols row is met in runs of 8
  bool usable = false;
  int first_h = 0, first_w = 0;  // image row / column of phase row / column 0 is 2 * y + first + phase
  int ph = 0, pw = 0, floats = 0;
  std::vector<int> tap_base;                  // per tap kh * K + kw: its window's first float
  std::vector<int> chunk_start;               // per 16 outputs of a sample: the window float of the first
  std::vector<std::array<int, 16>> chunk_index;  // ... and of the others, relative to it
  std::vector<Add> adds;                      // col2im's vectors, target by target, taps in order
  std::vector<int> target_adds;               // the n-th target's adds: [target_adds[n], target_adds[n + 1])
  [[nodiscard]] int phase_size() const { return ph * pw; }
};

inline Stride2Phases stride2_phases(const ConvGeometry& g) {
  Stride2Phases p;
  if (g.stride != 2) return p;
  const auto floor_half = [](int a) { return a >= 0 ? a / 2 : -((1 - a) / 2); };
  const int K = g.kernel, OW = g.out_width, ohw = g.out_size();
  const int q_top = floor_half(-g.pad_top), q_left = floor_half(-g.pad_left);  // first phase row / column used
  p.first_h = 2 * q_top;
  p.first_w = 2 * q_left;
  // Every window, and every image row / column (col2im reads each pixel back from its phase).
  p.ph = std::max(g.out_height + floor_half(K - 1 - g.pad_top), (g.height + 1) / 2) - q_top;
  p.pw = std::max(g.out_width + floor_half(K - 1 - g.pad_left), (g.width + 1) / 2) - q_left;
  // Slack past the phases: windows read 32 floats from their chunk's start, merges 16 per row.
  p.floats = (4 * p.phase_size() + 64 + 15) / 16 * 16;
  if (p.floats > Stride2Phases::max_floats || p.pw > 256) return p;
  const auto window_float = [&](int o) { return o / OW * p.pw + o % OW; };
  for (int kh = 0; kh < K; ++kh)
    for (int kw = 0; kw < K; ++kw) {
      const int qh = floor_half(kh - g.pad_top), qw = floor_half(kw - g.pad_left);
      const int phase = (kh - g.pad_top - 2 * qh) * 2 + (kw - g.pad_left - 2 * qw);
      p.tap_base.push_back(phase * p.phase_size() + (qh - q_top) * p.pw + (qw - q_left));
    }
  for (int j = 0; j * 16 < ohw; ++j) {
    std::array<int, 16> index{};
    const int start = window_float(16 * j);
    for (int l = 0; l < 16 && 16 * j + l < ohw; ++l) {
      index[std::size_t(l)] = window_float(16 * j + l) - start;
      if (index[std::size_t(l)] >= 32) return p;
    }
    p.chunk_start.push_back(start);
    p.chunk_index.push_back(index);
  }
  // col2im: the outputs landing in one aligned vector are consecutive (window_float grows
  // with o) and at most 16, so they lie in the chunk of the first and the next.
  for (int t = 0; t < K * K; ++t) {
    for (int o = 0; o < ohw;) {
      const int vec = (p.tap_base[std::size_t(t)] + window_float(o)) / 16;
      Stride2Phases::Add add{vec * 16, o / 16 * 16, t, 0, 0, 0, {}};
      const int rest = ohw - add.source;
      const std::uint32_t readable = rest >= 32 ? ~std::uint32_t(0) : (std::uint32_t(1) << rest) - 1u;
      add.readable_lo = std::uint16_t(readable);
      add.readable_hi = std::uint16_t(readable >> 16);
      for (; o < ohw && (p.tap_base[std::size_t(t)] + window_float(o)) / 16 == vec; ++o) {
        const int lane = p.tap_base[std::size_t(t)] + window_float(o) - vec * 16;
        add.index[std::size_t(lane)] = o - add.source;
        add.lanes = std::uint16_t(add.lanes | (1u << lane));
      }
      p.adds.push_back(add);
    }
  }
  // Target by target, each target's taps in order (the order of summation per pixel): the
  // sum then stays in a register, where tap by tap it went through memory at every add.
  // (Sorted through indices: std::stable_sort's scratch buffer ignores the Adds' alignment.)
  std::vector<int> order(p.adds.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return p.adds[std::size_t(a)].offset < p.adds[std::size_t(b)].offset; });
  std::vector<Stride2Phases::Add> by_target;
  by_target.reserve(order.size());
  for (int i : order) by_target.push_back(p.adds[std::size_t(i)]);
  p.adds = std::move(by_target);
  for (std::size_t i = 0; i < p.adds.size(); ++i)
    if (i == 0 || p.adds[i].offset != p.adds[i - 1].offset) p.target_adds.push_back(int(i));
  p.target_adds.push_back(int(p.adds.size()));
  p.usable = true;
  return p;
}

/// The calling thread's scratch for Stride2Phases planes, grown once and reused.
inline float* phase_scratch(std::size_t floats) {
  static thread_local aligned_vector<float> scratch;
  if (scratch.size() < floats) scratch.resize(floats);
  return scratch.data();
}

/// Splits one image plane into its four zero-padded phases (p's layout; the slack past them
/// zeroed). split: Stride2Row(p.first_w, W, p.pw) and Stride2Row(p.first_w + 1, W, p.pw).
/// @pre has_stride2_rows<float>
inline void split_plane(const ConvGeometry& g, const Stride2Phases& p, const Stride2Row (&split)[2], const float* img,
                        float* plane) {
  // Sizes in locals: the vector stores may alias anything.
  const int ph = p.ph, pw = p.pw, phase_size = p.phase_size(), floats = p.floats, first_h = p.first_h;
  const int height = g.height, width = g.width;
  std::fill(plane + 4 * phase_size, plane + floats, 0.f);
  for (int phase = 0; phase < 4; ++phase)
    for (int y = 0; y < ph; ++y) {
      const int ih = 2 * y + first_h + phase / 2;
      float* dst = plane + phase * phase_size + y * pw;
      if (ih < 0 || ih >= height) std::fill(dst, dst + pw, 0.f);
      else split[phase % 2].gather(img + std::size_t(ih) * width, dst);
    }
}

/// What im2col and col2im read about a geometry besides its sizes, built once per layer.
struct ConvTables {
  std::vector<int> taps;  // tap_offsets
  Stride2Phases phases;
};
inline ConvTables conv_tables(const ConvGeometry& g) { return {tap_offsets(g), stride2_phases(g)}; }

}  // namespace ganad::kernels
