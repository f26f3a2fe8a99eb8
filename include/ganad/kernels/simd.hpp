/// The only file that names xsimd. Everything SIMD in ganad goes through these aliases and
/// helpers, so an xsimd upgrade (8.1 in Debian 12, reduce_add from 9 on) changes this file
/// only. One arch per program: every translation unit must be built with the same -m flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

// GCC 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsics (the
// _mm512_undefined_ps() operand, GCC PR 105593) wherever they are inlined. The warning is
// attributed to the intrinsic headers, so silencing it across their inclusion is enough,
// provided ganad is included before anything else that includes <immintrin.h> (Eigen).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#ifndef GANAD_SIMD_ARCH
#define GANAD_SIMD_ARCH xsimd::default_arch
#endif

namespace ganad {
namespace kernels {

using simd_arch = GANAD_SIMD_ARCH;
template <class T>
using simd = xsimd::batch<T, simd_arch>;
template <class T>
inline constexpr std::size_t simd_width = simd<T>::size;
/// Registers available to a micro-kernel: 32 with AVX-512 (and NEON64), 16 otherwise.
inline constexpr int simd_registers =
#if defined(__AVX512F__) || defined(__aarch64__)
    32;
#else
    16;
#endif

/// a * b + c in one rounding. xsimd 8.1 has no AVX-512 fma kernel (it would rely on the
/// compiler contracting a*b+c), so call the intrinsic there.
template <class T>
[[gnu::always_inline]] inline simd<T> fmadd(const simd<T>& a, const simd<T>& b, const simd<T>& c) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, simd_arch>) {
    if constexpr (std::is_same_v<T, float>) return simd<T>(_mm512_fmadd_ps(a, b, c));
    else return simd<T>(_mm512_fmadd_pd(a, b, c));
  } else
#endif
    return xsimd::fma(a, b, c);
}

/// Sum of the lanes (hadd in xsimd 8, reduce_add from 9).
template <class T>
[[gnu::always_inline]] inline T reduce_sum(const simd<T>& v) {
  return xsimd::hadd(v);
}

template <class T>
[[gnu::always_inline]] inline simd<T> load(const T* p) {
  return simd<T>::load_unaligned(p);
}
template <class T>
[[gnu::always_inline]] inline void store(T* p, const simd<T>& v) {
  v.store_unaligned(p);
}
template <class T>
[[gnu::always_inline]] inline simd<T> tanh(const simd<T>& v) {
  return xsimd::tanh(v);
}
template <class T>
[[gnu::always_inline]] inline simd<T> exp(const simd<T>& v) {
  return xsimd::exp(v);
}
template <class T>
[[gnu::always_inline]] inline simd<T> sqrt(const simd<T>& v) {
  return xsimd::sqrt(v);
}
template <class T>
[[gnu::always_inline]] inline simd<T> max(const simd<T>& a, const simd<T>& b) {
  return xsimd::max(a, b);
}
template <class T>
[[gnu::always_inline]] inline simd<T> abs(const simd<T>& a) {
  return xsimd::abs(a);
}
/// Stores to 64-byte aligned p bypassing the caches (no read-for-ownership of the line):
/// for large outputs written once. Falls back to an aligned store without AVX/AVX-512.
/// Call stream_fence() before other threads read what was streamed.
template <class T>
[[gnu::always_inline]] inline void stream_store(T* p, const simd<T>& v) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, simd_arch>) {
    if constexpr (std::is_same_v<T, float>) _mm512_stream_ps(p, v);
    else _mm512_stream_pd(p, v);
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (std::is_base_of_v<xsimd::avx, simd_arch> && !std::is_base_of_v<xsimd::avx512f, simd_arch>) {
    if constexpr (std::is_same_v<T, float>) _mm256_stream_ps(p, v);
    else _mm256_stream_pd(p, v);
    return;
  }
#endif
  v.store_aligned(p);
}
inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}
/// Whether stream_store has a non-temporal form here.
inline constexpr bool has_stream_store =
#if defined(__AVX__)
    true;
#else
    false;
#endif

/// x > 0 ? a : b, lane by lane.
template <class T>
[[gnu::always_inline]] inline simd<T> select_positive(const simd<T>& x, const simd<T>& a, const simd<T>& b) {
  return xsimd::select(x > simd<T>(T(0)), a, b);
}

/// Whether the stride-2 row helpers below exist for T here (AVX-512, float): strided
/// im2col and col2im use them, and fall back to scalar loops otherwise.
template <class T>
inline constexpr bool has_stride2_rows =
#if defined(__AVX512F__)
    std::is_same_v<T, float> && std::is_base_of_v<xsimd::avx512f, simd_arch>;
#else
    false;
#endif

/// One row segment of a stride-2 im2col or col2im, for a fixed start, row width and length:
/// output j <-> row position first + 2 j (j < n). The masks depend only on those three, so
/// they are made once per kernel tap and reused for every row of every image: the DCGAN's
/// rows are 7 or 14 long, and recomputing the masks per row cost more than the scalar loop.
/// @pre has_stride2_rows<float> for gather and scatter_add; n <= max_length.
class Stride2Row {
 public:
  static constexpr int max_length = 256;
  Stride2Row() = default;  // empty: no chunks
  Stride2Row([[maybe_unused]] int first, [[maybe_unused]] int width, [[maybe_unused]] int n) : first_(first) {
#if defined(__AVX512F__)
    chunks_ = (n + 15) / 16;
    for (int c = 0; c < chunks_; ++c) {
      const int j0 = 16 * c, base = first + 2 * j0;  // row position of lane 0 of the chunk's first load
      const int sources = 2 * (n - j0) - 1;          // even lanes below this map to one of the sources
      load_a_[c] = lane_range(-base, width - base);
      load_b_[c] = lane_range(-base - 16, width - base - 16);
      outputs_[c] = lane_range(0, n - j0);
      add_a_[c] = __mmask16(0x5555) & load_a_[c] & lane_range(0, sources);
      add_b_[c] = __mmask16(0x5555) & load_b_[c] & lane_range(0, sources - 16);
    }
#endif
  }

  /// dst[j] = row[first + 2 j], 0 where that lies outside [0, width): 16 outputs per two
  /// masked loads and a permute.
  void gather([[maybe_unused]] const float* row, [[maybe_unused]] float* dst) const {
#if defined(__AVX512F__)
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int c = 0; c < chunks_; ++c) {
      const int base = first_ + 32 * c;
      const __m512 a = _mm512_maskz_loadu_ps(load_a_[c], address(row, base));
      const __m512 b = _mm512_maskz_loadu_ps(load_b_[c], address(row, base + 16));
      _mm512_mask_storeu_ps(dst + 16 * c, outputs_[c], _mm512_permutex2var_ps(a, even, b));
    }
#endif
  }

  /// row[first + 2 j] += src[j] where that lies inside [0, width). Each row element gets at
  /// most one add per call, a plain float add as in the scalar loop: bit-identical results.
  void scatter_add([[maybe_unused]] const float* src, [[maybe_unused]] float* row) const {
#if defined(__AVX512F__)
    const __m512i spread_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i spread_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    for (int c = 0; c < chunks_; ++c) {
      const int base = first_ + 32 * c;
      const __m512 s = _mm512_maskz_loadu_ps(outputs_[c], src + 16 * c);
      if (add_a_[c]) {
        void* p = address(row, base);
        _mm512_mask_storeu_ps(p, add_a_[c], _mm512_add_ps(_mm512_maskz_loadu_ps(add_a_[c], p), _mm512_permutexvar_ps(spread_lo, s)));
      }
      if (add_b_[c]) {
        void* p = address(row, base + 16);
        _mm512_mask_storeu_ps(p, add_b_[c], _mm512_add_ps(_mm512_maskz_loadu_ps(add_b_[c], p), _mm512_permutexvar_ps(spread_hi, s)));
      }
    }
#endif
  }

 private:
#if defined(__AVX512F__)
  /// Lanes [lo, hi) of a 16-lane mask (empty when hi <= lo).
  static __mmask16 lane_range(int lo, int hi) {
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? __mmask16(0) : __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  /// row + i as an address only: masked loads and stores never touch the lanes outside the
  /// row, but forming row - 1 as a pointer would be undefined behaviour.
  static void* address(const float* row, int i) {
    return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(row) + std::intptr_t(i) * std::intptr_t(sizeof(float)));
  }
  static constexpr int max_chunks = max_length / 16;
  int chunks_ = 0;
  __mmask16 load_a_[max_chunks], load_b_[max_chunks], outputs_[max_chunks], add_a_[max_chunks], add_b_[max_chunks];
#endif
  int first_ = 0;
};

/// Asks for [p, p + bytes) to be brought into the caches, one prefetch per 64-byte line.
inline void prefetch_range(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (std::size_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i);
  if (bytes) __builtin_prefetch(c + bytes - 1);
}

/// The three moves of the stride-2 phase path (conv.hpp, Stride2Phases), in float with
/// AVX-512; lane masks are bit l for lane l. @pre has_stride2_rows<float>

/// For t < taps: dst[t * dst_stride + l] = src[offsets[t] + index[l]] for l < count, every
/// index below 32 (one pattern at many offsets: two loads and a permute per row).
/// src[offsets[t], offsets[t] + 32) must be readable.
inline void gather_windows([[maybe_unused]] const float* src, [[maybe_unused]] const int* offsets,
                           [[maybe_unused]] int taps, [[maybe_unused]] const int* index, [[maybe_unused]] float* dst,
                           [[maybe_unused]] std::size_t dst_stride, [[maybe_unused]] int count) {
#if defined(__AVX512F__)
  const __m512i idx = _mm512_loadu_si512(index);
  const __mmask16 lanes = __mmask16((1u << count) - 1u);
  for (int t = 0; t < taps; ++t, dst += dst_stride) {
    const float* w = src + offsets[t];
    _mm512_mask_storeu_ps(dst, lanes, _mm512_permutex2var_ps(_mm512_loadu_ps(w), idx, _mm512_loadu_ps(w + 16)));
  }
#endif
}

/// The adds [first, last), all aimed at the same 16 floats acc = plane + first->offset, in
/// order: acc[l] += w[add->index[l]] on the lanes add->lanes (plain adds, the other lanes
/// untouched), w = src + add->tap * ld + add->source, of whose [0, 32) only the lanes
/// readable_lo (of the first 16) and readable_hi (of the next 16) are read. acc is 64-byte
/// aligned and stays in a register (tap by tap, it went through memory at every add).
template <class Add>
[[gnu::always_inline]] inline void sum_windows([[maybe_unused]] float* plane, [[maybe_unused]] const float* src,
                                               [[maybe_unused]] std::size_t ld, [[maybe_unused]] const Add* first,
                                               [[maybe_unused]] const Add* last) {
#if defined(__AVX512F__)
  float* target = plane + first->offset;
  __m512 acc = _mm512_load_ps(target);
  for (const Add* add = first; add != last; ++add) {
    const float* window = src + std::size_t(add->tap) * ld + add->source;
    const __m512 lo = _mm512_maskz_loadu_ps(__mmask16(add->readable_lo), window);
    const __m512 hi = _mm512_maskz_loadu_ps(__mmask16(add->readable_hi), window + 16);
    acc = _mm512_mask_add_ps(acc, add->lanes, acc, _mm512_permutex2var_ps(lo, _mm512_load_si512(add->index.data()), hi));
  }
  _mm512_store_ps(target, acc);
#endif
}

/// dst[2 i] = even[i] and dst[2 i + 1] = odd[i], for the first `count` entries of dst;
/// even and odd are read in whole vectors (16 floats per 32 entries of dst).
[[gnu::always_inline]] inline void interleave_pairs([[maybe_unused]] const float* even, [[maybe_unused]] const float* odd,
                                                    [[maybe_unused]] float* dst, [[maybe_unused]] int count) {
#if defined(__AVX512F__)
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int j = 0; j < count; j += 32, even += 16, odd += 16) {
    const __m512 e = _mm512_loadu_ps(even), o = _mm512_loadu_ps(odd);
    const int left = count - j;
    _mm512_mask_storeu_ps(dst + j, left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u),
                          _mm512_permutex2var_ps(e, lo, o));
    if (left > 16)
      _mm512_mask_storeu_ps(dst + j + 16, left >= 32 ? __mmask16(0xffff) : __mmask16((1u << (left - 16)) - 1u),
                            _mm512_permutex2var_ps(e, hi, o));
  }
#endif
}

/// Whether load_first / store_first exist for T here (AVX-512 masks).
template <class T>
inline constexpr bool has_partial_vectors =
#if defined(__AVX512F__)
    std::is_base_of_v<xsimd::avx512f, simd_arch>;
#else
    false;
#endif
/// The first `count` lanes of p (0 < count <= simd_width<T>), the others 0; nothing past
/// p + count is read. @pre has_partial_vectors<T>
template <class T>
[[gnu::always_inline]] inline simd<T> load_first([[maybe_unused]] const T* p, [[maybe_unused]] int count) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) return simd<T>(_mm512_maskz_loadu_ps(__mmask16((1u << count) - 1u), p));
  else return simd<T>(_mm512_maskz_loadu_pd(__mmask8((1u << count) - 1u), p));
#else
  return simd<T>(T(0));
#endif
}
/// Stores the first `count` lanes of v at p; nothing past p + count is written.
/// @pre has_partial_vectors<T>
template <class T>
[[gnu::always_inline]] inline void store_first([[maybe_unused]] T* p, [[maybe_unused]] const simd<T>& v,
                                               [[maybe_unused]] int count) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) _mm512_mask_storeu_ps(p, __mmask16((1u << count) - 1u), v);
  else _mm512_mask_storeu_pd(p, __mmask8((1u << count) - 1u), v);
#endif
}

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

}  // namespace kernels

/// Name of the SIMD instruction set ganad was compiled for ("avx512bw", "avx2", "sse2", ...).
/// Code built without -march flags on x86-64 gets "sse2" and runs several times slower.
inline const char* simd_arch_name() { return kernels::simd_arch::name(); }

}  // namespace ganad
