#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace ganad;

TEMPLATE_TEST_CASE("BatchNorm: gradients match finite differences in train mode (batch statistics included)",
                   "[layer][batchnorm][gradcheck]", (Sequential<double, Shape<3, 4, 5>, BatchNorm<>>),
                   (Sequential<double, Flat<6>, BatchNorm<>>),
                   (Sequential<double, Shape<2, 5, 3>, Conv2D<3, 3, Stride<1>, Pad<1>>, BatchNorm<>, Tanh>)) {
  TestType net({.seed = 3, .scheme = Init::dcgan});
  const auto rep = test::gradcheck(net, 4, {.seed = 9});
  INFO(rep.describe());
  REQUIRE(rep.max_rel_error <= 1e-6);
  REQUIRE(rep.dx_fully_written);
  REQUIRE(rep.grads_accumulate);
  REQUIRE(rep.dx_overwritten);
}

TEST_CASE("BatchNorm: gradients match finite differences in eval mode", "[layer][batchnorm][gradcheck]") {
  Sequential<double, Shape<3, 4, 5>, BatchNorm<>> net({.seed = 3, .scheme = Init::dcgan});
  Batch<double, Shape<3, 4, 5>> warm(5);
  test::fill_uniform<double>(warm.flat(), 1, -2, 3);
  net.forward(warm.view());  // moves the running statistics away from 0 and 1
  net.eval();
  const auto rep = test::gradcheck(net, 3, {.seed = 9});
  INFO(rep.describe());
  REQUIRE(rep.max_rel_error <= 1e-6);
  REQUIRE(rep.forward_repeatable);
}

TEST_CASE("BatchNorm: train mode normalises each channel over batch and positions", "[layer][batchnorm]") {
  Sequential<double, Shape<2, 3, 3>, BatchNorm<>> net;  // gamma 1, beta 0
  Batch<double, Shape<2, 3, 3>> x(4);
  test::fill_uniform<double>(x.flat(), 5, -1, 7);
  const auto y = net.forward(x.view());
  for (int c = 0; c < 2; ++c) {
    double s = 0, s2 = 0;
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 9; ++i) {
        const double v = y.data[(n * 2 + c) * 9 + i];
        s += v;
        s2 += v * v;
      }
    CHECK(std::abs(s / 36) < 1e-12);
    CHECK(s2 / 36 == Approx(1.0).epsilon(1e-4));  // var / (var + eps)
  }
}

TEST_CASE("BatchNorm: running statistics after a known sequence of batches", "[layer][batchnorm]") {
  Sequential<double, Flat<1>, BatchNorm<>> net;
  const double b1[] = {1, 3}, b2[] = {2, 6};
  net.forward({b1, 2});  // mean 2, unbiased var 2
  net.forward({b2, 2});  // mean 4, unbiased var 8
  std::vector<double> state;
  net.for_each_state([&](std::span<double> s) { state.assign(s.begin(), s.end()); });
  REQUIRE(state.size() == 2);
  CHECK(state[0] == Approx(0.1 * 2 * 0.9 + 0.1 * 4));        // 0.58
  CHECK(state[1] == Approx((1 + 0.1 * (2 - 1)) * 0.9 + 0.1 * 8));  // 1.79
  STATIC_REQUIRE(decltype(net)::state_count == 2);
}

TEST_CASE("BatchNorm: in eval mode a sample's output does not depend on its batch", "[layer][batchnorm]") {
  using Net = Sequential<float, Shape<2, 3, 3>, Conv2D<4, 3, Stride<1>, Same>, BatchNorm<>, LeakyReLU<>>;
  Net net({.seed = 1});
  Batch<float, Shape<2, 3, 3>> warm(8), a(3), b(5);
  test::fill_uniform<float>(warm.flat(), 2, -1, 2);
  net.forward(warm.view());
  net.eval();
  CHECK(!net.training());
  test::fill_uniform<float>(a.flat(), 3);
  test::fill_uniform<float>(b.flat(), 4, -5, 5);
  std::copy_n(a.data(), Shape<2, 3, 3>::size, b.data() + 2 * Shape<2, 3, 3>::size);  // a's first sample, 3rd in b
  std::vector<float> ya(net.forward(a.view()).flat().begin(), net.forward(a.view()).flat().end());
  const auto yb = net.forward(b.view());
  for (std::size_t i = 0; i < Net::out_shape::size; ++i) REQUIRE(ya[i] == yb.data[2 * Net::out_shape::size + i]);
  net.train();
  CHECK(net.training());
}

TEST_CASE("BatchNorm: training on a single value per channel is a clear error", "[layer][batchnorm]") {
  Sequential<float, Flat<3>, BatchNorm<>> net;
  const float x[] = {1, 2, 3};
  CHECK_THROWS_WITH(net.forward({x, 1}), Catch::Contains("more than one value per channel"));
  net.eval();
  CHECK_NOTHROW(net.forward({x, 1}));
}
