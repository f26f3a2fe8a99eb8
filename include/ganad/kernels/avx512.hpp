/// AVX-512 helpers the convolution and GEMM kernels use where the machine has them, with a
/// has_* constant each so that callers fall back to portable code elsewhere: stride-2 row
/// gathers and scatters, the phase path's window moves, and masked partial vectors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

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
  /// (The all-lanes maskz permute: g++ 12's plain _mm512_permutexvar_ps passes an undefined
  /// vector through, which -Wmaybe-uninitialized flags at -O3, GCC PR 105593.)
  void scatter_add([[maybe_unused]] const float* src, [[maybe_unused]] float* row) const {
#if defined(__AVX512F__)
    const __m512i spread_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i spread_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    for (int c = 0; c < chunks_; ++c) {
      const int base = first_ + 32 * c;
      const __m512 s = _mm512_maskz_loadu_ps(outputs_[c], src + 16 * c);
      if (add_a_[c]) {
        void* p = address(row, base);
        _mm512_mask_storeu_ps(p, add_a_[c], _mm512_add_ps(_mm512_maskz_loadu_ps(add_a_[c], p), _mm512_maskz_permutexvar_ps(0xFFFF, spread_lo, s)));
      }
      if (add_b_[c]) {
        void* p = address(row, base + 16);
        _mm512_mask_storeu_ps(p, add_b_[c], _mm512_add_ps(_mm512_maskz_loadu_ps(add_b_[c], p), _mm512_maskz_permutexvar_ps(0xFFFF, spread_hi, s)));
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

}  // namespace ganad::kernels
