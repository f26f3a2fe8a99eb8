/// Register transposes (AVX, float): an 8 x 8 block in registers, and a whole matrix in such
/// blocks. The GEMM's packers and the convolutions' layout changes use them.
#pragma once

#include <cstddef>
#include <type_traits>

#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

/// Whether transpose_8x8 exists here (AVX, float).
template <class T>
inline constexpr bool has_transpose_8x8 =
#if defined(__AVX__)
    std::is_same_v<T, float>;
#else
    false;
#endif

/// dst[k * dst_ld + i] = src[i * ld + k] for i, k < 8: an 8 x 8 block transposed in registers
/// (the GEMM's A packer, which otherwise moves one float at a time with a stride of 8).
/// @pre has_transpose_8x8<float>
[[gnu::always_inline]] inline void transpose_8x8([[maybe_unused]] const float* src, [[maybe_unused]] std::size_t ld,
                                                 [[maybe_unused]] float* dst, [[maybe_unused]] std::size_t dst_ld = 8) {
#if defined(__AVX__)
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld), r2 = _mm256_loadu_ps(src + 2 * ld),
         r3 = _mm256_loadu_ps(src + 3 * ld), r4 = _mm256_loadu_ps(src + 4 * ld), r5 = _mm256_loadu_ps(src + 5 * ld),
         r6 = _mm256_loadu_ps(src + 6 * ld), r7 = _mm256_loadu_ps(src + 7 * ld);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
               u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
               u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
               u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst + 0 * dst_ld, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * dst_ld, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * dst_ld, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * dst_ld, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * dst_ld, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * dst_ld, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * dst_ld, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * dst_ld, _mm256_permute2f128_ps(u3, u7, 0x31));
#endif
}

/// dst[j * dst_ld + i] = src[i * src_ld + j] for i < rows, j < cols: a matrix transposed,
/// in 8 x 8 register blocks where they fit (has_transpose_8x8), element by element elsewhere.
inline void transpose_block(const float* src, std::size_t src_ld, int rows, int cols, float* dst, std::size_t dst_ld) {
  int i0 = 0;
  if constexpr (has_transpose_8x8<float>) {
    for (; i0 + 8 <= rows; i0 += 8) {
      int j0 = 0;
      for (; j0 + 8 <= cols; j0 += 8) transpose_8x8(src + i0 * src_ld + j0, src_ld, dst + j0 * dst_ld + i0, dst_ld);
      for (int i = i0; i < i0 + 8; ++i)
        for (int j = j0; j < cols; ++j) dst[j * dst_ld + i] = src[i * src_ld + j];
    }
  }
  for (int i = i0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) dst[j * dst_ld + i] = src[i * src_ld + j];
}

}  // namespace ganad::kernels
