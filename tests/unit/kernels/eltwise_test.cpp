#include "ganad/ganad.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "support/random.hpp"
#include "support/threads.hpp"

using namespace ganad;
using kernels::Activation;

namespace {
template <class T>
std::vector<std::size_t> lengths() {
  const std::size_t L = kernels::simd_width<T>;
  return {0, 1, L - 1, L, L + 1, 3 * L + 5, 40000 + 3};  // the last spans several parallel chunks
}
constexpr Activation all_activations[] = {Activation::identity, Activation::relu, Activation::leaky_relu,
                                          Activation::tanh, Activation::sigmoid};
template <class T>
constexpr double tolerance = std::is_same_v<T, float> ? 4e-7 : 1e-15;
}  // namespace

TEMPLATE_TEST_CASE("eltwise: activations and derivatives match the scalar reference", "[kernel][eltwise]", float, double) {
  using T = TestType;
  for (auto n : lengths<T>())
    for (auto act : all_activations) {
      INFO("n = " << n << ", activation " << int(act));
      auto x = test::uniform_vector<T>(n + 1, n, -4, 4), dy = test::uniform_vector<T>(n + 1, n + 7);
      std::vector<T> y(n + 1, T(-7)), dx(n + 1, T(-7));
      kernels::activation_forward<T>(act, T(0.2), n, x.data(), y.data());
      kernels::activation_backward<T>(act, T(0.2), n, y.data(), dy.data(), dx.data());
      for (std::size_t i = 0; i < n; ++i) {
        const T want = kernels::reference::activate<T>(act, T(0.2), x[i]);
        REQUIRE(std::abs(y[i] - want) <= tolerance<T> * std::max<T>(1, std::abs(want)));
        const T dwant = dy[i] * kernels::reference::activation_derivative<T>(act, T(0.2), y[i]);
        REQUIRE(std::abs(dx[i] - dwant) <= tolerance<T> * std::max<T>(1, std::abs(dwant)));
      }
      REQUIRE(y[n] == T(-7));  // nothing written past the end
      REQUIRE(dx[n] == T(-7));
    }
}

TEMPLATE_TEST_CASE("eltwise: in-place activation equals out-of-place", "[kernel][eltwise]", float, double) {
  using T = TestType;
  const std::size_t n = 3 * kernels::simd_width<T> + 5;
  auto x = test::uniform_vector<T>(n, 3, -3, 3);
  std::vector<T> y(n), inplace = x;
  kernels::activation_forward<T>(Activation::tanh, T(0), n, x.data(), y.data());
  kernels::activation_forward<T>(Activation::tanh, T(0), n, inplace.data(), inplace.data());
  CHECK(y == inplace);
}

TEMPLATE_TEST_CASE("eltwise: bias gradients", "[kernel][eltwise]", float, double) {
  using T = TestType;
  for (int cols : {1, int(kernels::simd_width<T>) - 1, int(kernels::simd_width<T>) + 1, 37}) {
    const int rows = 5;
    const auto want = test::uniform_vector<T>(std::size_t(rows) * cols, 1);
    std::vector<T> sums(cols, T(1));
    kernels::accumulate_column_sums<T>(rows, cols, want.data(), sums.data());
    for (int c = 0; c < cols; ++c) {
      T s = 1;
      for (int r = 0; r < rows; ++r) s += want[r * cols + c];
      REQUIRE(sums[c] == Approx(s).epsilon(1e-6));
    }
  }
  for (int spatial : {1, 7, int(kernels::simd_width<T>) * 2 + 3}) {
    const int batch = 3, channels = 4;
    const auto x = test::uniform_vector<T>(std::size_t(batch) * channels * spatial, 5);
    std::vector<T> sums(channels, T(0.5));
    kernels::accumulate_channel_sums<T>(batch, channels, spatial, x.data(), sums.data());
    for (int c = 0; c < channels; ++c) {
      double s = 0.5;
      for (int n = 0; n < batch; ++n)
        for (int i = 0; i < spatial; ++i) {
          s += x[(std::size_t(n) * channels + c) * spatial + i];
        }
      REQUIRE(sums[c] == Approx(s).epsilon(1e-5));
    }
  }
}

TEMPLATE_TEST_CASE("eltwise: axpy, scale and the Adam update against scalar loops", "[kernel][eltwise]", float, double) {
  using T = TestType;
  for (auto n : lengths<T>()) {
    INFO("n = " << n);
    auto x = test::uniform_vector<T>(n, 1), y = test::uniform_vector<T>(n, 2);
    auto want = y;
    kernels::axpy<T>(n, T(0.7), x.data(), y.data());
    // Bounds scale with the terms, not the result: y + 0.7 x may cancel to near 0.
    for (std::size_t i = 0; i < n; ++i)
      REQUIRE(std::abs(y[i] - (want[i] + T(0.7) * x[i])) <= tolerance<T> * (std::abs(want[i]) + std::abs(x[i])));
    const auto before_scale = y;
    kernels::scale<T>(n, T(-2), y.data());
    for (std::size_t i = 0; i < n; ++i) REQUIRE(y[i] == -2 * before_scale[i]);  // exact: a power of two

    // Adam, as torch.optim.Adam computes it, step t = 3 with weight decay.
    auto g = test::uniform_vector<T>(n, 3), p = test::uniform_vector<T>(n, 4), m = test::uniform_vector<T>(n, 5, -0.1, 0.1),
         v = test::uniform_vector<T>(n, 6, 0.0, 0.01);
    auto p0 = p, m0 = m, v0 = v;
    const double lr = 2e-4, b1 = 0.5, b2 = 0.999, eps = 1e-8, wd = 0.01;
    const int t = 3;
    const double bias1 = 1 - std::pow(b1, t), bias2 = 1 - std::pow(b2, t);
    const kernels::AdamStep<T> s{T(b1), T(b2), T(1 - b1), T(1 - b2), T(lr / bias1), T(1 / std::sqrt(bias2)), T(eps), T(wd)};
    kernels::adam_update<T>(n, s, g.data(), p.data(), m.data(), v.data());
    for (std::size_t i = 0; i < n; ++i) {
      const double gi = g[i] + wd * p0[i];
      const double mi = b1 * m0[i] + (1 - b1) * gi, vi = b2 * v0[i] + (1 - b2) * gi * gi;
      const double pi = p0[i] - lr * (mi / bias1) / (std::sqrt(vi / bias2) + eps);
      REQUIRE(m[i] == Approx(mi).epsilon(1e-6).margin(1e-7));  // m may cancel to near 0
      REQUIRE(v[i] == Approx(vi).epsilon(1e-6).margin(1e-10));
      REQUIRE(p[i] == Approx(pi).epsilon(1e-6).margin(1e-7));
    }
  }
}

TEST_CASE("eltwise: bit-identical on 1, 2 and 3 threads", "[kernel][eltwise][parity]") {
  test::ThreadCount thread_guard(1);
  const std::size_t n = 100003;
  auto x = test::uniform_vector<float>(n, 1, -3, 3);
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2, 3}) {
    thread_guard.set(threads);
    std::vector<float> y(n);
    kernels::activation_forward<float>(Activation::tanh, 0.f, n, x.data(), y.data());
    std::vector<float> sums(7, 0.f);
    kernels::accumulate_channel_sums<float>(13, 7, 1098, x.data(), sums.data());  // 99918 <= n values
    y.insert(y.end(), sums.begin(), sums.end());
    outs.push_back(std::move(y));
  }
  CHECK(outs[0] == outs[1]);
  CHECK(outs[0] == outs[2]);
}

TEMPLATE_TEST_CASE("eltwise: add_transposed adds x^T on tile edges and odd sizes", "[kernel][eltwise]", float, double) {
  for (auto [rows, cols] : {std::pair{1, 1}, std::pair{16, 16}, std::pair{17, 33}, std::pair{37, 5}, std::pair{256, 300}}) {
    const auto x = test::uniform_vector<TestType>(std::size_t(rows) * cols, 1);
    const auto y0 = test::uniform_vector<TestType>(std::size_t(rows) * cols, 2);
    auto y = y0;
    kernels::add_transposed<TestType>(rows, cols, x.data(), y.data());
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        INFO(rows << " x " << cols << " at " << i << ", " << j);
        REQUIRE(y[std::size_t(i) * cols + j] == y0[std::size_t(i) * cols + j] + x[std::size_t(j) * rows + i]);
      }
  }
}
