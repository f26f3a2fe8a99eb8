/// Layout changes between a batch's NCHW and the layouts the products read: channel-major
/// [C][N*H*W], and batch-minor [position][channel][sample] for the batch-minor kernels.
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
#include "ganad/kernels/transpose.hpp"

namespace ganad::kernels {

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
