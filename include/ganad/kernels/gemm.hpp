/// General matrix product C = alpha * op(A) * op(B) + beta * C in float or double, row-major
/// with leading dimensions, plus an optional fused epilogue (bias, activation). Structure as
/// in BLIS: B packed into kc x NR panels, A into MR x kc panels, an MR x NR register-blocked
/// micro-kernel; threads own disjoint column (or row) ranges of C and every element is
/// summed over k in the same order, so C is bit-identical for any number of threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/parallel.hpp"
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

template <class T>
class PackedA;

namespace detail {

template <class T>
struct GemmWorkspace {
  aligned_vector<T> a, b;
};
/// Row tile for M rows: the short one when it pads fewer rows (M = 49), else the tall one.
template <class T>
constexpr bool uses_short_rows(int M) {
  using Tr = gemm_traits<T>;
  return (M + Tr::MR_short - 1) / Tr::MR_short * Tr::MR_short < (M + Tr::MR - 1) / Tr::MR * Tr::MR;
}

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

/// micro_kernel on a tile that C cuts short (m < MR rows or n < NR columns): runs on a
/// padded local copy, so edge elements see exactly the arithmetic of interior ones.
template <class T, int MR>
inline void edge_kernel(int kc, const T* a, const T* b, T* c, int ldc, int m, int n,
                        const TileStore<T>& st, const T* row_bias, const T* col_bias) {
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
  micro_kernel<T, MR>(kc, a, b, tile, NR, local, row_bias ? rb : nullptr, col_bias ? cb : nullptr);
  for (int i = 0; i < m; ++i) std::copy_n(tile + i * NR, n, c + std::size_t(i) * ldc);
}

/// One row block of C, rows [ic, ic + mc) x columns [jc, jc + nc), from op(A)'s packed
/// panels and the B panels at pb (kc deep), packing each B panel first if pack_b.
template <class T, int MR, class BSource>
void multiply_row_block(const BSource& b, int pc, int kc, int jc, int nc, bool pack_b, T* pb,
                        const T* apanels, int ic, int mc, T* C, int ldc, const TileStore<T>& st, const Epilogue<T>& ep) {
  constexpr int NR = gemm_traits<T>::NR;
  for (int jr = 0; jr < nc; jr += NR) {
    const int n = std::min(NR, nc - jr);
    T* bpanel = pb + std::size_t(jr) * kc;
    if (pack_b) b.pack(pc, jc + jr, kc, n, bpanel);
    const T* cb = ep.col_bias ? ep.col_bias + jc + jr : nullptr;
    for (int ir = 0; ir < mc; ir += MR) {
      const int m = std::min(MR, mc - ir);
      T* ctile = C + std::size_t(ic + ir) * ldc + jc + jr;
      const T* rbias = ep.row_bias ? ep.row_bias + ic + ir : nullptr;
      const T* apanel = apanels + std::size_t(ir) * kc;
      if (m == MR && n == NR)
        micro_kernel<T, MR>(kc, apanel, bpanel, ctile, ldc, st, rbias, cb);
      else if (has_partial_vectors<T> && m == MR)  // short of columns only: masked, no copy
        micro_kernel<T, MR, true>(kc, apanel, bpanel, ctile, ldc, st, rbias, cb, n);
      else
        edge_kernel<T, MR>(kc, apanel, bpanel, ctile, ldc, m, n, st, rbias, cb);
    }
  }
}

/// The serial algorithm on the block C[m0:m1, n0:n1]. B panels are packed while the first
/// row block computes with them (the packing's memory reads overlap the FMAs, and each
/// panel is still in L1 when first used), then reused by the other row blocks.
template <class T, int MR, class ASource, class BSource>
void gemm_block(const ASource& a, const BSource& b, int m0, int m1, int n0, int n1, int K, T alpha, T beta, T* C,
                int ldc, const Epilogue<T>& ep,
                bool stream_c, const PackedA<T>* packed) {
  using Tr = gemm_traits<T>;
  constexpr int NR = Tr::NR, KC = Tr::KC, MC = Tr::MC, NC = Tr::NC;
  static_assert(MC % MR == 0, "gemm_traits: MC must be a multiple of every row tile");
  auto& ws = gemm_workspace<T>();
  const std::size_t need_a = std::size_t(MC) * KC, need_b = std::size_t(KC) * (NC + NR);
  if (ws.a.size() < need_a) ws.a.resize(need_a);
  if (ws.b.size() < need_b) ws.b.resize(need_b);
  T* pa = ws.a.data();
  T* pb = ws.b.data();
  for (int jc = n0; jc < n1; jc += NC) {
    const int nc = std::min(NC, n1 - jc);
    int pc = 0;
    do {  // at least once, so K == 0 still applies beta and the epilogue
      const int kc = std::min(KC, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      const TileStore<T> st{alpha, beta, first, last, stream_c && first && last && beta == T(0), ep.act, ep.slope, false};
      for (int ic = m0; ic < m1; ic += MC) {
        const int mc = std::min(MC, m1 - ic);
        const T* apanels = pa;
        if (packed) apanels = packed->block(ic, pc);  // m0 == 0 here: blocks on the packed grid
        else a.template pack<MR>(ic, pc, mc, kc, pa);
        multiply_row_block<T, MR>(b, pc, kc, jc, nc, ic == m0, pb, apanels, ic, mc, C, ldc, st, ep);
      }
      pc += KC;
    } while (pc < K);
  }
  if (stream_c) stream_fence();
}

/// Splits C over the threads and runs gemm_block on each part with row tile MR.
template <class T, int MR, class ASource, class BSource>
void gemm_split(const ASource& a, const BSource& b, int M, int N, int K, T alpha, T beta, T* C, int ldc,
                const Epilogue<T>& ep, const PackedA<T>* packed = nullptr) {
  using Tr = gemm_traits<T>;
  const int threads = num_threads();
  const double work = 2.0 * M * N * std::max(K, 1);
  const int n_tiles = (N + Tr::NR - 1) / Tr::NR, m_tiles = (M + MR - 1) / MR;
  // Split C into column ranges (A is packed by every thread, B by one) unless there are too
  // few column tiles; boundaries fall on whole tiles.
  const bool split_n = n_tiles >= 2 * threads || n_tiles >= m_tiles;
  const int tiles = split_n ? n_tiles : m_tiles;
  int parts = std::min(threads, tiles);
  if (work < 4.0 * parallel_min_work) parts = 1;
  // A large C written once (one k block, beta == 0) goes past the caches: it would not stay
  // there anyway, and a normal store first reads every line (read-for-ownership).
  const bool stream_c = has_stream_store && K <= Tr::KC && beta == T(0) &&
                        double(M) * N * sizeof(T) >= 2.0 * (1 << 20) &&
                        reinterpret_cast<std::uintptr_t>(C) % 64 == 0 &&
                        (std::size_t(ldc) * sizeof(T)) % 64 == 0;
  parallel_for(parts, work, [&](std::ptrdiff_t p) {
    const int t0 = int(p * tiles / parts), t1 = int((p + 1) * tiles / parts);
    if (split_n)
      gemm_block<T, MR>(a, b, 0, M, t0 * Tr::NR, std::min(N, t1 * Tr::NR), K, alpha, beta, C, ldc, ep, stream_c,
                        packed);
    else  // row ranges start off the packed grid: pack from A as usual
      gemm_block<T, MR>(a, b, t0 * MR, std::min(M, t1 * MR), 0, N, K, alpha, beta, C, ldc, ep, stream_c, nullptr);
  });
}

/// gemm_split with the row tile chosen by uses_short_rows (and packed A, if given).
template <class T, class ASource, class BSource>
void gemm_tiled(bool short_rows, const ASource& a, const BSource& b, int M, int N, int K, T alpha, T beta, T* C, int ldc,
                const Epilogue<T>& ep, const PackedA<T>* packed = nullptr) {
  using Tr = gemm_traits<T>;
  if (short_rows) gemm_split<T, Tr::MR_short>(a, b, M, N, K, alpha, beta, C, ldc, ep, packed);
  else gemm_split<T, Tr::MR>(a, b, M, N, K, alpha, beta, C, ldc, ep, packed);
}

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

/// C = alpha * op(A) * op(B) + beta * C, then the epilogue. Row-major: op(A) is M x K
/// (A is M x K with lda >= K, or K x M with lda >= M when transposed), op(B) is K x N, C is
/// M x N with ldc >= N. beta == 0 never reads C (NaN there is ignored). C must not alias A
/// or B. Any M, N, K >= 0.
template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc, const Epilogue<T>& ep = {}) {
  if (M <= 0 || N <= 0) return;
  // Matrix-vector products go to gemv when its reads are contiguous; strided ones (a column
  // of a row-major matrix) are faster through the tiles, which pack them once.
  if (N == 1 && K > 0 && ta == Trans::no) {  // C[i] = op(A) row i . op(B) column 0
    detail::gemv<T>(M, K, A, ta == Trans::no ? lda : 1, ta == Trans::no ? 1 : lda, B, tb == Trans::no ? ldb : 1,
                    alpha, beta, C, ldc, ep, true);
    return;
  }
  const bool plain_epilogue = !ep.row_bias && !ep.col_bias && ep.act == Activation::identity;
  if (N == 1 && K > 0 && ta == Trans::yes && ldc == 1 && plain_epilogue) {  // C = sum_k b[k] A[k, :]
    detail::combine_rows<T>(M, K, A, lda, B, tb == Trans::no ? ldb : 1, alpha, beta, C);
    return;
  }
  if (M == 1 && K > 0 && tb == Trans::no && plain_epilogue) {  // C = sum_k a[k] B[k, :]
    detail::combine_rows<T>(N, K, B, ldb, A, ta == Trans::no ? 1 : lda, alpha, beta, C);
    return;
  }
  if (M == 1 && K > 0 && tb == Trans::yes) {  // C[j] = op(A) row 0 . op(B) column j
    detail::gemv<T>(N, K, B, tb == Trans::no ? 1 : ldb, tb == Trans::no ? ldb : 1, A, ta == Trans::no ? 1 : lda,
                    alpha, beta, C, 1, ep, false);
    return;
  }
  detail::gemm_tiled<T>(detail::uses_short_rows<T>(M), detail::MatrixA<T>{ta, A, lda}, detail::MatrixB<T>{tb, B, ldb}, M,
                        N, K, alpha, beta, C, ldc, ep);
}

/// op(A) packed once for several products with different B: a convolution's weights meet
/// every chunk of the batch, and packing them again for each cost 3-4% of a layer. The
/// packed products give exactly the bits of gemm(ta, tb, M, N, K, ..., A, lda, ...). A is
/// still read (for shapes that do not use the packing) and must not change in between.
/// The buffer grows once and is reused.
template <class T>
class PackedA {
 public:
  void pack(Trans ta, int M, int K, const T* A, int lda) {
    using Tr = gemm_traits<T>;
    ta_ = ta;
    M_ = M;
    K_ = K;
    A_ = A;
    lda_ = lda;
    if (M <= 1 || K <= 0) return;  // gemm() does not tile these
    short_rows_ = detail::uses_short_rows<T>(M);
    ic_blocks_ = (M + Tr::MC - 1) / Tr::MC;
    const int blocks = (K + Tr::KC - 1) / Tr::KC * ic_blocks_;  // in (pc, ic) order
    if (data_.size() < std::size_t(blocks) * Tr::MC * Tr::KC) data_.resize(std::size_t(blocks) * Tr::MC * Tr::KC);
    parallel_for(blocks, double(M) * K, [&](std::ptrdiff_t b) {
      const int pc = int(b / ic_blocks_) * Tr::KC, ic = int(b % ic_blocks_) * Tr::MC;
      const int kc = std::min(Tr::KC, K - pc), mc = std::min(Tr::MC, M - ic);
      T* out = data_.data() + offset(ic, pc);
      if (short_rows_) detail::pack_a<T, Tr::MR_short>(ta, A, lda, ic, pc, mc, kc, out);
      else detail::pack_a<T, Tr::MR>(ta, A, lda, ic, pc, mc, kc, out);
    });
  }
  /// The packed panels of rows [ic, ic + MC) and k [pc, pc + KC) (both on the block grid).
  [[nodiscard]] const T* block(int ic, int pc) const { return data_.data() + offset(ic, pc); }
  [[nodiscard]] Trans trans() const { return ta_; }
  [[nodiscard]] int rows() const { return M_; }
  [[nodiscard]] int depth() const { return K_; }
  [[nodiscard]] const T* source() const { return A_; }
  [[nodiscard]] int source_ld() const { return lda_; }
  [[nodiscard]] bool short_rows() const { return short_rows_; }
  /// op(A) as the A source it was packed from (for the row blocks off the packed grid).
  [[nodiscard]] detail::MatrixA<T> source_matrix() const { return {ta_, A_, lda_}; }

 private:
  [[nodiscard]] std::size_t offset(int ic, int pc) const {
    using Tr = gemm_traits<T>;
    return (std::size_t(pc / Tr::KC) * ic_blocks_ + ic / Tr::MC) * Tr::MC * Tr::KC;
  }

  Trans ta_ = Trans::no;
  int M_ = 0, K_ = 0, lda_ = 0, ic_blocks_ = 0;
  const T* A_ = nullptr;
  bool short_rows_ = false;
  aligned_vector<T> data_;
};

/// C = alpha * op(A) * op(B) + beta * C with op(A) from a PackedA (M x K as packed).
template <class T>
void gemm(const PackedA<T>& a, Trans tb, int N, T alpha, const T* B, int ldb, T beta, T* C, int ldc,
          const Epilogue<T>& ep = {}) {
  const int M = a.rows(), K = a.depth();
  if (M <= 1 || N <= 1 || K <= 0) {  // the matrix-vector and empty cases: nothing was packed
    gemm<T>(a.trans(), tb, M, N, K, alpha, a.source(), a.source_ld(), B, ldb, beta, C, ldc, ep);
    return;
  }
  detail::gemm_tiled<T>(a.short_rows(), a.source_matrix(), detail::MatrixB<T>{tb, B, ldb}, M, N, K, alpha, beta, C, ldc,
                        ep, &a);
}

/// C = alpha * op(A) * B + beta * C with op(A) from a PackedA and B's panels made by a B
/// source (see detail::MatrixB): for a B that is never stored whole, as conv.hpp's
/// ImplicitColumns. The bits are those of the same product from a stored B. Only for
/// shapes the tiles take: M > 1, N > 1, K > 0 (the caller keeps a stored B for the rest).
template <class T, class BSource>
void gemm(const PackedA<T>& a, const BSource& b, int N, T alpha, T beta, T* C, int ldc, const Epilogue<T>& ep = {}) {
  detail::gemm_tiled<T>(a.short_rows(), a.source_matrix(), b, a.rows(), N, a.depth(), alpha, beta, C, ldc, ep, &a);
}

/// C = alpha * A * B + beta * C with A's panels made by an A source and B's by a B source
/// (see detail::MatrixA and detail::MatrixB, which read stored matrices); the A source
/// serves the row tile uses_short_rows<T>(M) picks. The bits are those of the same product
/// from stored matrices. Only for shapes the tiles take: M > 1, N > 1, K > 0.
template <class T, class ASource, class BSource>
void gemm_sources(const ASource& a, const BSource& b, int M, int N, int K, T alpha, T beta, T* C, int ldc,
                  const Epilogue<T>& ep = {}) {
  detail::gemm_tiled<T>(detail::uses_short_rows<T>(M), a, b, M, N, K, alpha, beta, C, ldc, ep);
}

/// C = alpha * A * op(B) + beta * C (A: M x K) with A's panels made by an A source (see
/// detail::MatrixA) that serves the row tile uses_short_rows<T>(M) picks: for an A that is
/// never stored whole, as conv.hpp's ImplicitColumns. The bits are those of the same
/// product from a stored A. Only for shapes the tiles take: M > 1, N > 1, K > 0.
template <class T, class ASource>
void gemm_sourced_a(const ASource& a, Trans tb, int M, int N, int K, T alpha, const T* B, int ldb, T beta, T* C, int ldc,
                    const Epilogue<T>& ep = {}) {
  gemm_sources<T>(a, detail::MatrixB<T>{tb, B, ldb}, M, N, K, alpha, beta, C, ldc, ep);
}

}  // namespace ganad::kernels
