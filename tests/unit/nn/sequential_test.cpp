#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "ganad/ganad.hpp"
#include "support/alloc_counter.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

using namespace ganad;

namespace {
using Mixed = Sequential<double, Shape<2, 5, 3>, Dense<7>, Tanh, Dense<6>, LeakyReLU<>,
                         Reshape<Shape<1, 2, 3>>, Flatten, Dense<2>, Sigmoid>;
using FloatNet = Sequential<float, Shape<1, 28, 28>, Flatten, Dense<96>, LeakyReLU<>, Dense<37>,
                            Tanh, Dense<1>>;
}  // namespace

TEST_CASE("Sequential: shapes propagate at compile time", "[nn]") {
  STATIC_REQUIRE(std::is_same_v<Mixed::out_shape, Flat<2>>);
  STATIC_REQUIRE(std::is_same_v<Mixed::layer_type<4>::out_shape, Shape<1, 2, 3>>);
  STATIC_REQUIRE(Mixed::param_count == (30 * 7 + 7) + (7 * 6 + 6) + (6 * 2 + 2));
  STATIC_REQUIRE(Layer<Mixed>);
}

TEST_CASE("Sequential: whole-network gradients match finite differences", "[nn][gradcheck]") {
  Mixed net({.seed = 4});
  const auto rep = test::gradcheck(net, 3, {.seed = 12});
  GANAD_REQUIRE_GRADCHECK(rep);
}

TEST_CASE("Sequential: a frozen backward gives the same dx and no parameter gradients", "[nn]") {
  Mixed net({.seed = 4});
  Batch<double, Shape<2, 5, 3>> x(3), dx1(3), dx2(3);
  Batch<double, Flat<2>> dy(3);
  test::fill_uniform<double>(x.flat(), 1);
  test::fill_uniform<double>(dy.flat(), 2);
  net.forward(x.view());
  net.zero_grads();
  net.backward(x.view(), dy.view(), dx1.view());
  CHECK(std::ranges::any_of(net.grads(), [](double g) { return g != 0.0; }));
  net.zero_grads();
  net.backward(x.view(), dy.view(), dx2.view(), ParamGrads::skip);
  CHECK(std::ranges::all_of(net.grads(), [](double g) { return g == 0.0; }));
  CHECK(std::ranges::equal(dx1.flat(), dx2.flat()));
}

TEST_CASE("Sequential: summary lists every layer with shape and parameter count", "[nn]") {
  const auto s = FloatNet().summary();
  CHECK_THAT(s, Catch::Contains("input") && Catch::Contains("(1, 28, 28)"));
  CHECK_THAT(s, Catch::Contains("Flatten") && Catch::Contains("(784)"));
  CHECK_THAT(s, Catch::Contains("75360"));  // 784 * 96 + 96
  CHECK_THAT(s, Catch::Contains("Total params: " + std::to_string(FloatNet::param_count)));
}

TEST_CASE("Sequential: the same seed gives the same parameters, another seed others", "[nn]") {
  FloatNet a({.seed = 1}), b({.seed = 1}), c({.seed = 2});
  CHECK(std::ranges::equal(a.params(), b.params()));
  CHECK(!std::ranges::equal(a.params(), c.params()));
  FloatNet d({.seed = 1, .scheme = Init::dcgan});
  CHECK(!std::ranges::equal(a.params(), d.params()));
}

TEST_CASE("Sequential: copies own their parameters and give the same outputs", "[nn]") {
  FloatNet a({.seed = 5});
  Batch<float, Shape<1, 28, 28>> x(4);
  test::fill_uniform<float>(x.flat(), 3);
  std::vector<float> ya(4), yb(4);
  std::ranges::copy(a.forward(x.view()).flat(), ya.begin());
  FloatNet b = a;
  std::ranges::copy(b.forward(x.view()).flat(), yb.begin());
  CHECK(ya == yb);
  b.params()[0] += 1.0f;
  CHECK(a.params()[0] != b.params()[0]);
  FloatNet c = std::move(b);
  std::ranges::copy(c.forward(x.view()).flat(), yb.begin());
  CHECK(ya != yb);
}

TEST_CASE("Sequential: no allocation once a batch size has been seen", "[nn][alloc]") {
  FloatNet net({.seed = 5});
  Batch<float, Shape<1, 28, 28>> x(64), dx(64);
  Batch<float, Flat<1>> dy(64);
  test::fill_uniform<float>(x.flat(), 3);
  test::fill_uniform<float>(dy.flat(), 4);
  net.forward(x.view());
  net.backward(x.view(), dy.view(), dx.view());  // warm-up: buffers and GEMM workspaces
  const auto before = test::all_allocations();
  for (int i = 0; i < 3; ++i) {
    net.forward(x.view());
    net.backward(x.view(), dy.view(), dx.view());
    net.forward(ConstBatchView<float, Shape<1, 28, 28>>{x.data(), 17});  // smaller batch
  }
  CHECK(test::all_allocations() == before);
}

TEST_CASE("Sequential: run-time batch mismatches are ShapeErrors", "[nn]") {
  FloatNet net;
  Batch<float, Shape<1, 28, 28>> x(4), dx(4);
  Batch<float, Flat<1>> y(3), dy(3);
  CHECK_THROWS_AS(net.forward(x.view(), y.view()), ShapeError);
  net.forward(x.view());
  CHECK_THROWS_WITH(net.backward(x.view(), dy.view(), dx.view()),
                    Catch::Contains("batch of the last forward (4 samples)"));
}

TEST_CASE("Sequential: outputs and gradients are bit-identical on 1, 2 and 3 threads", "[nn][parity]") {
  FloatNet net({.seed = 8});
  Batch<float, Shape<1, 28, 28>> x(96), dx(96);
  Batch<float, Flat<1>> dy(96);
  test::fill_uniform<float>(x.flat(), 3);
  test::fill_uniform<float>(dy.flat(), 4);
  test::ThreadCount thread_guard(1);
  std::vector<std::vector<float>> outs, grads, dxs;
  for (int threads : {1, 2, 3}) {
    thread_guard.set(threads);
    const auto y = net.forward(x.view());
    outs.emplace_back(y.flat().begin(), y.flat().end());
    net.zero_grads();
    net.backward(x.view(), dy.view(), dx.view());
    grads.emplace_back(net.grads().begin(), net.grads().end());
    dxs.emplace_back(dx.flat().begin(), dx.flat().end());
  }
  CHECK(outs[0] == outs[1]);
  CHECK(outs[0] == outs[2]);
  CHECK(grads[0] == grads[1]);
  CHECK(grads[0] == grads[2]);
  CHECK(dxs[0] == dxs[1]);
  CHECK(dxs[0] == dxs[2]);
}

namespace {
// Output and input gradient of `net` on x (batch 256) in eval-free training mode, as vectors.
std::pair<std::vector<float>, std::vector<float>> run_256(FloatNet& net, const Batch<float, Shape<1, 28, 28>>& x) {
  Batch<float, Shape<1, 28, 28>> dx(x.batch());
  Batch<float, Flat<1>> dy(x.batch());
  test::fill_uniform<float>(dy.flat(), 6);
  const auto y = net.forward(x.view());
  std::vector<float> out(y.flat().begin(), y.flat().end());
  net.zero_grads();
  net.backward(x.view(), dy.view(), dx.view());
  return {out, std::vector<float>(dx.flat().begin(), dx.flat().end())};
}
}  // namespace

// Regression: the assignments used to keep the target's capacity and gradient buffers while
// taking the source's smaller activation buffers, so the next large batch wrote past them
// (ASan: heap-buffer-overflow in the GEMM for the move; silent for the copy).
TEST_CASE("Sequential: copy and move assignment work whatever batches either side has seen", "[nn][regression]") {
  Batch<float, Shape<1, 28, 28>> x256(256), x2(2);
  test::fill_uniform<float>(x256.flat(), 3);
  test::fill_uniform<float>(x2.flat(), 4);
  FloatNet fresh({.seed = 2});
  const auto want = run_256(fresh, x256);

  FloatNet target({.seed = 1}), source({.seed = 2});
  target.forward(x256.view());
  source.forward(x2.view());
  target = std::move(source);
  CHECK(run_256(target, x256) == want);

  FloatNet target2({.seed = 1}), source2({.seed = 2});
  target2.forward(x256.view());
  source2.forward(x2.view());
  target2 = source2;
  CHECK(run_256(target2, x256) == want);
  CHECK(run_256(source2, x256) == want);  // the source is untouched by being copied

  // The other way round: a small-batch target takes a large-batch source.
  FloatNet small({.seed = 1}), large({.seed = 2});
  small.forward(x2.view());
  large.forward(x256.view());
  small = large;
  CHECK(run_256(small, x256) == want);
}
