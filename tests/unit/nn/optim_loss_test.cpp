#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace ganad;

TEST_CASE("bce_with_logits: values, gradient and stability for any logit", "[gan][loss]") {
  const std::vector<float> z = {-3.f, -0.5f, 0.f, 0.7f, 4.f};
  std::vector<float> dz(z.size());
  const auto r = bce_with_logits<float>(z, 0.9f, dz);
  double want = 0, prob = 0;
  for (float v : z) {
    const double p = 1 / (1 + std::exp(-double(v)));
    want += -(0.9 * std::log(p) + 0.1 * std::log(1 - p));
    prob += p;
  }
  CHECK(r.loss == Approx(want / 5).epsilon(1e-6));
  CHECK(r.mean_probability == Approx(prob / 5).epsilon(1e-6));
  for (std::size_t i = 0; i < z.size(); ++i)
    CHECK(dz[i] == Approx((1 / (1 + std::exp(-double(z[i]))) - 0.9) / 5).epsilon(1e-5));
  // log(sigmoid(z)) would give -inf or NaN here; the stable form gives |z|.
  const std::vector<double> huge = {-1000.0, 1000.0};
  std::vector<double> dh(2);
  const auto h = bce_with_logits<double>(huge, 1.0, dh);
  CHECK(h.loss == Approx(500.0));
  CHECK(std::isfinite(dh[0]));
  CHECK(dh[0] == Approx(-0.5));
}

TEST_CASE("Adam: the first step moves each parameter by about lr against its gradient", "[gan][optim]") {
  Adam<double> adam(3, {.lr = 0.01});
  std::vector<double> p = {1, 1, 1}, g = {0.5, -2, 1e-3};
  adam.step(p, g);
  CHECK(p[0] == Approx(1 - 0.01).epsilon(1e-6));  // m_hat / sqrt(v_hat) = sign(g)
  CHECK(p[1] == Approx(1 + 0.01).epsilon(1e-6));
  CHECK(p[2] == Approx(1 - 0.01 * 1e-3 / (1e-3 + 1e-8)).epsilon(1e-9));
  CHECK(adam.steps() == 1);
  CHECK_THROWS_AS(Adam<float>(3, {.lr = -1}), ValueError);
}

TEST_CASE("Sgd: momentum accumulates as torch.optim.SGD", "[gan][optim]") {
  Sgd<double> sgd(1, {.lr = 0.1, .momentum = 0.9});
  std::vector<double> p = {1}, g = {2};
  sgd.step(p, g);  // v = 2, p = 1 - 0.2
  CHECK(p[0] == Approx(0.8));
  sgd.step(p, g);  // v = 0.9 * 2 + 2 = 3.8, p = 0.8 - 0.38
  CHECK(p[0] == Approx(0.42));
}

