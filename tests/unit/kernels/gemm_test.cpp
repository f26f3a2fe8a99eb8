#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/reference.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <vector>

#include "support/random.hpp"
#include "support/threads.hpp"

using namespace ganad;
using kernels::Trans;

namespace {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Case {
  int m, n, k;
  Trans ta, tb;
  double alpha, beta;
  int pad;  // extra columns in every leading dimension
};

/// Runs ganad's gemm and Eigen on one case; returns max |ganad - eigen| / (|alpha| * K * max|a| * max|b| + |beta| * max|c|).
template <class T>
double relative_error(const Case& c, std::uint64_t seed) {
  const int a_rows = c.ta == Trans::no ? c.m : c.k, a_cols = c.ta == Trans::no ? c.k : c.m;
  const int b_rows = c.tb == Trans::no ? c.k : c.n, b_cols = c.tb == Trans::no ? c.n : c.k;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  std::vector<T> a(std::size_t(a_rows) * lda + 1), b(std::size_t(b_rows) * ldb + 1),
      cm(std::size_t(c.m) * ldc + 1);
  test::fill_uniform<T>(a, seed);
  test::fill_uniform<T>(b, seed + 1);
  test::fill_uniform<T>(cm, seed + 2);
  if (c.beta == 0.0)  // beta == 0 must not read C: NaN there must not leak out
    for (int i = 0; i < c.m; ++i)
      for (int j = 0; j < c.n; ++j) cm[std::size_t(i) * ldc + j] = std::numeric_limits<T>::quiet_NaN();
  const std::vector<T> c0 = cm;

  kernels::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(c.alpha), a.data(), lda, b.data(), ldb, T(c.beta),
                   cm.data(), ldc);

  using Map = Eigen::Map<const RowMatrix<double>, 0, Eigen::OuterStride<>>;
  const RowMatrix<double> ad = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(a.data(), a_rows, a_cols, Eigen::OuterStride<>(lda)).template cast<double>();
  const RowMatrix<double> bd = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(b.data(), b_rows, b_cols, Eigen::OuterStride<>(ldb)).template cast<double>();
  RowMatrix<double> opa = c.ta == Trans::no ? ad : RowMatrix<double>(ad.transpose());
  RowMatrix<double> opb = c.tb == Trans::no ? bd : RowMatrix<double>(bd.transpose());
  RowMatrix<double> want = c.alpha * (opa * opb);
  if (c.beta != 0.0)
    want += c.beta * Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(c0.data(), c.m, c.n, Eigen::OuterStride<>(ldc)).template cast<double>();
  (void)sizeof(Map);

  double worst = 0;
  const double scale = std::abs(c.alpha) * std::max(c.k, 1) + std::abs(c.beta);
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      const double got = cm[std::size_t(i) * ldc + j];
      if (!std::isfinite(got)) return std::numeric_limits<double>::infinity();
      worst = std::max(worst, std::abs(got - want(i, j)) / scale);
    }
    for (int j = c.n; j < ldc; ++j)  // padding columns of C must be untouched
      if (!(cm[std::size_t(i) * ldc + j] == c0[std::size_t(i) * ldc + j] ||
            (std::isnan(cm[std::size_t(i) * ldc + j]) && std::isnan(c0[std::size_t(i) * ldc + j]))))
        return std::numeric_limits<double>::infinity();
  }
  return worst;
}

std::vector<Case> cases() {
  using G = kernels::gemm_traits<float>;
  std::vector<Case> out;
  const int dims[] = {0, 1, 2, 7, 13, G::MR - 1, G::MR, G::MR + 1, G::NR - 1, G::NR, G::NR + 1, 31, 97};
  const Trans ts[] = {Trans::no, Trans::yes};
  Rng rng(99);
  for (int m : dims)
    for (int n : {1, 17, G::NR + 1})
      for (int k : {0, 1, 5, 37}) out.push_back({m, n, k, ts[rng.below(2)], ts[rng.below(2)], 1.0, 0.0, int(rng.below(3))});
  for (int i = 0; i < 40; ++i) {  // random shapes, all transposes, alpha/beta, padding
    const double betas[] = {0.0, 1.0, -0.5};
    out.push_back({int(1 + rng.below(130)), int(1 + rng.below(130)), int(1 + rng.below(300)),
                   ts[i % 2], ts[(i / 2) % 2], i % 3 == 0 ? 1.0 : -1.5, betas[i % 3], int(rng.below(5))});
  }
  // Across the cache blocks: kc, mc and nc boundaries.
  out.push_back({G::MC + 3, 53, G::KC + 1, Trans::no, Trans::no, 1.0, 1.0, 0});
  out.push_back({G::MC * 2 + 1, G::NR * 3 + 5, 2 * G::KC + 7, Trans::yes, Trans::yes, 0.5, -1.0, 3});
  out.push_back({5, G::NC + 37, 19, Trans::no, Trans::yes, 1.0, 0.0, 1});
  out.push_back({211, 223, 227, Trans::yes, Trans::no, 2.0, 0.5, 0});  // primes
  return out;
}

std::string describe(const Case& c) {
  return std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k) +
         (c.ta == Trans::yes ? " A^T" : "") + (c.tb == Trans::yes ? " B^T" : "") +
         " alpha " + std::to_string(c.alpha) + " beta " + std::to_string(c.beta) + " pad " + std::to_string(c.pad);
}

}  // namespace

TEST_CASE("gemm: double matches Eigen to 1e-15 (relative to K) on every shape, transpose, alpha, beta", "[kernel][gemm]") {
  std::uint64_t seed = 1;
  for (const auto& c : cases()) {
    INFO(describe(c));
    REQUIRE(relative_error<double>(c, seed++) <= 1e-15);
  }
}

TEST_CASE("gemm: float matches Eigen within a K-scaled tolerance", "[kernel][gemm]") {
  std::uint64_t seed = 1;
  for (const auto& c : cases()) {
    INFO(describe(c));
    // Error per element <= ~K eps |a||b|; scaled by K above, so a few eps remain.
    REQUIRE(relative_error<float>(c, seed++) <= 4 * std::numeric_limits<float>::epsilon());
  }
}

TEST_CASE("gemm: the epilogue adds row and column biases and applies the activation", "[kernel][gemm]") {
  const int m = 23, n = 41, k = 19;
  auto a = test::uniform_vector<double>(std::size_t(m) * k, 1), b = test::uniform_vector<double>(std::size_t(k) * n, 2);
  auto rb = test::uniform_vector<double>(m, 3), cb = test::uniform_vector<double>(n, 4);
  for (auto act : {kernels::Activation::identity, kernels::Activation::relu, kernels::Activation::leaky_relu,
                   kernels::Activation::tanh, kernels::Activation::sigmoid}) {
    std::vector<double> c(std::size_t(m) * n, 0.25), want = c;
    kernels::gemm<double>(Trans::no, Trans::no, m, n, k, 1.0, a.data(), k, b.data(), n, 2.0, c.data(), n,
                          {.row_bias = rb.data(), .col_bias = cb.data(), .act = act, .slope = 0.1});
    kernels::reference::gemm<double>(Trans::no, Trans::no, m, n, k, 1.0, a.data(), k, b.data(), n, 2.0, want.data(), n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        const double w = kernels::reference::activate(act, 0.1, want[i * n + j] + rb[i] + cb[j]);
        REQUIRE(c[i * n + j] == Approx(w).epsilon(1e-13).margin(1e-14));
      }
  }
}

TEST_CASE("gemm: bit-identical results on 1, 2 and 3 threads", "[kernel][gemm][parity]") {
  test::ThreadCount thread_guard(1);
  for (const auto& c : {Case{301, 517, 263, Trans::no, Trans::no, 1.0, 0.0, 0},
                        Case{64, 2000, 100, Trans::no, Trans::yes, 1.0, 1.0, 0},
                        Case{1000, 40, 300, Trans::yes, Trans::no, 1.0, 0.0, 0}}) {
    std::vector<std::vector<float>> results;
    auto a = test::uniform_vector<float>(std::size_t(c.m) * c.k, 1), b = test::uniform_vector<float>(std::size_t(c.k) * c.n, 2);
    for (int threads : {1, 2, 3}) {
      thread_guard.set(threads);
      auto out = test::uniform_vector<float>(std::size_t(c.m) * c.n, 3);
      kernels::gemm<float>(c.ta, c.tb, c.m, c.n, c.k, 1.0f, a.data(), c.ta == Trans::no ? c.k : c.m, b.data(),
                           c.tb == Trans::no ? c.n : c.k, float(c.beta), out.data(), c.n);
      results.push_back(std::move(out));
    }
    INFO(describe(c));
    CHECK(results[0] == results[1]);
    CHECK(results[0] == results[2]);
  }
}

TEST_CASE("gemm: a large write-once C (streaming stores) matches the reference", "[kernel][gemm]") {
  // >= 2 MiB, 64-byte aligned, K <= KC, beta = 0: the path that stores past the caches.
  const int m = 517, n = 1056, k = 45;
  aligned_vector<float> a(std::size_t(m) * k), b(std::size_t(k) * n), c(std::size_t(m) * n, std::numeric_limits<float>::quiet_NaN());
  test::fill_uniform<float>(a, 1);
  test::fill_uniform<float>(b, 2);
  auto bias = test::uniform_vector<float>(n, 3);
  kernels::gemm<float>(Trans::no, Trans::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n,
                       {.col_bias = bias.data(), .act = kernels::Activation::leaky_relu, .slope = 0.2f});
  std::vector<float> want(std::size_t(m) * n);
  kernels::reference::gemm<float>(Trans::no, Trans::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, want.data(), n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const float w = kernels::reference::activate(kernels::Activation::leaky_relu, 0.2f, want[std::size_t(i) * n + j] + bias[j]);
      REQUIRE(std::abs(c[std::size_t(i) * n + j] - w) <= 4 * std::numeric_limits<float>::epsilon() * k);
    }
}

TEST_CASE("gemm: edge tiles compute exactly what interior tiles do", "[kernel][gemm]") {
  // C (19 x 37) against the same rows and columns inside C (24 x 64), where every tile is
  // full: the partial tiles (masked columns, padded rows) must give the same bits, with
  // beta, both biases and an activation, over several k blocks.
  const int m = 19, n = 37, k = 600, big_m = 24, big_n = 64;
  auto a = test::uniform_vector<float>(std::size_t(big_m) * k, 1), b = test::uniform_vector<float>(std::size_t(k) * big_n, 2);
  const auto c0 = test::uniform_vector<float>(std::size_t(big_m) * big_n, 3);
  const auto row_bias = test::uniform_vector<float>(big_m, 4), col_bias = test::uniform_vector<float>(big_n, 5);
  const kernels::Epilogue<float> ep{.row_bias = row_bias.data(), .col_bias = col_bias.data(), .act = kernels::Activation::leaky_relu, .slope = 0.2f};
  auto big = c0;
  kernels::gemm<float>(Trans::no, Trans::no, big_m, big_n, k, 0.5f, a.data(), k, b.data(), big_n, 0.75f, big.data(), big_n, ep);
  auto small = c0;  // the same storage, leading dimension big_n: only C's extent differs
  kernels::gemm<float>(Trans::no, Trans::no, m, n, k, 0.5f, a.data(), k, b.data(), big_n, 0.75f, small.data(), big_n, ep);
  for (int i = 0; i < big_m; ++i)
    for (int j = 0; j < big_n; ++j) {
      INFO("row " << i << " column " << j);
      const std::size_t at = std::size_t(i) * big_n + j;
      REQUIRE(small[at] == (i < m && j < n ? big[at] : c0[at]));  // outside C: untouched
    }
}

TEST_CASE("gemm: a PackedA gives the bits of the plain product, and serves many B", "[kernel][gemm][parity]") {
  // Shapes on both row tiles (49 rows take the 7-row tile), several k and row blocks, edge
  // tiles, transposed A, an epilogue, and the matrix-vector shapes that use no packing; on
  // 1 and 3 threads, where few column tiles split C by rows (off the packed grid).
  test::ThreadCount thread_guard(1);
  struct Shape {
    int m, n, k;
    Trans ta;
  };
  for (const Shape& s : {Shape{49, 300, 70, Trans::no}, Shape{301, 517, 600, Trans::yes}, Shape{200, 33, 263, Trans::no},
                         Shape{1, 40, 30, Trans::no}, Shape{30, 1, 40, Trans::yes}, Shape{17, 20, 0, Trans::no}}) {
    const int lda = (s.ta == Trans::no ? s.k : s.m) + 3;
    const auto a = test::uniform_vector<float>(std::size_t(s.ta == Trans::no ? s.m : s.k) * lda + 1, 1);
    const auto row_bias = test::uniform_vector<float>(s.m, 4);
    const kernels::Epilogue<float> ep{.row_bias = row_bias.data(), .act = kernels::Activation::leaky_relu, .slope = 0.2f};
    kernels::PackedA<float> packed;
    packed.pack(s.ta, s.m, s.k, a.data(), lda);
    for (int threads : {1, 3}) {
      thread_guard.set(threads);
      for (std::uint64_t seed : {2, 7}) {  // two different B with one packing
        const auto b = test::uniform_vector<float>(std::size_t(std::max(s.k, 1)) * s.n, seed);
        const auto c0 = test::uniform_vector<float>(std::size_t(s.m) * s.n, seed + 1);
        auto want = c0, got = c0;
        kernels::gemm<float>(s.ta, Trans::no, s.m, s.n, s.k, 0.5f, a.data(), lda, b.data(), s.n, 0.25f, want.data(), s.n, ep);
        kernels::gemm<float>(packed, Trans::no, s.n, 0.5f, b.data(), s.n, 0.25f, got.data(), s.n, ep);
        INFO(s.m << " x " << s.n << " x " << s.k << ", " << threads << " threads");
        REQUIRE(got == want);
      }
    }
  }
}
