#include <catch2/catch.hpp>

#include <cmath>

#include "ganad/ganad.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace ganad;

TEMPLATE_TEST_CASE("Activations: analytic gradients match finite differences", "[layer][gradcheck]",
                   ReLU, LeakyReLU<>, LeakyReLU<0.01>, Tanh, Sigmoid) {
  Sequential<double, Shape<2, 9, 7>, TestType> net;
  const auto rep = test::gradcheck(net, 3, {.seed = 21, .input_margin = 1e-3});
  INFO(rep.describe());
  REQUIRE(rep.max_rel_error <= 1e-6);
  REQUIRE(rep.dx_fully_written);
  REQUIRE(rep.dx_overwritten);
  REQUIRE(rep.forward_repeatable);
}

TEST_CASE("Activations: forward values against the math library", "[layer]") {
  constexpr int n = 2 * 9 * 7;
  Batch<double, Shape<2, 9, 7>> x(3);
  test::fill_uniform<double>(x.flat(), 4, -3.0, 3.0);
  Sequential<double, Shape<2, 9, 7>, ReLU> relu;
  Sequential<double, Shape<2, 9, 7>, LeakyReLU<0.3>> leaky;
  Sequential<double, Shape<2, 9, 7>, Tanh> tanh_net;
  Sequential<double, Shape<2, 9, 7>, Sigmoid> sigmoid;
  const auto a = relu.forward(x.view());
  const auto b = leaky.forward(x.view());
  const auto c = tanh_net.forward(x.view());
  const auto d = sigmoid.forward(x.view());
  for (int i = 0; i < 3 * n; ++i) {
    const double v = x.flat()[i];
    REQUIRE(a.data[i] == (v > 0 ? v : 0.0));
    REQUIRE(b.data[i] == (v > 0 ? v : 0.3 * v));
    REQUIRE(c.data[i] == Approx(std::tanh(v)).epsilon(1e-14));
    REQUIRE(d.data[i] == Approx(1.0 / (1.0 + std::exp(-v))).epsilon(1e-14));
  }
}
