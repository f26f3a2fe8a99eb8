/// The matrix-vector products (N == 1 or M == 1) the GEMM hands over, where a register tile
/// would compute 32 or 8 columns to keep one: dot products summed in SIMD lanes and reduced
/// in a fixed order, outputs split over threads, so the bits do not depend on the threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/gemm_traits.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {
namespace detail {

/// Matrix-vector cases (N == 1 or M == 1), where a register tile would compute 32 or 8
/// columns/rows to keep one. Each output is one dot product, summed in SIMD lanes and then
/// reduced in a fixed order; outputs are split over threads, so results are thread-independent.
template <class T>
void gemv(int rows, int K, const T* a, std::ptrdiff_t a_row, std::ptrdiff_t a_k, const T* x,
          std::ptrdiff_t x_k, T alpha, T beta, T* y, std::ptrdiff_t y_stride, const Epilogue<T>& ep,
          bool bias_per_row) {
  const bool contiguous = a_k == 1 && x_k == 1;
  parallel_for(rows, 2.0 * rows * K, [&](std::ptrdiff_t i) {
    const T* ai = a + i * a_row;
    T dot;
    if (contiguous) {
      constexpr int L = int(simd_width<T>);
      simd<T> acc(T(0));
      int k = 0;
      for (; k + L <= K; k += L) acc = fmadd(load(ai + k), load(x + k), acc);
      dot = reduce_sum(acc);
      for (; k < K; ++k) dot += ai[k] * x[k];
    } else {
      dot = T(0);
      for (int k = 0; k < K; ++k) dot += ai[k * a_k] * x[k * x_k];
    }
    T& out = y[i * y_stride];
    T v = alpha * dot + (beta == T(0) ? T(0) : beta * out);
    if (ep.row_bias) v += bias_per_row ? ep.row_bias[i] : ep.row_bias[0];
    if (ep.col_bias) v += bias_per_row ? ep.col_bias[0] : ep.col_bias[i];
    alignas(64) T lane[simd_width<T>] = {v};
    store(lane, activate<T>(ep.act, ep.slope, load(lane)));  // the same activation code as tiles
    out = lane[0];
  });
}

/// y (n, contiguous) = beta y + alpha sum_k coef[k * coef_stride] rows[k * row_stride + 0..n):
/// the other matrix-vector form, a combination of contiguous rows, added in k order.
template <class T>
void combine_rows(int n, int K, const T* rows, std::ptrdiff_t row_stride, const T* coef,
                  std::ptrdiff_t coef_stride, T alpha, T beta, T* y) {
  if (beta == T(0)) std::fill(y, y + n, T(0));
  else if (beta != T(1)) scale<T>(std::size_t(n), beta, y);
  for (int k = 0; k < K; ++k) axpy<T>(std::size_t(n), alpha * coef[k * coef_stride], rows + k * row_stride, y);
}

}  // namespace detail
}  // namespace ganad::kernels
