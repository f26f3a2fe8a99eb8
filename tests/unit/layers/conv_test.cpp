#include "ganad/ganad.hpp"
#include "ganad/kernels/reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

using namespace ganad;

namespace {
template <class Net>
void require_gradients_match(std::uint64_t seed) {
  Net net({.seed = seed});
  const auto rep = test::gradcheck(net, 3, {.seed = seed + 1});
  GANAD_REQUIRE_GRADCHECK(rep);
}
}  // namespace

// Kernel 1, 3, 4, 5, 7; stride 1, 2, 3; Pad<0..K-1>; Same on odd and even sizes; non-square.
TEMPLATE_TEST_CASE("Conv2D: analytic gradients match finite differences", "[layer][conv][gradcheck]",
                   (Sequential<double, Shape<2, 9, 7>, Conv2D<3, 3, Stride<1>, Pad<1>>>),
                   (Sequential<double, Shape<2, 9, 7>, Conv2D<4, 3, Stride<2>, Pad<1>>>),
                   (Sequential<double, Shape<2, 9, 7>, Conv2D<2, 1, Stride<1>, Pad<0>>>),
                   (Sequential<double, Shape<3, 8, 6>, Conv2D<2, 4, Stride<2>, Pad<3>>>),
                   (Sequential<double, Shape<2, 9, 7>, Conv2D<3, 5, Stride<3>, Pad<2>>>),
                   (Sequential<double, Shape<1, 9, 8>, Conv2D<2, 7, Stride<1>, Pad<0>>>),
                   (Sequential<double, Shape<2, 9, 7>, Conv2D<3, 5, Stride<2>, Same>>),
                   (Sequential<double, Shape<2, 8, 6>, Conv2D<3, 4, Stride<2>, Same>>),
                   (Sequential<double, Shape<2, 7, 10>, Conv2D<2, 3, Stride<3>, Same>>),
                   (Sequential<double, Shape<2, 6, 5>, Conv2D<2, 2, Stride<1>, Same>>),
                   // 16 x 16 outputs: the engine's per-sample GEMMs on the NCHW tensors
                   (Sequential<double, Shape<2, 16, 16>, Conv2D<3, 3, Stride<1>, Pad<1>>>),
                   (Sequential<double, Shape<1, 33, 32>, Conv2D<2, 4, Stride<2>, Same>>)) {
  require_gradients_match<TestType>(31);
}

TEMPLATE_TEST_CASE("ConvTranspose2D: analytic gradients match finite differences", "[layer][conv][gradcheck]",
                   (Sequential<double, Shape<3, 4, 5>, ConvTranspose2D<2, 3, Stride<1>, Pad<1>>>),
                   (Sequential<double, Shape<3, 4, 5>, ConvTranspose2D<2, 4, Stride<2>, Pad<1>>>),
                   (Sequential<double, Shape<2, 5, 3>, ConvTranspose2D<3, 1, Stride<1>, Pad<0>>>),
                   (Sequential<double, Shape<2, 3, 4>, ConvTranspose2D<2, 5, Stride<3>, Pad<2>>>),
                   (Sequential<double, Shape<2, 3, 3>, ConvTranspose2D<1, 7, Stride<1>, Pad<3>>>),
                   (Sequential<double, Shape<2, 3, 4>, ConvTranspose2D<2, 4, Stride<2>, Same>>),
                   (Sequential<double, Shape<2, 3, 5>, ConvTranspose2D<2, 5, Stride<2>, Same>>),
                   (Sequential<double, Shape<2, 3, 2>, ConvTranspose2D<2, 7, Stride<1>, Same>>),
                   (Sequential<double, Shape<2, 2, 3>, ConvTranspose2D<2, 2, Stride<3>, Same>>),
                   // 16 x 16 inputs: per-sample GEMMs
                   (Sequential<double, Shape<2, 16, 16>, ConvTranspose2D<2, 3, Stride<1>, Same>>),
                   (Sequential<double, Shape<2, 16, 16>, ConvTranspose2D<1, 4, Stride<2>, Pad<1>>>)) {
  require_gradients_match<TestType>(41);
}

TEMPLATE_TEST_CASE("Conv2D: forward equals the direct 7-loop convolution", "[layer][conv]",
                   (Conv2D<5, 3, Stride<1>, Pad<1>>), (Conv2D<4, 5, Stride<2>, Same>), (Conv2D<3, 4, Stride<2>, Same>),
                   (Conv2D<6, 4, Stride<3>, Pad<2>>), (Conv2D<2, 7, Stride<1>, Valid>)) {
  using Net = Sequential<double, Shape<3, 11, 10>, TestType>;
  using L = typename Net::template layer_type<0>;
  using Out = typename Net::out_shape;
  constexpr auto g = L::geometry;
  Net net({.seed = 5});
  const int batch = 4;
  Batch<double, Shape<3, 11, 10>> x(batch);
  test::fill_uniform<double>(x.flat(), 6);
  const auto y = net.forward(x.view());
  std::vector<double> want(std::size_t(batch) * Out::size);
  const auto p = net.params();
  kernels::reference::conv2d<double>(batch, 3, 11, 10, Out::channels, g.kernel, g.stride, g.pad_top, g.pad_left,
                                     Out::height, Out::width, x.data(), p.data(), p.data() + L::weight_count, want.data());
  for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(y.data[i] == Approx(want[i]).epsilon(1e-13).margin(1e-14));
}

TEMPLATE_TEST_CASE("ConvTranspose2D: forward equals the direct scatter definition", "[layer][conv]",
                   (ConvTranspose2D<5, 3, Stride<1>, Pad<1>>), (ConvTranspose2D<4, 4, Stride<2>, Same>),
                   (ConvTranspose2D<3, 5, Stride<2>, Same>), (ConvTranspose2D<2, 4, Stride<3>, Pad<2>>),
                   (ConvTranspose2D<1, 7, Stride<1>, Valid>)) {
  using Net = Sequential<double, Shape<3, 6, 5>, TestType>;
  using L = typename Net::template layer_type<0>;
  using Out = typename Net::out_shape;
  constexpr auto g = L::geometry;
  Net net({.seed = 5});
  const int batch = 3;
  Batch<double, Shape<3, 6, 5>> x(batch);
  test::fill_uniform<double>(x.flat(), 6);
  const auto y = net.forward(x.view());
  std::vector<double> want(std::size_t(batch) * Out::size);
  const auto p = net.params();
  kernels::reference::conv_transpose2d<double>(batch, 3, 6, 5, Out::channels, g.kernel, g.stride, g.pad_top, g.pad_left,
                                               Out::height, Out::width, x.data(), p.data(), p.data() + L::weight_count, want.data());
  for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(y.data[i] == Approx(want[i]).epsilon(1e-13).margin(1e-14));
}

TEST_CASE("Conv2D and ConvTranspose2D: the per-sample path equals the direct definitions", "[layer][conv]") {
  using C = Sequential<double, Shape<3, 16, 16>, Conv2D<4, 3, Stride<1>, Same>>;
  using T = Sequential<double, Shape<3, 16, 16>, ConvTranspose2D<2, 4, Stride<2>, Same>>;
  constexpr auto gc = C::layer_type<0>::geometry;
  constexpr auto gt = T::layer_type<0>::geometry;
  REQUIRE(kernels::per_sample_gemms<double>(gc));  // 256 columns a sample: one GEMM each
  REQUIRE(kernels::per_sample_gemms<double>(gt));
  C conv({.seed = 8});
  T convt({.seed = 9});
  Batch<double, Shape<3, 16, 16>> x(5);
  test::fill_uniform<double>(x.flat(), 10);
  std::vector<double> want(5 * C::out_shape::size), want_t(5 * T::out_shape::size);
  const auto pc = conv.params();
  kernels::reference::conv2d<double>(5, 3, 16, 16, 4, 3, 1, gc.pad_top, gc.pad_left, 16, 16, x.data(), pc.data(),
                                     pc.data() + C::layer_type<0>::weight_count, want.data());
  const auto yc = conv.forward(x.view());
  for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(yc.data[i] == Approx(want[i]).epsilon(1e-13).margin(1e-14));
  const auto pt = convt.params();
  kernels::reference::conv_transpose2d<double>(5, 3, 16, 16, 2, 4, 2, gt.pad_top, gt.pad_left, 32, 32, x.data(), pt.data(),
                                               pt.data() + T::layer_type<0>::weight_count, want_t.data());
  const auto yt = convt.forward(x.view());
  for (std::size_t i = 0; i < want_t.size(); ++i) REQUIRE(yt.data[i] == Approx(want_t[i]).epsilon(1e-13).margin(1e-14));
  // The DCGAN's 7 x 7 and 14 x 14 sides go channel-major; 28 x 28 per sample.
  CHECK_FALSE(kernels::per_sample_gemms<float>({64, 14, 14, 5, 2, 1, 1, 7, 7}));
  CHECK_FALSE(kernels::per_sample_gemms<float>({1, 28, 28, 5, 2, 1, 1, 14, 14}));
  CHECK(kernels::per_sample_gemms<float>({1, 28, 28, 7, 1, 3, 3, 28, 28}));
}

TEST_CASE("Conv2D and ConvTranspose2D: output sizes follow PyTorch (Pad) and Keras (Same)", "[layer][conv]") {
  // PyTorch: floor((H + 2P - K) / S) + 1 and (H - 1) S - 2P + K; Keras 'same': ceil(H / S) and H * S.
  STATIC_REQUIRE(std::is_same_v<Conv2D<8, 3, Stride<2>, Pad<1>>::bind<float, Shape<1, 28, 27>>::out_shape, Shape<8, 14, 14>>);
  STATIC_REQUIRE(std::is_same_v<Conv2D<8, 5, Stride<2>, Same>::bind<float, Shape<1, 28, 27>>::out_shape, Shape<8, 14, 14>>);
  STATIC_REQUIRE(std::is_same_v<Conv2D<8, 5, Stride<3>, Same>::bind<float, Shape<1, 7, 8>>::out_shape, Shape<8, 3, 3>>);
  STATIC_REQUIRE(std::is_same_v<Conv2D<8, 5, Stride<1>, Valid>::bind<float, Shape<1, 7, 8>>::out_shape, Shape<8, 3, 4>>);
  STATIC_REQUIRE(std::is_same_v<ConvTranspose2D<8, 4, Stride<2>, Pad<1>>::bind<float, Shape<1, 7, 7>>::out_shape, Shape<8, 14, 14>>);
  STATIC_REQUIRE(std::is_same_v<ConvTranspose2D<8, 7, Stride<1>, Valid>::bind<float, Shape<1, 28, 28>>::out_shape, Shape<8, 34, 34>>);
  STATIC_REQUIRE(std::is_same_v<ConvTranspose2D<8, 5, Stride<2>, Same>::bind<float, Shape<1, 7, 9>>::out_shape, Shape<8, 14, 18>>);
  // TF pads 'same' asymmetrically: K = 4, S = 2 on 8 -> 4 needs 2 rows, one before; K = 5, S = 2 on 8 needs 3, one before.
  STATIC_REQUIRE(Conv2D<1, 4, Stride<2>, Same>::bind<float, Shape<1, 8, 8>>::geometry.pad_top == 1);
  STATIC_REQUIRE(Conv2D<1, 5, Stride<2>, Same>::bind<float, Shape<1, 8, 8>>::geometry.pad_top == 1);
  STATIC_REQUIRE(Conv2D<1, 5, Stride<2>, Same>::bind<float, Shape<1, 9, 9>>::geometry.pad_top == 2);
}

TEST_CASE("Conv2D: a 1x3x3 case worked out by hand", "[layer][conv]") {
  // x = 1..9 in a 3x3 image, w = [[1, 0], [0, -1]], b = 0.5, stride 1, no padding:
  // y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere.
  Sequential<double, Shape<1, 3, 3>, Conv2D<1, 2>> net;
  const double p[] = {1, 0, 0, -1, 0.5};
  std::ranges::copy(p, net.params().begin());
  const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto y = net.forward({x, 1});
  for (int i = 0; i < 4; ++i) CHECK(y.data[i] == -3.5);
  // Same with Pad<1>, stride 2: outputs at (0,0), (0,2), (2,0), (2,2) of the padded grid.
  Sequential<double, Shape<1, 3, 3>, Conv2D<1, 2, Stride<2>, Pad<1>>> padded;
  std::ranges::copy(p, padded.params().begin());
  const auto z = padded.forward({x, 1});
  // window at (-1,-1): only x[0][0] under w[1][1] = -1 -> -1 + 0.5; (-1,1): x[0][2] -> -3 + 0.5;
  // (1,-1): x[2][0] -> -7 + 0.5; (1,1): x[1][1] - x[2][2] = 5 - 9 -> -4 + 0.5.
  CHECK(z.data[0] == -0.5);
  CHECK(z.data[1] == -2.5);
  CHECK(z.data[2] == -6.5);
  CHECK(z.data[3] == -3.5);
}

TEMPLATE_TEST_CASE("Conv2D and ConvTranspose2D are each other's adjoint: <conv(x), y> = <x, convT(y)>",
                   "[layer][conv]", (std::integral_constant<int, 0>), (std::integral_constant<int, 1>),
                   (std::integral_constant<int, 2>)) {
  auto check = []<class In, class Conv, class ConvT>() {
    using C = Sequential<double, In, Conv>;
    using T = Sequential<double, typename C::out_shape, ConvT>;
    static_assert(std::is_same_v<typename T::out_shape, In>);
    C conv({.seed = 3});
    T convt;
    const auto w = conv.params();
    std::ranges::copy(w.first(C::template layer_type<0>::weight_count), convt.params().begin());
    std::ranges::fill(conv.params().subspan(C::template layer_type<0>::weight_count), 0.0);  // no bias
    std::ranges::fill(convt.params().subspan(C::template layer_type<0>::weight_count), 0.0);
    Batch<double, In> x(2);
    Batch<double, typename C::out_shape> y(2);
    test::fill_uniform<double>(x.flat(), 1);
    test::fill_uniform<double>(y.flat(), 2);
    const auto cx = conv.forward(x.view());
    const auto ty = convt.forward(y.view());
    long double lhs = 0, rhs = 0;
    for (std::size_t i = 0; i < y.flat().size(); ++i) lhs += (long double)cx.data[i] * y.flat()[i];
    for (std::size_t i = 0; i < x.flat().size(); ++i) rhs += (long double)x.flat()[i] * ty.data[i];
    REQUIRE(std::abs(double(lhs - rhs)) <= 1e-12 * std::max(1.0, std::abs(double(lhs))));
  };
  if constexpr (TestType::value == 0) check.template operator()<Shape<3, 9, 7>, Conv2D<4, 3, Stride<2>, Pad<1>>, ConvTranspose2D<3, 3, Stride<2>, Pad<1>>>();
  if constexpr (TestType::value == 1) check.template operator()<Shape<2, 8, 6>, Conv2D<5, 4, Stride<2>, Same>, ConvTranspose2D<2, 4, Stride<2>, Same>>();
  if constexpr (TestType::value == 2) check.template operator()<Shape<2, 10, 10>, Conv2D<3, 7, Stride<1>, Valid>, ConvTranspose2D<2, 7, Stride<1>, Valid>>();
}

TEST_CASE("Conv2D and ConvTranspose2D: bit-identical on 1, 2 and 3 threads", "[layer][conv][parity]") {
  using Net = Sequential<float, Shape<1, 28, 28>, Conv2D<16, 5, Stride<2>, Same>, LeakyReLU<>,
                         ConvTranspose2D<8, 4, Stride<2>, Same>, LeakyReLU<>,   // 8 x 28 x 28
                         Conv2D<4, 3, Stride<1>, Same>, LeakyReLU<>,            // per sample
                         ConvTranspose2D<2, 3, Stride<1>, Same>, Tanh>;         // per sample
  test::ThreadCount thread_guard(1);
  Net net({.seed = 2});
  Batch<float, Shape<1, 28, 28>> x(19), dx(19);
  Batch<float, Net::out_shape> dy(19);
  test::fill_uniform<float>(x.flat(), 1);
  test::fill_uniform<float>(dy.flat(), 2);
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2, 3}) {
    thread_guard.set(threads);
    const auto y = net.forward(x.view());
    net.zero_grads();
    net.backward(x.view(), dy.view(), dx.view());
    std::vector<float> all(y.flat().begin(), y.flat().end());
    all.insert(all.end(), net.grads().begin(), net.grads().end());
    all.insert(all.end(), dx.flat().begin(), dx.flat().end());
    runs.push_back(std::move(all));
  }
  CHECK(runs[0] == runs[1]);
  CHECK(runs[0] == runs[2]);
}
