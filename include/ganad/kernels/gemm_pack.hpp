/// The GEMM's packing (BLIS's): op(A) into MR-row panels and op(B) into NR-column panels,
/// k-major and zero-padded, from per-thread workspaces; and the A and B "sources", the
/// interface through which a product's panels can come from matrices never stored whole.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/gemm_traits.hpp"
#include "ganad/kernels/simd.hpp"
#include "ganad/kernels/transpose.hpp"

namespace ganad::kernels {
namespace detail {

template <class T>
struct GemmWorkspace {
  aligned_vector<T> a, b;
};

/// One packing workspace per thread, grown once and reused: no allocation in steady state.
template <class T>
GemmWorkspace<T>& gemm_workspace() {
  static thread_local GemmWorkspace<T> ws;
  return ws;
}

/// Packs op(A)[i0 : i0+mc, p0 : p0+kc] into MR-row panels, k-major, zero-padded rows.
template <class T, int MR>
void pack_a(Trans ta, const T* A, int lda, int i0, int p0, int mc, int kc, T* out) {
  for (int ir = 0; ir < mc; ir += MR) {
    const int rows = std::min(MR, mc - ir);
    T* panel = out + std::size_t(ir) * kc;
    if (ta == Trans::no) {
      int k0 = 0;
      if constexpr (MR == 8 && has_transpose_8x8<T>) {  // full panels: 8 x 8 blocks in registers
        if (rows == MR)
          for (; k0 + 8 <= kc; k0 += 8)
            transpose_8x8(A + std::size_t(i0 + ir) * lda + p0 + k0, std::size_t(lda), panel + std::size_t(k0) * MR);
      }
      for (int i = 0; i < rows; ++i) {
        const T* src = A + std::size_t(i0 + ir + i) * lda + p0;
        for (int k = k0; k < kc; ++k) panel[std::size_t(k) * MR + i] = src[k];
      }
    } else {
      for (int k = 0; k < kc; ++k) {
        const T* src = A + std::size_t(p0 + k) * lda + i0 + ir;
        T* dst = panel + std::size_t(k) * MR;
        for (int i = 0; i < rows; ++i) dst[i] = src[i];
      }
    }
    if (rows < MR)
      for (int k = 0; k < kc; ++k)
        for (int i = rows; i < MR; ++i) panel[std::size_t(k) * MR + i] = T(0);
  }
}

/// Packs op(B)[p0 : p0+kc, j0 : j0+cols] (cols <= NR) into one k-major NR-column panel,
/// zero-padded, and prefetches the source of the next panel.
template <class T>
void pack_b_panel(Trans tb, const T* B, int ldb, int p0, int j0, int kc, int cols, T* panel) {
  constexpr int NR = gemm_traits<T>::NR;
  if (tb == Trans::no) {
    constexpr int L = gemm_traits<T>::L, NV = gemm_traits<T>::NV;
    for (int k = 0; k < kc; ++k) {
      const T* src = B + std::size_t(p0 + k) * ldb + j0;
      __builtin_prefetch(src + NR);
      __builtin_prefetch(src + 2 * NR - 1);
      T* dst = panel + std::size_t(k) * NR;
      if (cols == NR) {  // whole vectors: GCC copied this loop one float at a time
        [&]<int... V>(std::integer_sequence<int, V...>) __attribute__((always_inline)) {
          (simd<T>::load_unaligned(src + V * L).store_aligned(dst + V * L), ...);
        }(std::make_integer_sequence<int, NV>{});
        continue;
      }
      int j = 0;
      for (; j < cols; ++j) dst[j] = src[j];
      for (; j < NR; ++j) dst[j] = T(0);
    }
  } else {
    // A transpose: 8 x 8 blocks in registers where they exist (transpose_block); elsewhere
    // 16-deep blocks keep both the reads (cols rows) and writes in L1 lines.
    if constexpr (has_transpose_8x8<T>) {
      transpose_block(B + std::size_t(j0) * ldb + p0, std::size_t(ldb), cols, kc, panel, NR);
      if (cols < NR)
        for (int k = 0; k < kc; ++k)
          for (int j = cols; j < NR; ++j) panel[std::size_t(k) * NR + j] = T(0);
      return;
    }
    constexpr int KB = 16;
    for (int k0 = 0; k0 < kc; k0 += KB) {
      const int kb = std::min(KB, kc - k0);
      for (int j = 0; j < cols; ++j) {
        const T* src = B + std::size_t(j0 + j) * ldb + p0 + k0;
        T* dst = panel + std::size_t(k0) * NR + j;
        for (int k = 0; k < kb; ++k) dst[std::size_t(k) * NR] = src[k];
      }
    }
    if (cols < NR)
      for (int k = 0; k < kc; ++k)
        for (int j = cols; j < NR; ++j) panel[std::size_t(k) * NR + j] = T(0);
  }
}

/// The GEMM's usual A source: op(A) read from a row-major matrix. An A source packs
/// op(A)[i0 : i0+mc, p0 : p0+kc] into MR-row panels, k-major, zero-padded rows (pack_a's
/// layout); others (conv.hpp's ImplicitColumns) make them without A ever being stored.
template <class T>
struct MatrixA {
  Trans ta;
  const T* A;
  int lda;
  template <int MR>
  void pack(int i0, int p0, int mc, int kc, T* out) const {
    pack_a<T, MR>(ta, A, lda, i0, p0, mc, kc, out);
  }
};

/// The GEMM's usual B source: op(B) read from a row-major matrix. A B source packs
/// B[p0 : p0+kc, j0 : j0+cols] (cols <= NR) into one k-major NR-column panel, zero-padded;
/// others (conv.hpp's ImplicitColumns) make B's panels without B ever being stored.
template <class T>
struct MatrixB {
  Trans tb;
  const T* B;
  int ldb;
  void pack(int p0, int j0, int kc, int cols, T* panel) const { pack_b_panel(tb, B, ldb, p0, j0, kc, cols, panel); }
};

}  // namespace detail
}  // namespace ganad::kernels
