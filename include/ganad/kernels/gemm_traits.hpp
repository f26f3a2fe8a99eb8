/// The GEMM's vocabulary: op(X), the fused epilogue, and gemm_traits, the tuning constants
/// per scalar type and SIMD width (register tile, cache blocks), as Eigen's gebp_traits.
#pragma once

#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

/// op(X) = X or its transpose.
enum class Trans { no, yes };

/// Applied once to every element of C after the product: C[i, j] = act(C[i, j] + row_bias[i]
/// + col_bias[j]). Null biases are skipped.
template <class T>
struct Epilogue {
  const T* row_bias = nullptr;
  const T* col_bias = nullptr;
  Activation act = Activation::identity;
  T slope = T(0);
};

/// Tuning constants per scalar type and SIMD arch (as Eigen's gebp_traits). Measured on the
/// AVX-512 machines here (docs/benchmarks.md): an 8 x 2L tile (16 accumulators) beat 14 x 2L,
/// 12 x 2L, 10 x 2L, 8 x 3L and 6 x 4L on every DCGAN shape, by 5-30%, and KC = 256 beat
/// 192, 320 and 384. A 7-row tile serves M = 49 (ConvTranspose 64->1, k7), which 8 pads to 56.
template <class T>
struct gemm_traits {
  static constexpr int L = int(simd_width<T>);
  static constexpr int NV = 2;  // SIMD registers across a tile row
  static constexpr int NR = NV * L;
  // MR x NV accumulators + NV B registers + 1 broadcast must fit the register file.
  static constexpr int MR = simd_registers >= 32 ? 8 : 6;
  static constexpr int MR_short = simd_registers >= 32 ? 7 : 4;  // used when it pads fewer rows
  static constexpr int KC = 256;
  static constexpr int MC = 168;  // a multiple of both row tiles
  static constexpr int NC = 4096;
};

namespace detail {
/// Row tile for M rows: the short one when it pads fewer rows (M = 49), else the tall one.
template <class T>
constexpr bool uses_short_rows(int M) {
  using Tr = gemm_traits<T>;
  return (M + Tr::MR_short - 1) / Tr::MR_short * Tr::MR_short < (M + Tr::MR - 1) / Tr::MR * Tr::MR;
}
}  // namespace detail

}  // namespace ganad::kernels
