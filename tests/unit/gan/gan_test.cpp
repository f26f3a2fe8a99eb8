#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace ganad;

namespace {

// Small conv GAN on 6x6 images, with BatchNorm in G: fast, and exercises every layer kind.
using SmallG = Sequential<float, Flat<4>, Dense<2 * 3 * 3>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>,
                          ConvTranspose2D<4, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,
                          ConvTranspose2D<1, 3, Stride<1>, Same>, Tanh>;
using SmallD = Sequential<float, Shape<1, 6, 6>, Conv2D<4, 3, Stride<2>, Same>, LeakyReLU<>, Flatten, Dense<1>>;
using SmallGan = Gan<SmallG, SmallD>;

Batch<float, Shape<1, 6, 6>> blobs(int n, std::uint64_t seed) {  // bright square on dark, jittered
  Batch<float, Shape<1, 6, 6>> b(n);
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int r = int(rng.below(3)), c = int(rng.below(3));
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x)
        b.data()[i * 36 + y * 6 + x] =
            (y >= r && y < r + 3 && x >= c && x < c + 3 ? 0.8f : -0.8f) + float(rng.normal(0, 0.05));
  }
  return b;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ganad_test_" + name)).string();
}

std::vector<unsigned char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_all(const std::string& path, const std::vector<unsigned char>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// D(G(z)) with respect to G's parameters and z: exactly the path train_step's G update takes.
template <class G, class D>
struct DOfG {
  using scalar_type = double;
  using in_shape = typename G::in_shape;
  using out_shape = Flat<1>;
  static constexpr std::size_t param_count = G::param_count;
  static constexpr std::string_view name() { return "DOfG"; }
  G g;
  D d;
  Batch<double, typename G::out_shape> dfake;
  void forward(ConstBatchView<double, in_shape> z, BatchView<double, out_shape> y) {
    d.forward(g.forward(z), y);
  }
  void backward(ConstBatchView<double, in_shape> z, ConstBatchView<double, out_shape>, ConstBatchView<double, out_shape> dy,
                BatchView<double, in_shape> dz) {
    dfake.resize(z.batch);
    d.backward(g.output(), dy, dfake.view(), ParamGrads::skip);
    g.backward(z, dfake.view(), dz);
  }
  std::span<double> params() { return g.params(); }
  std::span<double> grads() { return g.grads(); }
};

}  // namespace

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

TEST_CASE("D(G(z)): gradients with respect to G's parameters match finite differences", "[gan][gradcheck]") {
  using G = Sequential<double, Flat<3>, Dense<2 * 3 * 3>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>,
                       ConvTranspose2D<2, 4, Stride<2>, Same>, Tanh>;
  using D = Sequential<double, Shape<2, 6, 6>, Conv2D<3, 3, Stride<2>, Same>, LeakyReLU<>, Flatten, Dense<1>>;
  DOfG<G, D> net{G({.seed = 1}), D({.seed = 2}), {}};
  static_assert(Layer<DOfG<G, D>>);
  const auto rep = test::gradcheck(net, 3, {.seed = 3});
  INFO(rep.describe());
  REQUIRE(rep.max_rel_error <= 1e-6);
  REQUIRE(rep.dx_fully_written);
  // Frozen D: its parameter gradients stay zero through the G path.
  CHECK(std::ranges::all_of(net.d.grads(), [](double v) { return v == 0.0; }));
}

TEST_CASE("Gan: learns a 2-D Gaussian (mean and covariance of G's samples approach the data's)", "[gan][learn]") {
  using G = Sequential<float, Flat<2>, Dense<32>, LeakyReLU<>, Dense<32>, LeakyReLU<>, Dense<2>>;
  using D = Sequential<float, Flat<2>, Dense<32>, LeakyReLU<>, Dense<32>, LeakyReLU<>, Dense<1>>;
  // Data: mean (2, -1), covariance [[1, 0.6], [0.6, 0.5]].
  const int n = 4096;
  Batch<float, Flat<2>> data(n);
  Rng rng(11);
  for (int i = 0; i < n; ++i) {
    const double a = rng.normal(), b = rng.normal();
    data.data()[2 * i] = float(2 + a);
    data.data()[2 * i + 1] = float(-1 + 0.6 * a + std::sqrt(0.5 - 0.36) * b);
  }
  // GAN training oscillates; with lr 5e-4 and beta1 0.5 all three seeds below end within 0.18
  // of every moment after 120 epochs (measured; 1e-3 or beta1 0.9 swing by up to 0.8).
  for (std::uint64_t seed : {5, 6, 7}) {
    Gan<G, D> gan({.seed = seed, .init = Init::pytorch, .g_optimizer = {.lr = 5e-4}, .d_optimizer = {.lr = 5e-4}});
    auto moments = [&] {
      Batch<float, Flat<2>> z(n);
      Rng zr(99);
      for (float& v : z.flat()) v = float(zr.normal());
      const auto s = gan.generate(z.view());
      double m0 = 0, m1 = 0, c00 = 0, c01 = 0, c11 = 0;
      for (int i = 0; i < n; ++i) m0 += s.data[2 * i], m1 += s.data[2 * i + 1];
      m0 /= n, m1 /= n;
      for (int i = 0; i < n; ++i) {
        const double a = s.data[2 * i] - m0, b = s.data[2 * i + 1] - m1;
        c00 += a * a, c01 += a * b, c11 += b * b;
      }
      return std::array<double, 5>{m0, m1, c00 / n, c01 / n, c11 / n};
    };
    const auto before = moments();
    gan.fit(data.view(), {.epochs = 120, .batch = 128});
    const auto after = moments();
    INFO("seed " << seed);
    INFO("before: mean " << before[0] << ", " << before[1] << "; cov " << before[2] << ", " << before[3] << ", " << before[4]);
    INFO("after:  mean " << after[0] << ", " << after[1] << "; cov " << after[2] << ", " << after[3] << ", " << after[4]);
    CHECK(std::abs(after[0] - 2.0) < 0.25);
    CHECK(std::abs(after[1] + 1.0) < 0.25);
    CHECK(std::abs(after[2] - 1.0) < 0.25);
    CHECK(std::abs(after[3] - 0.6) < 0.25);
    CHECK(std::abs(after[4] - 0.5) < 0.25);
    CHECK(std::abs(before[0] - 2.0) > 1.0);  // it did not start there
  }
}

TEST_CASE("Gan: bit-identical weights after training on 1 and 3 threads", "[gan][parity]") {
  const auto data = blobs(40, 1);
  const int saved = num_threads();
  std::vector<std::vector<float>> weights;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    SmallGan gan({.seed = 7});
    gan.fit(data.view(), {.epochs = 3, .batch = 16});
    std::vector<float> w(gan.generator().params().begin(), gan.generator().params().end());
    w.insert(w.end(), gan.discriminator().net().params().begin(), gan.discriminator().net().params().end());
    w.insert(w.end(), gan.averaged_discriminator().net().params().begin(), gan.averaged_discriminator().net().params().end());
    weights.push_back(std::move(w));
  }
  set_num_threads(saved);
  CHECK(weights[0] == weights[1]);
}

TEST_CASE("Gan: train, save, load, train more equals training straight through, bit for bit", "[gan][serialize]") {
  const auto data = blobs(32, 2);
  const std::string path = temp_path("resume.ganad");
  SmallGan straight({.seed = 3});
  straight.fit(data.view(), {.epochs = 4, .batch = 8});

  SmallGan first({.seed = 3});
  first.fit(data.view(), {.epochs = 2, .batch = 8});
  save(first, path);
  SmallGan resumed({.seed = 12345});  // other seed: everything must come from the file
  load(resumed, path);
  CHECK(resumed.steps() == first.steps());
  resumed.fit(data.view(), {.epochs = 2, .batch = 8});
  CHECK(std::ranges::equal(resumed.generator().params(), straight.generator().params()));
  CHECK(std::ranges::equal(resumed.discriminator().net().params(), straight.discriminator().net().params()));
  CHECK(std::ranges::equal(resumed.averaged_discriminator().net().params(), straight.averaged_discriminator().net().params()));
  std::remove(path.c_str());
}

TEST_CASE("Model files: exact round trip of a network with BatchNorm statistics", "[gan][serialize]") {
  SmallG g({.seed = 4});
  Batch<float, Flat<4>> z(6);
  test::fill_uniform<float>(z.flat(), 5);
  g.forward(z.view());  // moves the running statistics
  g.eval();
  std::vector<float> y1(g.forward(z.view()).flat().begin(), g.forward(z.view()).flat().end());
  const std::string path = temp_path("roundtrip.ganad");
  save(g, path);
  SmallG h({.seed = 99});
  load(h, path);
  h.eval();
  const auto y2 = h.forward(z.view());
  CHECK(std::ranges::equal(y1, y2.flat()));
  CHECK(std::ranges::equal(g.params(), h.params()));
  std::remove(path.c_str());
}

TEST_CASE("Model files: every flipped byte and every truncation is rejected, the model untouched", "[gan][serialize]") {
  using Tiny = Sequential<float, Flat<3>, Dense<2>, BatchNorm<>, Tanh>;
  Tiny net({.seed = 1});
  const std::string path = temp_path("corrupt.ganad"), bad = temp_path("corrupt_bad.ganad");
  save(net, path);
  const auto good = read_all(path);
  REQUIRE(good.size() > 40);
  Tiny target({.seed = 2});
  const std::vector<float> before(target.params().begin(), target.params().end());
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto b = good;
    b[i] ^= 0x5a;
    write_all(bad, b);
    INFO("flipped byte " << i);
    REQUIRE_THROWS_AS(load(target, bad), FormatError);
  }
  for (std::size_t len = 0; len < good.size(); ++len) {
    write_all(bad, std::vector<unsigned char>(good.begin(), good.begin() + std::ptrdiff_t(len)));
    INFO("truncated to " << len << " bytes");
    REQUIRE_THROWS_AS(load(target, bad), FormatError);
  }
  auto longer = good;
  longer.push_back(0);
  write_all(bad, longer);
  CHECK_THROWS_WITH(load(target, bad), Catch::Contains("extra bytes"));
  CHECK(std::ranges::equal(before, target.params()));
  load(target, path);  // the good file still loads
  CHECK(std::ranges::equal(net.params(), target.params()));
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

TEST_CASE("Model files: clear errors for another architecture, scalar type, version, or no model at all", "[gan][serialize]") {
  const std::string path = temp_path("arch.ganad");
  Sequential<float, Flat<3>, Dense<2>> a;
  save(a, path);
  Sequential<float, Flat<3>, Dense<4>> b;
  CHECK_THROWS_WITH(load(b, path), Catch::Contains("another architecture") && Catch::Contains("Dense (2) 8") &&
                                       Catch::Contains("Dense (4) 16"));
  Sequential<double, Flat<3>, Dense<2>> c;
  CHECK_THROWS_WITH(load(c, path), Catch::Contains("32-bit parameters") && Catch::Contains("64-bit"));
  auto bytes = read_all(path);
  bytes[8] = 9;  // format version
  write_all(path, bytes);
  CHECK_THROWS_WITH(load(a, path), Catch::Contains("format version 9"));
  write_all(path, std::vector<unsigned char>(100, 'x'));
  CHECK_THROWS_WITH(load(a, path), Catch::Contains("not a ganad model file"));
  CHECK_THROWS_AS(load(a, temp_path("does_not_exist.ganad")), IoError);
  CHECK_THROWS_AS(save(a, "/nonexistent-dir/x.ganad"), IoError);
  std::remove(path.c_str());
}

TEST_CASE("Model files: a save never leaves a temporary file or half a model behind", "[gan][serialize]") {
  const std::string dir = temp_path("atomic_dir");
  std::filesystem::create_directories(dir);
  Sequential<float, Flat<3>, Dense<2>> a({.seed = 1}), b({.seed = 2});
  save(a, dir + "/m.ganad");
  save(b, dir + "/m.ganad");  // replaces it whole
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 1);
  Sequential<float, Flat<3>, Dense<2>> c;
  load(c, dir + "/m.ganad");
  CHECK(std::ranges::equal(c.params(), b.params()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("Gan: a steady-state train_step allocates nothing", "[gan][alloc]") {
  SmallGan gan({.seed = 1});
  const auto data = blobs(16, 3);
  gan.train_step(data.view());
  gan.train_step(data.view());
  const auto before = test::all_allocations();
  for (int i = 0; i < 3; ++i) gan.train_step(data.view());
  CHECK(test::all_allocations() == before);
}

TEST_CASE("Gan::fit: epochs, reports, stopping, and the last partial batch", "[gan][fit]") {
  const auto data = blobs(21, 4);  // batch 8: 8 + 8 + 5
  SmallGan gan({.seed = 2});
  std::vector<int> epochs;
  int periodic = 0;
  gan.fit(data.view(), {.epochs = 3, .batch = 8, .report_every = 2}, [&](const FitProgress& p) {
    if (p.epoch_end) epochs.push_back(p.epoch);
    else ++periodic;
    CHECK(p.steps_per_epoch == 3);
    CHECK(std::isfinite(p.mean.d_loss));
  });
  CHECK(epochs == std::vector<int>{1, 2, 3});
  CHECK(periodic == 3);  // after step 2 of each epoch
  CHECK(gan.steps() == 9);
  const auto p = gan.fit(data.view(), {.epochs = 5, .batch = 8}, [](const FitProgress& pr) { return pr.epoch < 2; });
  CHECK(p.epoch == 2);
  CHECK(gan.steps() == 15);
  // 17 samples in batches of 8: the one left over joins the second batch (BatchNorm needs 2).
  SmallGan g2({.seed = 2});
  const auto odd = blobs(17, 5);
  const auto q = g2.fit(odd.view(), {.epochs = 1, .batch = 8});
  CHECK(q.steps_per_epoch == 2);
  CHECK_THROWS_AS(g2.fit(odd.view(), {.epochs = 1, .batch = 0}), ValueError);
}

TEST_CASE("Gan: the averaged discriminator is the mean, then the moving average, of D's weights", "[gan][average]") {
  // A D with BatchNorm: the average takes the trained D's statistics.
  using BnD = Sequential<float, Shape<1, 6, 6>, Conv2D<4, 3, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>, Flatten, Dense<1>>;
  const double decay = 0.9;  // a plain mean for 10 steps, then a moving average
  Gan<SmallG, BnD> gan({.seed = 4, .discriminator_averaging = decay});
  auto& d = gan.discriminator().net();
  auto& avg = gan.averaged_discriminator().net();
  CHECK(std::ranges::equal(avg.params(), d.params()));  // the same initial weights
  const auto data = blobs(16, 6);
  std::vector<double> expected(d.params().size());
  for (int t = 1; t <= 25; ++t) {
    gan.train_step(data.view());
    const double rate = std::max(1.0 - decay, 1.0 / t);
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += rate * (double(d.params()[i]) - expected[i]);
  }
  double worst = 0, moved = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(double(avg.params()[i]) - expected[i]));
    moved = std::max(moved, std::abs(double(avg.params()[i]) - double(d.params()[i])));
  }
  CHECK(worst < 1e-6);
  CHECK(moved > 1e-4);  // the average lags the trained weights
  std::vector<float> sd, sa;
  d.for_each_state([&](std::span<const float> s) { sd.insert(sd.end(), s.begin(), s.end()); });
  avg.for_each_state([&](std::span<const float> s) { sa.insert(sa.end(), s.begin(), s.end()); });
  CHECK(!sd.empty());
  CHECK(sa == sd);

  // Decay 0: the last weights, exactly.
  SmallGan last({.seed = 4, .discriminator_averaging = 0.0});
  for (int t = 0; t < 3; ++t) last.train_step(data.view());
  CHECK(std::ranges::equal(last.averaged_discriminator().net().params(), last.discriminator().net().params()));

  CHECK_THROWS_WITH(SmallGan({.discriminator_averaging = 1.0}), Catch::Contains("discriminator_averaging"));
  CHECK_THROWS_AS(SmallGan({.discriminator_averaging = -0.1}), ValueError);
}

TEST_CASE("score::Discriminator scores with the averaged D unless told otherwise", "[gan][average][scoring]") {
  SmallGan gan({.seed = 5});
  const auto data = blobs(16, 7);
  for (int t = 0; t < 5; ++t) gan.train_step(data.view());
  std::vector<float> by_scorer(16), by_averaged(16), by_last_scorer(16), by_last(16);
  score::Discriminator{}.score(gan, data.view(), by_scorer);
  gan.averaged_discriminator().anomaly_score(data.view(), by_averaged);
  score::Discriminator{.averaged = false}.score(gan, data.view(), by_last_scorer);
  gan.discriminator().anomaly_score(data.view(), by_last);
  CHECK(by_scorer == by_averaged);
  CHECK(by_last_scorer == by_last);
  CHECK(by_scorer != by_last);
}

TEST_CASE("Gan: fixed noise gives the same samples until training changes G", "[gan]") {
  SmallGan gan({.seed = 9, .fixed_noise = 5});
  std::vector<float> a(gan.fixed_samples().flat().begin(), gan.fixed_samples().flat().end());
  std::vector<float> b(gan.fixed_samples().flat().begin(), gan.fixed_samples().flat().end());
  CHECK(a == b);
  CHECK(a.size() == 5 * 36);
  gan.train_step(blobs(8, 1).view());
  std::vector<float> c(gan.fixed_samples().flat().begin(), gan.fixed_samples().flat().end());
  CHECK(a != c);
}
