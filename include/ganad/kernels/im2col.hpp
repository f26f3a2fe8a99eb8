/// im2col and col2im over a batch, for any kernel size, stride and (asymmetric) padding: the
/// column matrix of a convolution's lowered product, and its adjoint, which sums columns
/// back into an image in a fixed order.
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

namespace ganad::kernels {

/// cols[(c, kh, kw)][n * OH*OW + oh * OW + ow] = image[n, c, oh*S - pad_top + kh, ow*S - pad_left + kw]
/// (0 outside the image). images: batch x C x H x W. cols: col_rows() x (batch * out_size()).
/// tables: conv_tables(g). Stride 2 in float on AVX-512 (has_stride2_rows) runs the phase
/// windows for rows shorter than stride2_rows_min_length and Stride2Row for longer ones;
/// other strides the scalar loops. VectorRows = false forces the scalar loops: a test hook,
/// kept so that the tests can compare every vector path with them on the same machine (it
/// is a template argument: the library's instantiation carries no branch for it).
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

}  // namespace ganad::kernels
