#include <catch2/catch.hpp>

#include <vector>

#include "ganad/ganad.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace ganad;

TEMPLATE_TEST_CASE("Dense: analytic gradients match finite differences", "[layer][gradcheck]",
                   (Sequential<double, Shape<2, 3, 3>, Dense<5>>),
                   (Sequential<double, Flat<7>, Dense<1>>),
                   (Sequential<double, Flat<1>, Dense<13>>),
                   (Sequential<double, Shape<3, 5, 4>, Dense<37>>)) {
  TestType net({.seed = 11});
  for (int batch : {1, 3}) {
    const auto rep = test::gradcheck(net, batch, {.seed = 5});
    GANAD_REQUIRE_GRADCHECK(rep);
  }
}

TEST_CASE("Dense: forward equals the plain loop y = x W + b", "[layer]") {
  using Net = Sequential<double, Shape<2, 3, 5>, Dense<19>>;
  Net net({.seed = 3});
  constexpr int K = 30, N = 19, batch = 4;
  Batch<double, Shape<2, 3, 5>> x(batch);
  test::fill_uniform<double>(x.flat(), 8);
  const auto y = net.forward(x.view());
  const auto p = net.params();
  for (int n = 0; n < batch; ++n)
    for (int o = 0; o < N; ++o) {
      double s = p[std::size_t(N) * K + o];
      for (int i = 0; i < K; ++i) s += p[std::size_t(i) * N + o] * x.flat()[std::size_t(n) * K + i];
      REQUIRE(y.data[n * N + o] == Approx(s).epsilon(1e-13));
    }
}

TEST_CASE("Dense: a hand-computed 2 -> 2 case", "[layer]") {
  Sequential<double, Flat<2>, Dense<2>> net;
  const double params[] = {1, 2, 3, 4, 0.5, -1};  // w = [[1, 2], [3, 4]] (input x output), b = [0.5, -1]
  std::ranges::copy(params, net.params().begin());
  const double x[] = {1, -1, 2, 0.5};
  const auto y = net.forward({x, 2});
  CHECK(y.data[0] == -1.5);  // 1*1 - 1*3 + 0.5
  CHECK(y.data[1] == -3.0);  // 1*2 - 1*4 - 1
  CHECK(y.data[2] == 4.0);   // 2*1 + 0.5*3 + 0.5
  CHECK(y.data[3] == 5.0);   // 2*2 + 0.5*4 - 1
}
