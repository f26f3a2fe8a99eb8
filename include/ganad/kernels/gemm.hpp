/// The GEMM driver: C = alpha * op(A) * op(B) + beta * C in float or double, row-major with
/// leading dimensions, plus an optional fused epilogue (bias, activation). Structure as in
/// BLIS: cache blocks over packed panels (gemm_pack.hpp) and a register-blocked micro-kernel
/// (gemm_micro_kernel.hpp); threads own disjoint column (or row) ranges of C and every element
/// is summed over k in the same order, so C is bit-identical for any number of threads.
/// Float products run in the calling thread's precision (precision.hpp; bf16 pairs: bf16.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "ganad/core/tensor.hpp"
#include "ganad/kernels/bf16.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/gemm_micro_kernel.hpp"
#include "ganad/kernels/gemm_pack.hpp"
#include "ganad/kernels/gemm_traits.hpp"
#include "ganad/kernels/gemv.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/precision.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

template <class T>
class PackedA;

namespace detail {

/// Panels of P: T's own (pack_a, pack_b_panel) or, for bf16 products, pairs of k rows
/// (bf16.hpp). A panel of kc rows is panel_depth<T, P>(kc) entries deep.
template <class T, class P>
constexpr int panel_depth(int kc) {
  return std::is_same_v<P, T> ? kc : (kc + 1) / 2;
}

/// The bf16 products' per-thread workspace beside gemm_workspace: A's and B's pair panels and
/// one fp32 B panel on its way to pairs. Grown once and reused.
struct Bf16Workspace {
  aligned_vector<Bf16Pair> a, b;
  aligned_vector<float> b_panel;
};
inline Bf16Workspace& bf16_workspace() {
  static thread_local Bf16Workspace ws;
  return ws;
}

/// One row block of C, rows [ic, ic + mc) x columns [jc, jc + nc), from op(A)'s packed
/// panels and the B panels at pb (kc deep), packing each B panel first if pack_b.
template <class T, int MR, class P, class BSource>
void multiply_row_block(const BSource& b, int pc, int kc, int jc, int nc, bool pack_b, P* pb,
                        const P* apanels, int ic, int mc, T* C, int ldc, const TileStore<T>& st, const Epilogue<T>& ep) {
  constexpr int NR = gemm_traits<T>::NR;
  const int depth = panel_depth<T, P>(kc);
  for (int jr = 0; jr < nc; jr += NR) {
    const int n = std::min(NR, nc - jr);
    P* bpanel = pb + std::size_t(jr) * depth;
    if (pack_b) {
      if constexpr (std::is_same_v<P, T>) {
        b.pack(pc, jc + jr, kc, n, bpanel);
      } else {
        float* fp32 = bf16_workspace().b_panel.data();
        b.pack(pc, jc + jr, kc, n, fp32);
        to_bf16_pairs_b(fp32, kc, bpanel);
      }
    }
    const T* cb = ep.col_bias ? ep.col_bias + jc + jr : nullptr;
    for (int ir = 0; ir < mc; ir += MR) {
      const int m = std::min(MR, mc - ir);
      T* ctile = C + std::size_t(ic + ir) * ldc + jc + jr;
      const T* rbias = ep.row_bias ? ep.row_bias + ic + ir : nullptr;
      const P* apanel = apanels + std::size_t(ir) * depth;
      if constexpr (std::is_same_v<P, T>) {
        if (m == MR && n == NR)
          micro_kernel<T, MR>(kc, apanel, bpanel, ctile, ldc, st, rbias, cb);
        else if (has_partial_vectors<T> && m == MR)  // short of columns only: masked, no copy
          micro_kernel<T, MR, true>(kc, apanel, bpanel, ctile, ldc, st, rbias, cb, n);
        else
          edge_kernel<T, MR>(kc, apanel, bpanel, ctile, ldc, m, n, st, rbias, cb);
      } else {
        if (m == MR && n == NR)
          micro_kernel_bf16<MR>(kc, apanel, bpanel, ctile, ldc, st, rbias, cb);
        else if (m == MR)
          micro_kernel_bf16<MR, true>(kc, apanel, bpanel, ctile, ldc, st, rbias, cb, n);
        else
          on_padded_tile<T, MR>(ctile, ldc, m, n, st, rbias, cb,
                                [&](T* tile, int ld, const TileStore<T>& local, const T* rb, const T* cbias) {
                                  micro_kernel_bf16<MR>(kc, apanel, bpanel, tile, ld, local, rb, cbias);
                                });
      }
    }
  }
}

/// The serial algorithm on the block C[m0:m1, n0:n1], with panels of P (T's own, or bf16
/// pairs converted from T's). B panels are packed while the first row block computes with
/// them (the packing's memory reads overlap the FMAs, and each panel is still in L1 when
/// first used), then reused by the other row blocks.
template <class T, int MR, class P, class ASource, class BSource>
void gemm_block(const ASource& a, const BSource& b, int m0, int m1, int n0, int n1, int K, T alpha, T beta, T* C,
                int ldc, const Epilogue<T>& ep,
                bool stream_c, const PackedA<T>* packed) {
  using Tr = gemm_traits<T>;
  constexpr int NR = Tr::NR, KC = Tr::KC, MC = Tr::MC, NC = Tr::NC;
  static_assert(MC % MR == 0, "gemm_traits: MC must be a multiple of every row tile");
  constexpr bool pairs = !std::is_same_v<P, T>;
  auto& ws = gemm_workspace<T>();
  const std::size_t need_a = std::size_t(MC) * KC, need_b = std::size_t(KC) * (NC + NR);
  if (ws.a.size() < need_a) ws.a.resize(need_a);
  T* pa = ws.a.data();
  P* pa_pairs = nullptr;
  P* pb = nullptr;
  if constexpr (pairs) {
    auto& bw = bf16_workspace();
    const std::size_t depth = std::size_t(panel_depth<T, P>(KC));
    if (bw.a.size() < MC * depth) bw.a.resize(MC * depth);
    if (bw.b.size() < (NC + NR) * depth) bw.b.resize((NC + NR) * depth);
    if (bw.b_panel.size() < std::size_t(KC) * NR) bw.b_panel.resize(std::size_t(KC) * NR);
    pa_pairs = bw.a.data();
    pb = bw.b.data();
  } else {
    if (ws.b.size() < need_b) ws.b.resize(need_b);
    pb = ws.b.data();
  }
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
        if constexpr (pairs) {
          for (int ir = 0; ir < mc; ir += MR)
            to_bf16_pairs_a<MR>(apanels + std::size_t(ir) * kc, kc, pa_pairs + std::size_t(ir) * panel_depth<T, P>(kc));
          multiply_row_block<T, MR, P>(b, pc, kc, jc, nc, ic == m0, pb, pa_pairs, ic, mc, C, ldc, st, ep);
        } else {
          multiply_row_block<T, MR, P>(b, pc, kc, jc, nc, ic == m0, pb, apanels, ic, mc, C, ldc, st, ep);
        }
      }
      pc += KC;
    } while (pc < K);
  }
  if (stream_c) stream_fence();
}

/// Splits C over the threads and runs gemm_block on each part with row tile MR.
template <class T, int MR, class P, class ASource, class BSource>
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
      gemm_block<T, MR, P>(a, b, 0, M, t0 * Tr::NR, std::min(N, t1 * Tr::NR), K, alpha, beta, C, ldc, ep, stream_c,
                           packed);
    else  // row ranges start off the packed grid: pack from A as usual
      gemm_block<T, MR, P>(a, b, t0 * MR, std::min(M, t1 * MR), 0, N, K, alpha, beta, C, ldc, ep, stream_c, nullptr);
  });
}

/// gemm_split in this thread's product precision (precision.hpp): bf16 pair panels for
/// float products under Precision::bf16 where the tiles exist, else T's own.
template <class T, int MR, class ASource, class BSource>
void gemm_in_precision(const ASource& a, const BSource& b, int M, int N, int K, T alpha, T beta, T* C, int ldc,
                       const Epilogue<T>& ep, const PackedA<T>* packed) {
  if constexpr (std::is_same_v<T, float> && has_bf16_tiles) {
    if (product_precision() == Precision::bf16) {
      gemm_split<T, MR, Bf16Pair>(a, b, M, N, K, alpha, beta, C, ldc, ep, packed);
      return;
    }
  }
  gemm_split<T, MR, T>(a, b, M, N, K, alpha, beta, C, ldc, ep, packed);
}

/// The matrix-vector products gemm() hands to gemv or combine_rows (always in T's own
/// precision) rather than to the tiles: those whose reads are contiguous there. Strided ones
/// (a column of a row-major matrix) are faster through the tiles, which pack them once.
enum class VectorProduct { none, rows_dot, combine_a_rows, combine_b_rows, columns_dot };
constexpr VectorProduct vector_product(Trans ta, Trans tb, int M, int N, int K, int ldc, bool plain_epilogue) {
  if (K <= 0) return VectorProduct::none;
  if (N == 1 && ta == Trans::no) return VectorProduct::rows_dot;
  if (N == 1 && ta == Trans::yes && ldc == 1 && plain_epilogue) return VectorProduct::combine_a_rows;
  if (M == 1 && tb == Trans::no && plain_epilogue) return VectorProduct::combine_b_rows;
  if (M == 1 && tb == Trans::yes) return VectorProduct::columns_dot;
  return VectorProduct::none;
}

/// gemm_split with the row tile chosen by uses_short_rows (and packed A, if given).
template <class T, class ASource, class BSource>
void gemm_tiled(bool short_rows, const ASource& a, const BSource& b, int M, int N, int K, T alpha, T beta, T* C, int ldc,
                const Epilogue<T>& ep, const PackedA<T>* packed = nullptr) {
  using Tr = gemm_traits<T>;
  if (short_rows) gemm_in_precision<T, Tr::MR_short>(a, b, M, N, K, alpha, beta, C, ldc, ep, packed);
  else gemm_in_precision<T, Tr::MR>(a, b, M, N, K, alpha, beta, C, ldc, ep, packed);
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
  const bool plain_epilogue = !ep.row_bias && !ep.col_bias && ep.act == Activation::identity;
  switch (detail::vector_product(ta, tb, M, N, K, ldc, plain_epilogue)) {
    case detail::VectorProduct::rows_dot:  // C[i] = op(A) row i . op(B) column 0
      detail::gemv<T>(M, K, A, lda, 1, B, tb == Trans::no ? ldb : 1, alpha, beta, C, ldc, ep, true);
      return;
    case detail::VectorProduct::combine_a_rows:  // C = sum_k b[k] A[k, :]
      detail::combine_rows<T>(M, K, A, lda, B, tb == Trans::no ? ldb : 1, alpha, beta, C);
      return;
    case detail::VectorProduct::combine_b_rows:  // C = sum_k a[k] B[k, :]
      detail::combine_rows<T>(N, K, B, ldb, A, ta == Trans::no ? 1 : lda, alpha, beta, C);
      return;
    case detail::VectorProduct::columns_dot:  // C[j] = op(A) row 0 . op(B) column j
      detail::gemv<T>(N, K, B, ldb, 1, A, ta == Trans::no ? 1 : lda, alpha, beta, C, 1, ep, false);
      return;
    case detail::VectorProduct::none: break;
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
