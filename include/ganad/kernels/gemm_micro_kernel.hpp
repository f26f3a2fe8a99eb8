/// The GEMM's register-blocked micro-kernel: an MR x NR tile of C accumulated in SIMD
/// registers over k (start_tile, rank1_update, merge_tile), with the fused epilogue and the
/// padded edge tiles. Other products (IndirectLower) reuse its three pieces.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/avx512.hpp"
#include "ganad/kernels/gemm_traits.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {
namespace detail {

/// How a tile's product merges into C.
template <class T>
struct TileStore {
  T alpha, beta;
  bool first;  // first k block: C = alpha*acc + beta*C (C not read when beta == 0)
  bool last;   // last k block: apply the epilogue
  bool stream;  // first, last and beta == 0 on a large, aligned C: store past the caches
  Activation act;
  T slope;
  bool row_bias_first = false;  // add row_bias in the first k block, not the last (a sum that starts from it)
};

/// The start of a tile's product: prefetches the C tile for writing (not when it is streamed
/// past the caches: that would read every line from memory only for the store to drop it)
/// and zeroes the accumulators.
template <class T, int MR>
[[gnu::always_inline]] inline void start_tile(simd<T> (&acc)[MR][gemm_traits<T>::NV], T* c, int ldc,
                                              const TileStore<T>& st) {
  constexpr int NV = gemm_traits<T>::NV, NR = gemm_traits<T>::NR;
  // Every lambda here is forced inline: at -O2 GCC otherwise keeps them out of line, and the
  // accumulators they capture by reference then live in memory (measured: 2.9x slower).
  if (!st.stream)
    [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
      ((__builtin_prefetch(c + std::size_t(I) * ldc, 1), __builtin_prefetch(c + std::size_t(I) * ldc + NR - 1, 1)), ...);
    }(std::make_integer_sequence<int, MR>{});
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    ((acc[I / NV][I % NV] = simd<T>(T(0))), ...);
  }(std::make_integer_sequence<int, MR * NV>{});
}

/// acc += a (MR values, broadcast) x b (NR values, aligned): one k step of a tile.
template <class T, int MR>
[[gnu::always_inline]] inline void rank1_update(simd<T> (&acc)[MR][gemm_traits<T>::NV], const T* __restrict a,
                                                const T* __restrict b) {
  using Tr = gemm_traits<T>;
  using V = simd<T>;
  constexpr int NV = Tr::NV, L = Tr::L;
  V bv[NV];
  [&]<int... J>(std::integer_sequence<int, J...>) __attribute__((always_inline)) {
    ((bv[J] = V::load_aligned(b + J * L)), ...);
  }(std::make_integer_sequence<int, NV>{});
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    ((acc[I / NV][I % NV] = fmadd(V(a[I / NV]), bv[I % NV], acc[I / NV][I % NV])), ...);
  }(std::make_integer_sequence<int, MR * NV>{});
}

/// The end of a tile's product: acc merged into the MR x NR tile at c (row stride ldc) as st
/// says. row_bias / col_bias point at this tile's entries (or are null). With Partial, only
/// the first n columns of C (and col_bias) are read and written, through masked loads and
/// stores (has_partial_vectors).
template <class T, int MR, bool Partial = false>
[[gnu::always_inline]] inline void merge_tile(const simd<T> (&acc)[MR][gemm_traits<T>::NV], T* c, int ldc,
                                              const TileStore<T>& st, const T* row_bias, const T* col_bias,
                                              [[maybe_unused]] int n = 0) {
  using Tr = gemm_traits<T>;
  using V = simd<T>;
  constexpr int NV = Tr::NV, L = Tr::L;
  const V valpha(st.alpha), vbeta(st.beta);
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    (
        [&]() __attribute__((always_inline)) {
          constexpr int i = I / NV, v = I % NV;
          T* cp = c + std::size_t(i) * ldc + v * L;
          [[maybe_unused]] const int lanes = Partial ? std::clamp(n - v * L, 0, L) : L;
          if constexpr (Partial) {
            if (lanes == 0) return;
          }
          const auto load_c = [&](const T* p) __attribute__((always_inline)) {
            if constexpr (Partial) return load_first(p, lanes);
            else return load(p);
          };
          V r = acc[i][v] * valpha;
          if (st.first) {
            if (st.beta != T(0)) r = fmadd(vbeta, load_c(cp), r);
            if (st.row_bias_first && row_bias) r = r + V(row_bias[i]);
          } else {
            r = load_c(cp) + r;
          }
          if (st.last) {
            if (row_bias && !st.row_bias_first) r = r + V(row_bias[i]);
            if (col_bias) r = r + load_c(col_bias + v * L);
            if (st.act != Activation::identity) r = activate<T>(st.act, st.slope, r);  // a call GCC may not inline
          }
          if constexpr (Partial) store_first(cp, r, lanes);
          else if (st.stream) stream_store(cp, r);
          else store(cp, r);
        }(),
        ...);
  }(std::make_integer_sequence<int, MR * NV>{});
}

/// The register-blocked kernel: acc = Apanel (MR x kc) * Bpanel (kc x NR), then merged into
/// the MR x NR tile at c as merge_tile says.
template <class T, int MR, bool Partial = false>
[[gnu::always_inline]] inline void micro_kernel(int kc, const T* __restrict a, const T* __restrict b, T* c, int ldc,
                         const TileStore<T>& st, const T* row_bias, const T* col_bias, [[maybe_unused]] int n = 0) {
  constexpr int NR = gemm_traits<T>::NR;
  simd<T> acc[MR][gemm_traits<T>::NV];
  start_tile<T, MR>(acc, c, ldc, st);
#pragma GCC unroll 4
  for (int k = 0; k < kc; ++k) {
    rank1_update<T, MR>(acc, a, b);
    a += MR;
    b += NR;
  }
  merge_tile<T, MR, Partial>(acc, c, ldc, st, row_bias, col_bias, n);
}

/// Runs kernel(tile, ld, store, row_bias, col_bias) on a padded local copy of a tile that C
/// cuts short (m < MR rows or n < NR columns), then copies the m x n part back: edge elements
/// see exactly the arithmetic of interior ones.
template <class T, int MR, class Kernel>
inline void on_padded_tile(T* c, int ldc, int m, int n, const TileStore<T>& st, const T* row_bias, const T* col_bias,
                           Kernel&& kernel) {
  constexpr int NR = gemm_traits<T>::NR;
  alignas(64) T tile[MR * NR] = {};
  alignas(64) T rb[MR] = {};
  alignas(64) T cb[NR] = {};
  const bool read_c = !st.first || st.beta != T(0);
  if (read_c)
    for (int i = 0; i < m; ++i) std::copy_n(c + std::size_t(i) * ldc, n, tile + i * NR);
  if (row_bias) std::copy_n(row_bias, m, rb);
  if (col_bias) std::copy_n(col_bias, n, cb);
  TileStore<T> local = st;
  local.stream = false;
  kernel(tile, NR, local, row_bias ? rb : nullptr, col_bias ? cb : nullptr);
  for (int i = 0; i < m; ++i) std::copy_n(tile + i * NR, n, c + std::size_t(i) * ldc);
}

/// micro_kernel on a tile that C cuts short (on_padded_tile).
template <class T, int MR>
inline void edge_kernel(int kc, const T* a, const T* b, T* c, int ldc, int m, int n,
                        const TileStore<T>& st, const T* row_bias, const T* col_bias) {
  on_padded_tile<T, MR>(c, ldc, m, n, st, row_bias, col_bias,
                        [&](T* tile, int ld, const TileStore<T>& local, const T* rb, const T* cb) {
                          micro_kernel<T, MR>(kc, a, b, tile, ld, local, rb, cb);
                        });
}

}  // namespace detail
}  // namespace ganad::kernels
