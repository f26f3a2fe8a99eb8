#include <catch2/catch.hpp>

#include "ganad/ganad.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace ganad;

TEST_CASE("Reshape and Flatten: shapes at compile time, values unchanged", "[layer]") {
  using Net = Sequential<float, Shape<2, 3, 4>, Flatten, Reshape<Shape<4, 6, 1>>>;
  STATIC_REQUIRE(std::is_same_v<Net::layer_type<0>::out_shape, Flat<24>>);
  STATIC_REQUIRE(std::is_same_v<Net::out_shape, Shape<4, 6, 1>>);
  Net net;
  Batch<float, Shape<2, 3, 4>> x(2);
  test::fill_uniform<float>(x.flat(), 1);
  const auto y = net.forward(x.view());
  for (std::size_t i = 0; i < x.flat().size(); ++i) REQUIRE(y.data[i] == x.flat()[i]);
}

TEST_CASE("Reshape and Flatten: gradients pass through", "[layer][gradcheck]") {
  Sequential<double, Shape<2, 9, 7>, Flatten, Reshape<Shape<7, 2, 9>>> net;
  const auto rep = test::gradcheck(net, 3);
  INFO(rep.describe());
  REQUIRE(rep.max_rel_error <= 1e-6);
  REQUIRE(rep.dx_fully_written);
}
