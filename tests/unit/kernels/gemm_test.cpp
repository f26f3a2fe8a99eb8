#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/reference.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <bit>
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

/// One case's operands: A, B and C (NaN where beta == 0 must not read it), with padding.
template <class T>
struct Operands {
  int a_rows, a_cols, b_rows, b_cols, lda, ldb, ldc;
  std::vector<T> a, b, cm, c0;
  Operands(const Case& c, std::uint64_t seed)
      : a_rows(c.ta == Trans::no ? c.m : c.k), a_cols(c.ta == Trans::no ? c.k : c.m),
        b_rows(c.tb == Trans::no ? c.k : c.n), b_cols(c.tb == Trans::no ? c.n : c.k),
        lda(a_cols + c.pad), ldb(b_cols + c.pad), ldc(c.n + c.pad),
        a(std::size_t(a_rows) * lda + 1), b(std::size_t(b_rows) * ldb + 1), cm(std::size_t(c.m) * ldc + 1) {
    test::fill_uniform<T>(a, seed);
    test::fill_uniform<T>(b, seed + 1);
    test::fill_uniform<T>(cm, seed + 2);
    if (c.beta == 0.0)  // beta == 0 must not read C: NaN there must not leak out
      for (int i = 0; i < c.m; ++i)
        for (int j = 0; j < c.n; ++j) cm[std::size_t(i) * ldc + j] = std::numeric_limits<T>::quiet_NaN();
    c0 = cm;
  }
  void run(const Case& c) {
    kernels::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(c.alpha), a.data(), lda, b.data(), ldb, T(c.beta), cm.data(), ldc);
  }
  [[nodiscard]] T op_a(const Case& c, int i, int p) const { return c.ta == Trans::no ? a[std::size_t(i) * lda + p] : a[std::size_t(p) * lda + i]; }
  [[nodiscard]] T op_b(const Case& c, int p, int j) const { return c.tb == Trans::no ? b[std::size_t(p) * ldb + j] : b[std::size_t(j) * ldb + p]; }
  [[nodiscard]] T got(int i, int j) const { return cm[std::size_t(i) * ldc + j]; }
  [[nodiscard]] T c_before(int i, int j) const { return c0[std::size_t(i) * ldc + j]; }
  /// The padding columns of C are untouched.
  [[nodiscard]] bool padding_kept(const Case& c) const {
    for (int i = 0; i < c.m; ++i)
      for (int j = c.n; j < ldc; ++j)
        if (!(got(i, j) == c_before(i, j) || (std::isnan(got(i, j)) && std::isnan(c_before(i, j))))) return false;
    return true;
  }
};

/// Runs ganad's gemm and Eigen on one case; returns max |ganad - eigen| / (|alpha| * K * max|a| * max|b| + |beta| * max|c|).
template <class T>
double relative_error(const Case& c, std::uint64_t seed) {
  Operands<T> o(c, seed);
  o.run(c);
  const RowMatrix<double> ad = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(o.a.data(), o.a_rows, o.a_cols, Eigen::OuterStride<>(o.lda)).template cast<double>();
  const RowMatrix<double> bd = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(o.b.data(), o.b_rows, o.b_cols, Eigen::OuterStride<>(o.ldb)).template cast<double>();
  RowMatrix<double> opa = c.ta == Trans::no ? ad : RowMatrix<double>(ad.transpose());
  RowMatrix<double> opb = c.tb == Trans::no ? bd : RowMatrix<double>(bd.transpose());
  RowMatrix<double> want = c.alpha * (opa * opb);
  if (c.beta != 0.0)
    want += c.beta * Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(o.c0.data(), c.m, c.n, Eigen::OuterStride<>(o.ldc)).template cast<double>();

  double worst = 0;
  const double scale = std::abs(c.alpha) * std::max(c.k, 1) + std::abs(c.beta);
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      if (!std::isfinite(o.got(i, j))) return std::numeric_limits<double>::infinity();
      worst = std::max(worst, std::abs(o.got(i, j) - want(i, j)) / scale);
    }
  return o.padding_kept(c) ? worst : std::numeric_limits<double>::infinity();
}

/// Runs ganad's gemm under Precision::bf16 on one case; returns the largest error against a
/// long-double product of the bf16-rounded operands, in units of the fp32 summation's bound
/// (K + 2) eps (|alpha| sum_k |a_ik b_kj| + |beta c_ij|): <= 1 when only the order and
/// rounding of the fp32 sums differ. The matrix-vector products gemv serves stay in fp32:
/// their reference takes the operands unrounded.
double bf16_error(const Case& c, std::uint64_t seed) {
  Operands<float> o(c, seed);
  const bool tiled = kernels::detail::vector_product(c.ta, c.tb, c.m, c.n, c.k, o.ldc, true) == kernels::detail::VectorProduct::none;
  const auto operand = [&](float x) { return tiled ? kernels::round_to_bf16(x) : x; };
  {
    const kernels::PrecisionScope bf16(Precision::bf16);
    o.run(c);
  }
  double worst = 0;
  const long double eps = std::numeric_limits<float>::epsilon();
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      long double sum = 0, magnitude = 0;
      for (int p = 0; p < c.k; ++p) {
        const long double term = (long double)operand(o.op_a(c, i, p)) * operand(o.op_b(c, p, j));
        sum += term;
        magnitude += std::abs(term);
      }
      long double want = (long double)c.alpha * sum, bound = std::abs((long double)c.alpha) * magnitude;
      if (c.beta != 0.0) {
        want += (long double)c.beta * o.c_before(i, j);
        bound += std::abs((long double)c.beta * o.c_before(i, j));
      }
      bound = (c.k + 2) * eps * bound + std::numeric_limits<float>::min();
      if (!std::isfinite(o.got(i, j))) return std::numeric_limits<double>::infinity();
      worst = std::max(worst, double(std::abs(o.got(i, j) - want) / bound));
    }
  return o.padding_kept(c) ? worst : std::numeric_limits<double>::infinity();
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

TEST_CASE("gemm: bf16 products equal a long-double product of the bf16-rounded operands up to fp32 summation",
          "[kernel][gemm][bf16]") {
  if (!kernels::bf16_supported()) {
    WARN("no AVX512_BF16 here: bf16 products run in fp32 (tested below)");
    return;
  }
  std::uint64_t seed = 1;
  for (const auto& c : cases()) {
    INFO(describe(c));
    REQUIRE(bf16_error(c, seed++) <= 1.0);
  }
}

TEST_CASE("gemm: bf16 products differ from fp32 ones by bf16's rounding, not more", "[kernel][gemm][bf16]") {
  // Guards the test above against passing vacuously (bf16 products that ran in fp32 would
  // meet its bound too): where bf16 runs, the results must differ from fp32's.
  const Case c{64, 96, 200, Trans::no, Trans::no, 1.0, 0.0, 0};
  Operands<float> fp32(c, 7), bf16(c, 7);
  fp32.run(c);
  {
    const kernels::PrecisionScope scope(Precision::bf16);
    bf16.run(c);
  }
  if (kernels::bf16_supported()) CHECK(fp32.cm != bf16.cm);
  else CHECK(fp32.cm == bf16.cm);  // the fallback: fp32's bits
}

TEST_CASE("gemm: bf16 products are bit-identical on 1, 2 and 3 threads", "[kernel][gemm][bf16][parity]") {
  test::ThreadCount thread_guard(1);
  const kernels::PrecisionScope bf16(Precision::bf16);
  for (const auto& c : {Case{301, 517, 263, Trans::no, Trans::no, 1.0, 0.0, 0}, Case{1000, 40, 301, Trans::yes, Trans::no, 1.0, 1.0, 0}}) {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
      thread_guard.set(threads);
      Operands<float> o(c, 5);
      o.run(c);
      results.push_back(o.cm);
    }
    INFO(describe(c));
    CHECK(results[0] == results[1]);
    CHECK(results[0] == results[2]);
  }
}

TEST_CASE("bf16 rounding: round to nearest even, subnormals to zero, NaN quiet; as the hardware converts", "[kernel][bf16]") {
  using kernels::to_bf16_bits;
  CHECK(to_bf16_bits(1.0f) == 0x3f80);
  CHECK(to_bf16_bits(std::bit_cast<float>(0x3f808000u)) == 0x3f80);  // a tie: to the even 0x3f80
  CHECK(to_bf16_bits(std::bit_cast<float>(0x3f818000u)) == 0x3f82);  // a tie: to the even 0x3f82
  CHECK(to_bf16_bits(std::bit_cast<float>(0x3f808001u)) == 0x3f81);  // above the tie: up
  CHECK(to_bf16_bits(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(to_bf16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(to_bf16_bits(-std::numeric_limits<float>::denorm_min()) == 0x8000);
  CHECK(to_bf16_bits(std::numeric_limits<float>::max()) == 0x7f80);  // rounds past the largest bf16: infinity
  CHECK(std::isnan(kernels::from_bf16_bits(to_bf16_bits(std::numeric_limits<float>::quiet_NaN()))));
#if defined(__AVX512BF16__)
  // Every pattern class against VCVTNEPS2BF16: random bits (all exponents, NaNs, subnormals).
  Rng rng(3);
  alignas(64) float in[16];
  alignas(32) std::uint16_t out[16];
  for (int round = 0; round < 20000; ++round) {
    for (float& x : in) x = std::bit_cast<float>(std::uint32_t(rng.next_u64()));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), (__m256i)_mm512_cvtneps_pbh(_mm512_load_ps(in)));
    for (int l = 0; l < 16; ++l) {
      INFO(std::bit_cast<std::uint32_t>(in[l]));
      REQUIRE(to_bf16_bits(in[l]) == out[l]);
    }
  }
#endif
}
