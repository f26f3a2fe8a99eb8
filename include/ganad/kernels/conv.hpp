/// The primitives both convolution layers are built from: im2col and col2im over a batch,
/// for any kernel size, stride and (asymmetric) padding, and the permutations between
/// batch-major NCHW and channel-major [C][N*H*W] layouts. One ConvGeometry describes a
/// convolution from its "image" side (C x H x W, zero-padded) to its "column" side (OH x OW).
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

/// cols[(c, kh, kw)][n * OH*OW + oh * OW + ow] = image[n, c, oh*S - pad_top + kh, ow*S - pad_left + kw]
/// (0 outside the image). images: batch x C x H x W. cols: col_rows() x (batch * out_size()).
/// tables: conv_tables(g). Stride 2 in float on AVX-512 (has_stride2_rows) runs the phase
/// windows for rows shorter than stride2_rows_min_length and Stride2Row for longer ones;
/// other strides, and VectorRows = false (for tests), the scalar loops.
template <class T, bool VectorRows = true>
void im2col(const ConvGeometry& g, const ConvTables& tables, int batch, const T* images, T* cols) {
  const int K = g.kernel, S = g.stride, OW = g.out_width, KK = K * K, ohw = g.out_size();
  const std::size_t ld = std::size_t(batch) * ohw;
  if constexpr (VectorRows && has_stride2_rows<T>) {
    if (const Stride2Phases& p = tables.phases; p.usable && OW < stride2_rows_min_length) {  // windows of the phases
      const Stride2Row split[2] = {Stride2Row(p.first_w, g.width, p.pw), Stride2Row(p.first_w + 1, g.width, p.pw)};
      const int groups = (batch + Stride2Phases::group - 1) / Stride2Phases::group;
      parallel_for(std::ptrdiff_t(g.channels) * groups, double(g.col_rows()) * ld, [&](std::ptrdiff_t cg) {
        const int c = int(cg / groups), n0 = int(cg % groups) * Stride2Phases::group;
        const int samples = std::min(Stride2Phases::group, batch - n0);
        if (cg + 1 < std::ptrdiff_t(g.channels) * groups) {
          // The next task's planes, while this one works: each is read once and lies C*H*W
          // floats from the next, and waiting for them took most of im2col's time.
          const int c1 = int((cg + 1) / groups), m0 = int((cg + 1) % groups) * Stride2Phases::group;
          for (int s = 0; s < std::min(Stride2Phases::group, batch - m0); ++s)
            prefetch_range(images + (std::size_t(m0 + s) * g.channels + c1) * g.image_size(), sizeof(T) * g.image_size());
        }
        float* phases = phase_scratch(std::size_t(samples) * p.floats);
        for (int s = 0; s < samples; ++s)
          split_plane(g, p, split, images + (std::size_t(n0 + s) * g.channels + c) * g.image_size(),
                      phases + std::size_t(s) * p.floats);
        const std::size_t chunks = p.chunk_start.size();
        for (int s = 0; s < samples; ++s)
          for (std::size_t j = 0; j < chunks; ++j)
            gather_windows(phases + std::size_t(s) * p.floats + p.chunk_start[j], p.tap_base.data(), KK,
                           p.chunk_index[j].data(), cols + std::size_t(c) * KK * ld + std::size_t(n0 + s) * ohw + 16 * j, ld,
                           std::min(16, ohw - 16 * int(j)));
      });
      return;
    }
    if (S == 2 && OW >= stride2_rows_min_length && OW <= Stride2Row::max_length) {  // whole output rows with vector permutes
      parallel_for(g.col_rows(), double(g.col_rows()) * ld, [&](std::ptrdiff_t row) {
        const int c = int(row) / KK, kh = int(row) / K % K, kw = int(row) % K;
        const Stride2Row segment(kw - g.pad_left, g.width, OW);
        // Sizes in locals: the vector stores may alias anything.
        const int out_height = g.out_height, first = kh - g.pad_top, height = g.height, width = g.width;
        const std::size_t plane = std::size_t(g.image_size()), sample = std::size_t(g.channels) * plane;
        for (int n = 0; n < batch; ++n) {
          const T* img = images + std::size_t(n) * sample + std::size_t(c) * plane;
          if (row % KK == 0 && n + 1 < batch)  // a channel's first tap meets each plane first: fetch the next
            prefetch_range(img + sample, sizeof(T) * plane);
          T* dst = cols + std::size_t(row) * ld + std::size_t(n) * ohw;
          for (int oh = 0; oh < out_height; ++oh, dst += OW) {
            const int ih = oh * 2 + first;
            if (ih < 0 || ih >= height) std::fill(dst, dst + OW, T(0));
            else segment.gather(img + std::size_t(ih) * width, dst);
          }
        }
      });
      return;
    }
  }
  if (S > 1) {  // short strided segments: walk the offset table
    const int* offsets = tables.taps.data();
    parallel_for(g.col_rows(), double(g.col_rows()) * ld, [&](std::ptrdiff_t row) {
      const int c = int(row) / KK;
      const int* off = offsets + std::size_t(row % KK) * ohw;
      for (int n = 0; n < batch; ++n) {
        const T* img = images + (std::size_t(n) * g.channels + c) * g.image_size();
        T* dst = cols + std::size_t(row) * ld + std::size_t(n) * ohw;
        for (int j = 0; j < ohw; ++j) dst[j] = off[j] >= 0 ? img[off[j]] : T(0);
      }
    });
    return;
  }
  // Stride 1: each output row is a contiguous run of the input row; copy runs.
  parallel_for(g.col_rows(), double(g.col_rows()) * ld, [&](std::ptrdiff_t row) {
    const int c = int(row) / KK, kh = int(row) / K % K, kw = int(row) % K;
    // Output columns ow whose input column iw = ow - pad_left + kw lies inside [0, W).
    const int ow_begin = std::clamp(g.pad_left - kw, 0, OW);
    const int ow_end = std::clamp(g.width + g.pad_left - kw, ow_begin, OW);
    for (int n = 0; n < batch; ++n) {
      const T* img = images + (std::size_t(n) * g.channels + c) * g.image_size();
      T* dst = cols + std::size_t(row) * ld + std::size_t(n) * ohw;
      for (int oh = 0; oh < g.out_height; ++oh, dst += OW) {
        const int ih = oh - g.pad_top + kh;
        if (ih < 0 || ih >= g.height) {
          std::fill(dst, dst + OW, T(0));
          continue;
        }
        const T* src = img + std::size_t(ih) * g.width - g.pad_left + kw;
        std::fill(dst, dst + ow_begin, T(0));
        std::memcpy(dst + ow_begin, src + ow_begin, sizeof(T) * (ow_end - ow_begin));
        std::fill(dst + ow_end, dst + OW, T(0));
      }
    }
  });
}

/// The adjoint of im2col: image[n, c, ih, iw] = sum of every cols entry im2col would have
/// read from there (+ channel_bias[c] if given: the sum starts from it, saving a pass).
/// Overwrites images. Each (n, c) plane is summed in a fixed order (kh, kw, oh, ow), so the
/// result does not depend on the number of threads, and every path gives the same bits.
/// Stride 2 in float on AVX-512 sums in the phases (Stride2Phases) at any row length, or
/// with Stride2Row where the phases do not apply.
template <class T, bool VectorRows = true>
void col2im(const ConvGeometry& g, const ConvTables& tables, int batch, const T* cols, T* images, const T* channel_bias = nullptr) {
  const int K = g.kernel, S = g.stride, OW = g.out_width, ohw = g.out_size();
  const std::size_t ld = std::size_t(batch) * ohw;
  if constexpr (VectorRows && has_stride2_rows<T>) {
    if (const Stride2Phases& p = tables.phases; p.usable) {  // sums in the phases, taps in order
      const int groups = (batch + Stride2Phases::group - 1) / Stride2Phases::group;
      parallel_for(std::ptrdiff_t(g.channels) * groups, double(batch) * g.col_rows() * ohw, [&](std::ptrdiff_t cg) {
        const int c = int(cg / groups), n0 = int(cg % groups) * Stride2Phases::group;
        const int samples = std::min(Stride2Phases::group, batch - n0);
        float* phases = phase_scratch(std::size_t(samples) * p.floats);
        std::fill(phases, phases + std::size_t(samples) * p.floats, channel_bias ? channel_bias[c] : 0.f);
        // Tables in locals: the vector stores may alias anything, and reloading the vectors'
        // data pointers after each one cost a quarter of col2im's instructions.
        const Stride2Phases::Add* adds = p.adds.data();
        const int* target_adds = p.target_adds.data();
        const int targets = int(p.target_adds.size()) - 1;
        const std::size_t floats = std::size_t(p.floats);
        for (int s = 0; s < samples; ++s) {
          const T* src = cols + std::size_t(c) * K * K * ld + std::size_t(n0 + s) * ohw;
          float* plane = phases + std::size_t(s) * floats;
          for (int v = 0; v < targets; ++v)
            sum_windows(plane, src, ld, adds + target_adds[v], adds + target_adds[v + 1]);
        }
        const int phase_size = p.phase_size(), pw = p.pw, first_h = p.first_h, first_w = p.first_w;
        const int height = g.height, width = g.width;
        for (int s = 0; s < samples; ++s) {
          const float* plane = phases + std::size_t(s) * floats;
          T* img = images + (std::size_t(n0 + s) * g.channels + c) * g.image_size();
          for (int ih = 0; ih < height; ++ih) {
            const float* row = plane + (ih - first_h) % 2 * 2 * phase_size + (ih - first_h) / 2 * pw - first_w / 2;
            interleave_pairs(row, row + phase_size, img + std::size_t(ih) * width, width);
          }
        }
      });
      return;
    }
    if (S == 2 && OW >= stride2_rows_min_length && OW <= Stride2Row::max_length && K <= 16) {  // whole rows with vector permutes (same order of summation)
      parallel_for(std::ptrdiff_t(batch) * g.channels, double(batch) * g.col_rows() * ohw, [&](std::ptrdiff_t nc) {
        const int n = int(nc / g.channels), c = int(nc % g.channels);
        std::array<Stride2Row, 16> segments;
        for (int kw = 0; kw < K; ++kw) segments[std::size_t(kw)] = Stride2Row(kw - g.pad_left, g.width, OW);
        T* img = images + std::size_t(nc) * g.image_size();
        std::fill(img, img + g.image_size(), channel_bias ? channel_bias[c] : T(0));
        for (int kh = 0; kh < K; ++kh)
          for (int kw = 0; kw < K; ++kw) {
            const T* src = cols + (std::size_t(c) * K * K + kh * K + kw) * ld + std::size_t(n) * ohw;
            const Stride2Row& segment = segments[std::size_t(kw)];
            for (int oh = 0; oh < g.out_height; ++oh) {
              const int ih = oh * 2 - g.pad_top + kh;
              if (ih >= 0 && ih < g.height) segment.scatter_add(src + std::size_t(oh) * OW, img + std::size_t(ih) * g.width);
            }
          }
      });
      return;
    }
  }
  if (S > 1) {  // short strided segments: walk the offset table (same order of summation)
    const int KK = K * K;
    const int* offsets = tables.taps.data();
    parallel_for(std::ptrdiff_t(batch) * g.channels, double(batch) * g.col_rows() * ohw, [&](std::ptrdiff_t nc) {
      const int n = int(nc / g.channels), c = int(nc % g.channels);
      T* img = images + std::size_t(nc) * g.image_size();
      std::fill(img, img + g.image_size(), channel_bias ? channel_bias[c] : T(0));
      for (int kk = 0; kk < KK; ++kk) {
        const int* off = offsets + std::size_t(kk) * ohw;
        const T* src = cols + (std::size_t(c) * KK + kk) * ld + std::size_t(n) * ohw;
        for (int j = 0; j < ohw; ++j)
          if (off[j] >= 0) img[off[j]] += src[j];
      }
    });
    return;
  }
  parallel_for(std::ptrdiff_t(batch) * g.channels, double(batch) * g.col_rows() * ohw, [&](std::ptrdiff_t nc) {
    const int n = int(nc / g.channels), c = int(nc % g.channels);
    T* img = images + std::size_t(nc) * g.image_size();
    std::fill(img, img + g.image_size(), channel_bias ? channel_bias[c] : T(0));
    for (int kh = 0; kh < K; ++kh)
      for (int kw = 0; kw < K; ++kw) {
        const int ow_begin = std::clamp((g.pad_left - kw + S - 1) / S, 0, OW);
        const int ow_end = std::clamp((g.width + g.pad_left - kw + S - 1) / S, ow_begin, OW);
        const T* src = cols + (std::size_t(c) * K * K + kh * K + kw) * ld + std::size_t(n) * ohw;
        for (int oh = 0; oh < g.out_height; ++oh) {
          const int ih = oh * S - g.pad_top + kh;
          if (ih < 0 || ih >= g.height) continue;
          T* dst = img + std::size_t(ih) * g.width - g.pad_left + kw;
          const T* s = src + std::size_t(oh) * OW;
          if (S == 1)
            for (int ow = ow_begin; ow < ow_end; ++ow) dst[ow] += s[ow];
          else
            for (int ow = ow_begin; ow < ow_end; ++ow) dst[std::size_t(ow) * S] += s[ow];
        }
      }
  });
}

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

/// cm[c][n * spatial + s] = nchw[n][c][s].
template <class T>
void to_channel_major(int batch, int channels, int spatial, const T* nchw, T* cm) {
  const std::size_t ld = std::size_t(batch) * spatial;
  parallel_for(channels, double(batch) * channels * spatial, [&](std::ptrdiff_t c) {
    for (int n = 0; n < batch; ++n)
      std::memcpy(cm + std::size_t(c) * ld + std::size_t(n) * spatial,
                  nchw + (std::size_t(n) * channels + c) * spatial, sizeof(T) * spatial);
  });
}

/// nchw[n][c][s] = cm[c][n * spatial + s].
template <class T>
void from_channel_major(int batch, int channels, int spatial, const T* cm, T* nchw) {
  const std::size_t ld = std::size_t(batch) * spatial;
  parallel_for(channels, double(batch) * channels * spatial, [&](std::ptrdiff_t c) {
    for (int n = 0; n < batch; ++n)
      std::memcpy(nchw + (std::size_t(n) * channels + c) * spatial,
                  cm + std::size_t(c) * ld + std::size_t(n) * spatial, sizeof(T) * spatial);
  });
}

/// Floats from one position to the next in the batch-minor layout below: rows x lanes, plus
/// one row. Without the extra row, positions of 256 rows x 32 lanes lay 32 KiB apart, all in
/// one L1 set, and the transpose writing them ran 2.3 times slower.
constexpr std::size_t batch_minor_stride(int rows, int lanes) { return (std::size_t(rows) + 1) * lanes; }

/// x[p * x_stride + r * lanes + n] = src[(n * rows + r) * positions + p] for n < nb <= lanes:
/// nb samples of rows x positions each, transposed to [position][row][sample], the layout
/// PhasedRaise and IndirectLower read, where one pass's samples fill a column tile's lanes.
/// x_stride: batch_minor_stride(rows, lanes).
inline void to_batch_minor(int nb, int rows, int positions, const float* src, int lanes, float* x,
                           std::size_t x_stride) {
  const std::size_t sample = std::size_t(rows) * positions;
  parallel_for(rows, double(nb) * rows * positions, [&](std::ptrdiff_t r) {
    transpose_block(src + std::size_t(r) * positions, sample, nb, positions, x + std::size_t(r) * lanes, x_stride);
  });
}

}  // namespace ganad::kernels
