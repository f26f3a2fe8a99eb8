/// The bf16 GEMM's ISA-specific pieces (AVX512_BF16 intrinsics; xsimd 8.1 has no bf16): the
/// fp32 panels of gemm_pack.hpp converted to k-interleaved bf16 pairs (one 32-bit lane holds
/// op(X)[k][j] and op(X)[k+1][j]), and the micro-kernel that sums them in fp32 (VDPBF16PS).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "ganad/kernels/gemm_micro_kernel.hpp"
#include "ganad/kernels/gemm_traits.hpp"
#include "ganad/kernels/precision.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

/// Whether the bf16 tiles below exist in this build: float products with AVX-512 tiles of
/// 32 columns and the AVX512_BF16 instructions.
inline constexpr bool has_bf16_tiles = bf16_compiled && gemm_traits<float>::NR == 32;

namespace detail {

/// A bf16 pair panel: per pair of k rows, one 32-bit lane per row (of A) or column (of B).
using Bf16Pair = std::uint32_t;

#if defined(__AVX512BF16__) && defined(__AVX512F__)
/// The lanes (x0, y0, x1, y1, ...) of two rows x (lanes 0..n-1 of `both`) and y (lanes
/// n..2n-1): the interleaving of a pair of k rows of an n-wide panel (n <= 8).
inline __m512i pair_index(int n) {
  alignas(64) std::int32_t idx[16] = {};
  for (int l = 0; l < 2 * n; ++l) idx[l] = l / 2 + (l % 2) * n;
  return _mm512_load_si512(idx);
}
#endif

/// An fp32 A panel (kc x MR, k-major, as pack_a makes it) as ceil(kc/2) x MR bf16 pairs; an
/// odd kc pairs its last row with zeros. @pre has_bf16_tiles
template <int MR>
inline void to_bf16_pairs_a([[maybe_unused]] const float* panel, [[maybe_unused]] int kc, [[maybe_unused]] Bf16Pair* out) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  static_assert(MR <= 8, "to_bf16_pairs_a: two rows of the panel per 16-lane vector");
  const __m512i idx = pair_index(MR);
  const int full = kc / 2;
  for (int p = 0; p < full; ++p, out += MR) {
    const __m512 both = _mm512_maskz_loadu_ps(__mmask16((1u << (2 * MR)) - 1u), panel + std::size_t(2 * p) * MR);
    _mm256_mask_storeu_epi16(out, __mmask16((1u << (2 * MR)) - 1u),
                             (__m256i)_mm512_cvtneps_pbh(_mm512_permutexvar_ps(idx, both)));
  }
  if (kc % 2) {
    const __m512 last = _mm512_maskz_loadu_ps(__mmask16((1u << MR) - 1u), panel + std::size_t(2 * full) * MR);
    _mm256_mask_storeu_epi16(out, __mmask16((1u << (2 * MR)) - 1u),
                             (__m256i)_mm512_cvtneps_pbh(_mm512_permutexvar_ps(idx, last)));
  }
#endif
}

/// An fp32 B panel (kc x 32, k-major, as pack_b_panel makes it) as ceil(kc/2) x 32 bf16
/// pairs; an odd kc pairs its last row with zeros. @pre has_bf16_tiles
inline void to_bf16_pairs_b([[maybe_unused]] const float* panel, [[maybe_unused]] int kc, [[maybe_unused]] Bf16Pair* out) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int k = 0; k < kc; k += 2, panel += 64, out += 32) {
    const bool pair = k + 1 < kc;
    for (int v = 0; v < 2; ++v) {
      const __m512 x = _mm512_load_ps(panel + 16 * v);
      const __m512 y = pair ? _mm512_load_ps(panel + 32 + 16 * v) : _mm512_setzero_ps();
      // cvtne2ps_pbh(a, b): lanes 0..15 from b, 16..31 from a; each 32-bit lane a (x_j, y_j) pair
      _mm512_store_si512(out + 16 * v, (__m512i)_mm512_cvtne2ps_pbh(_mm512_permutex2var_ps(x, hi, y),
                                                                     _mm512_permutex2var_ps(x, lo, y)));
    }
  }
#endif
}

/// One pair of k rows of a tile: acc += a (MR pairs, broadcast) x b (32 pairs, aligned).
/// @pre has_bf16_tiles
template <int MR>
[[gnu::always_inline]] inline void pair_update([[maybe_unused]] simd<float> (&acc)[MR][2], [[maybe_unused]] const Bf16Pair* __restrict a,
                                               [[maybe_unused]] const Bf16Pair* __restrict b) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    // (A broadcast folded into VDPBF16PS as a {1to16} memory operand, through inline asm, was
    // 30% slower here: the asm blocks GCC's scheduling.)
    ((acc[I / 2][I % 2] = simd<float>(_mm512_dpbf16_ps(acc[I / 2][I % 2], I % 2 ? b1 : b0, (__m512bh)_mm512_set1_epi32(int(a[I / 2]))))), ...);
  }(std::make_integer_sequence<int, MR * 2>{});
#endif
}

/// The bf16 micro-kernel: acc = Apairs (MR x kc) * Bpairs (kc x 32) summed in fp32, two k per
/// instruction, then merged into C by merge_tile, as micro_kernel<float>. @pre has_bf16_tiles
template <int MR, bool Partial = false>
[[gnu::always_inline]] inline void micro_kernel_bf16([[maybe_unused]] int kc, [[maybe_unused]] const Bf16Pair* __restrict a,
                                                     [[maybe_unused]] const Bf16Pair* __restrict b, [[maybe_unused]] float* c,
                                                     [[maybe_unused]] int ldc, [[maybe_unused]] const TileStore<float>& st,
                                                     [[maybe_unused]] const float* row_bias,
                                                     [[maybe_unused]] const float* col_bias, [[maybe_unused]] int n = 0) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  using V = simd<float>;
  V acc[MR][2];
  start_tile<float, MR>(acc, c, ldc, st);
  const int pairs = (kc + 1) / 2;
#pragma GCC unroll 4
  for (int p = 0; p < pairs; ++p, a += MR, b += 32) pair_update<MR>(acc, a, b);
  merge_tile<float, MR, Partial>(acc, c, ldc, st, row_bias, col_bias, n);
#endif
}

}  // namespace detail
}  // namespace ganad::kernels
