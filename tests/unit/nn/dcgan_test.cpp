#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cmath>

#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace ganad;

TEST_CASE("The seed's DCGAN composes: shapes, parameter counts, a forward pass", "[nn][dcgan]") {
  using G = models::DcganGenerator<float>;
  using D = models::DcganDiscriminator<float>;
  STATIC_REQUIRE(std::is_same_v<G::out_shape, Shape<1, 28, 28>>);
  STATIC_REQUIRE(std::is_same_v<G::layer_type<3>::out_shape, Shape<128, 14, 14>>);
  STATIC_REQUIRE(std::is_same_v<D::layer_type<2>::out_shape, Shape<128, 7, 7>>);
  STATIC_REQUIRE(std::is_same_v<D::out_shape, Flat<1>>);
  // Keras counts for the same model: 1,254,400 + 12,544 | 524,416 | 131,136 | 3,137 (G); 1,664 | 204,928 | 6,273 (D).
  STATIC_REQUIRE(G::param_count == 1266944 + 524416 + 131136 + 3137);
  STATIC_REQUIRE(D::param_count == 1664 + 204928 + 6273);
  G g({.seed = 1, .scheme = Init::dcgan});
  D d({.seed = 2, .scheme = Init::dcgan});
  Batch<float, Flat<100>> z(5);
  test::fill_uniform<float>(z.flat(), 3);
  const auto img = g.forward(z.view());
  for (float v : img.flat()) REQUIRE((std::isfinite(v) && v >= -1.f && v <= 1.f));
  const auto logit = d.forward(img);
  for (float v : logit.flat()) REQUIRE(std::isfinite(v));
}

TEST_CASE("A small DCGAN-shaped generator and discriminator pass the whole-network gradient check",
          "[nn][dcgan][gradcheck]") {
  using G = Sequential<double, Flat<3>, Dense<2 * 3 * 3>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>,
                       ConvTranspose2D<3, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,
                       ConvTranspose2D<1, 3, Stride<1>, Same>, Tanh>;
  using D = Sequential<double, Shape<1, 6, 6>, Conv2D<3, 3, Stride<2>, Same>, LeakyReLU<>,
                       Conv2D<4, 3, Stride<2>, Same>, LeakyReLU<>, Flatten, Dense<1>>;
  G g({.seed = 4, .scheme = Init::dcgan});
  D d({.seed = 5});
  // param_scale 0.5 for G: Init::dcgan's N(0, 0.02) weights give gradients so small that the
  // relative error of a central difference measures rounding, not the gradient; weights
  // uniform in [-0.5, 0.5] give gradients of order one.
  const auto rg = test::gradcheck(g, 3, {.seed = 6, .param_scale = 0.5});
  GANAD_REQUIRE_GRADCHECK(rg);
  const auto rd = test::gradcheck(d, 3, {.seed = 7});
  GANAD_REQUIRE_GRADCHECK(rd);
}
