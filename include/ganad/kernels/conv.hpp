/// The primitives both convolution layers are built from: im2col and col2im over a batch,
/// for any kernel size, stride and (asymmetric) padding, and the permutations between
/// batch-major NCHW and channel-major [C][N*H*W] layouts. One ConvGeometry describes a
/// convolution from its "image" side (C x H x W, zero-padded) to its "column" side (OH x OW).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <vector>

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

/// Output rows at least this long take the Stride2Row path for stride 2; shorter ones the
/// table loop. Measured (fwd+bwd, 1 and 2 threads): rows of 14 (ConvT 128->64) 8-10% faster
/// with Stride2Row; rows of 7 (Conv 64->128, ConvT 256->128) 4-10% faster with the table
/// loop, where a row is less than half a vector.
inline constexpr int stride2_rows_min_length = 12;

/// cols[(c, kh, kw)][n * OH*OW + oh * OW + ow] = image[n, c, oh*S - pad_top + kh, ow*S - pad_left + kw]
/// (0 outside the image). images: batch x C x H x W. cols: col_rows() x (batch * out_size()).
/// taps: tap_offsets(g) (read for strides above 1). Stride 2 in float runs whole rows with
/// AVX-512 permutes (has_stride2_rows) when OW >= stride2_rows_min_length; VectorRows = false
/// keeps the scalar loops (for tests).
template <class T, bool VectorRows = true>
void im2col(const ConvGeometry& g, const int* taps, int batch, const T* images, T* cols) {
  const int K = g.kernel, S = g.stride, OW = g.out_width, KK = K * K, ohw = g.out_size();
  const std::size_t ld = std::size_t(batch) * ohw;
  if constexpr (VectorRows && has_stride2_rows<T>) {
    if (S == 2 && OW >= stride2_rows_min_length && OW <= Stride2Row::max_length) {  // whole output rows with vector permutes
      parallel_for(g.col_rows(), double(g.col_rows()) * ld, [&](std::ptrdiff_t row) {
        const int c = int(row) / KK, kh = int(row) / K % K, kw = int(row) % K;
        const Stride2Row segment(kw - g.pad_left, g.width, OW);
        for (int n = 0; n < batch; ++n) {
          const T* img = images + (std::size_t(n) * g.channels + c) * g.image_size();
          T* dst = cols + std::size_t(row) * ld + std::size_t(n) * ohw;
          for (int oh = 0; oh < g.out_height; ++oh, dst += OW) {
            const int ih = oh * 2 - g.pad_top + kh;
            if (ih < 0 || ih >= g.height) std::fill(dst, dst + OW, T(0));
            else segment.gather(img + std::size_t(ih) * g.width, dst);
          }
        }
      });
      return;
    }
  }
  if (S > 1) {  // short strided segments: walk the offset table
    const int* offsets = taps;
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
/// result does not depend on the number of threads. Stride 2 as in im2col.
template <class T, bool VectorRows = true>
void col2im(const ConvGeometry& g, const int* taps, int batch, const T* cols, T* images, const T* channel_bias = nullptr) {
  const int K = g.kernel, S = g.stride, OW = g.out_width, ohw = g.out_size();
  const std::size_t ld = std::size_t(batch) * ohw;
  if constexpr (VectorRows && has_stride2_rows<T>) {
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
    const int* offsets = taps;
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

}  // namespace ganad::kernels
