/// The xsimd shim: the only file that names xsimd. Everything portable-SIMD in ganad goes
/// through these aliases and helpers, so an xsimd upgrade (8.1 in Debian 12, reduce_add from 9
/// on) changes this file only. One arch per program: every translation unit must be built
/// with the same -m flags. ISA-specific helpers live in avx512.hpp and transpose.hpp.
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

/// Asks for [p, p + bytes) to be brought into the caches, one prefetch per 64-byte line.
inline void prefetch_range(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (std::size_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i);
  if (bytes) __builtin_prefetch(c + bytes - 1);
}

}  // namespace kernels

/// Name of the SIMD instruction set ganad was compiled for ("avx512bw", "avx2", "sse2", ...).
/// Code built without -march flags on x86-64 gets "sse2" and runs several times slower.
inline const char* simd_arch_name() { return kernels::simd_arch::name(); }

}  // namespace ganad
