// Precision::bf16 through the layers, the GAN's mixed-precision training and the detector:
// bounds against fp32, determinism within a precision, and the fp32 fallback where the
// machine has no AVX512_BF16 (scripts/test runs this file from a -march=haswell build too).
#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/image_gan.hpp"
#include "support/random.hpp"
#include "support/small_gan.hpp"
#include "support/threads.hpp"

using namespace ganad;

namespace {

/// Runs one forward of Net in fp32 and in bf16 on the same input, and the fp32 forward of
/// |w|, |b| and |x| (a layer without activation is linear: that is sum |w x| + |b| per
/// output). Returns the largest |bf16 - fp32| over 2^-7 of that sum: rounding each operand
/// to bf16 moves a product by at most 2^-8 + 2^-8 + 2^-16 of its size.
template <class Net>
double bf16_error(int batch) {
  using In = typename Net::in_shape;
  Net net({.seed = 11});
  Batch<float, In> x(batch);
  test::fill_uniform<float>(x.flat(), 12);
  const auto y = net.forward(x.view());
  const std::vector<float> fp32(y.data, y.data + std::size_t(batch) * Net::out_shape::size);
  std::vector<float> bf16;
  {
    const kernels::PrecisionScope scope(Precision::bf16);
    const auto yb = net.forward(x.view());
    bf16.assign(yb.data, yb.data + fp32.size());
  }
  for (float& p : net.params()) p = std::abs(p);
  for (float& v : x.flat()) v = std::abs(v);
  const auto size = net.forward(x.view());
  double worst = 0;
  for (std::size_t i = 0; i < fp32.size(); ++i)
    worst = std::max(worst, std::abs(double(bf16[i]) - fp32[i]) / (0x1p-7 * size.data[i] + 1e-6));
  if (kernels::bf16_supported()) CHECK(bf16 != fp32);  // bf16 ran: the bound above is not vacuous
  else CHECK(bf16 == fp32);                            // the fallback: fp32's bits
  return worst;
}

}  // namespace

TEST_CASE("Precision: names, parsing, and the fallback to fp32 where bf16 cannot run", "[precision][bf16]") {
  CHECK(parse_precision("bf16", "test") == Precision::bf16);
  CHECK(parse_precision("fp32", "test") == Precision::fp32);
  CHECK_THROWS_WITH(parse_precision("fp16", "--precision"), Catch::Contains("--precision") && Catch::Contains("'fp16'"));
  CHECK(std::string(precision_name(Precision::bf16)) == "bf16");
  CHECK(kernels::effective(Precision::bf16) == (kernels::bf16_supported() ? Precision::bf16 : Precision::fp32));
  CHECK(kernels::product_precision() == Precision::fp32);
  {
    const kernels::PrecisionScope outer(Precision::bf16);
    CHECK(kernels::product_precision() == kernels::effective(Precision::bf16));
    {
      const kernels::PrecisionScope inner(Precision::fp32);
      CHECK(kernels::product_precision() == Precision::fp32);
    }
    CHECK(kernels::product_precision() == kernels::effective(Precision::bf16));
  }
  CHECK(kernels::product_precision() == Precision::fp32);
}

TEST_CASE("bf16 layers: within 2^-7 of sum |w x| of fp32, for every kernel path", "[precision][bf16][layer]") {
  // Batches of 32 take the batch-minor kernels (IndirectLower), 5 the implicit and stored-column GEMMs.
  for (int batch : {5, 32}) {
    INFO("batch " << batch);
    CHECK(bf16_error<Sequential<float, Shape<1, 28, 28>, Conv2D<16, 5, Stride<2>, Same>>>(batch) <= 1.0);
    CHECK(bf16_error<Sequential<float, Shape<19, 14, 14>, Conv2D<24, 5, Stride<2>, Same>>>(batch) <= 1.0);
    CHECK(bf16_error<Sequential<float, Shape<3, 11, 10>, Conv2D<5, 3, Stride<1>, Pad<1>>>>(batch) <= 1.0);
    CHECK(bf16_error<Sequential<float, Shape<32, 7, 7>, ConvTranspose2D<16, 4, Stride<2>, Same>>>(batch) <= 1.0);
    CHECK(bf16_error<Sequential<float, Shape<8, 28, 28>, ConvTranspose2D<1, 7, Stride<1>, Same>>>(batch) <= 1.0);
    CHECK(bf16_error<Sequential<float, Flat<300>, Dense<70>>>(batch) <= 1.0);
  }
}

TEST_CASE("Mixed-precision training: the same bits on 1 and 3 threads, finite, and not fp32's", "[precision][bf16][gan][parity]") {
  const auto data = test::blobs(40, 1);
  test::ThreadCount threads_guard(1);
  std::vector<std::vector<float>> runs;
  for (auto [threads, precision] : {std::pair{1, Precision::bf16}, std::pair{3, Precision::bf16}, std::pair{1, Precision::fp32}}) {
    threads_guard.set(threads);
    test::SmallGan gan({.seed = 7, .precision = precision});
    gan.fit(data.view(), {.epochs = 3, .batch = 16});
    std::vector<float> w(gan.generator().params().begin(), gan.generator().params().end());
    w.insert(w.end(), gan.discriminator().net().params().begin(), gan.discriminator().net().params().end());
    w.insert(w.end(), gan.averaged_discriminator().net().params().begin(), gan.averaged_discriminator().net().params().end());
    CHECK(std::all_of(w.begin(), w.end(), [](float v) { return std::isfinite(v); }));
    runs.push_back(std::move(w));
  }
  CHECK(runs[0] == runs[1]);
  if (kernels::bf16_supported()) CHECK(runs[0] != runs[2]);
  else CHECK(runs[0] == runs[2]);
  CHECK(kernels::product_precision() == Precision::fp32);  // train_step's scope ended with it
}

TEST_CASE("Mixed precision and bf16 scoring allocate nothing in steady state", "[precision][bf16][alloc]") {
  test::SmallGan gan({.seed = 1, .precision = Precision::bf16});
  const auto data = test::blobs(32, 3);  // one full pass: IndirectLower's bf16 pairs run too
  gan.train_step(data.view());
  gan.train_step(data.view());
  std::vector<float> out(32);
  const auto score = [&] {
    const kernels::PrecisionScope bf16(Precision::bf16);
    gan.discriminator().score_batch(data.view(), DiscriminatorOutput::logit, out);
  };
  score();
  const auto before = test::all_allocations();
  for (int i = 0; i < 3; ++i) gan.train_step(data.view());
  score();
  CHECK(test::all_allocations() == before);
}

TEST_CASE("Detector and discriminator in bf16: close to fp32, the same bits on any thread count, distances in fp32",
          "[precision][bf16][detect]") {
  auto& gan = test::trained_gan();
  const auto normal = test::squares(128, 1), x = test::squares(100, 5);
  test::ThreadCount threads_guard(1);

  Detector fp32{gan, score::NearestNeighbours({.k = 3})};
  fp32.fit(normal);
  const auto want = fp32.decision_function(x);
  std::vector<std::vector<float>> got;
  for (int threads : {1, 3}) {
    threads_guard.set(threads);
    Detector det{gan, score::NearestNeighbours({.k = 3})};
    det.set_precision(Precision::bf16);
    CHECK(det.precision() == Precision::bf16);
    det.fit(normal);
    const auto s = det.decision_function(x);
    got.emplace_back(s.data(), s.data() + s.size());
    CHECK(det.replica().precision() == Precision::bf16);
  }
  CHECK(got[0] == got[1]);
  const std::vector<float> want_v(want.data(), want.data() + want.size());
  if (kernels::bf16_supported()) CHECK(got[0] != want_v);
  for (std::size_t i = 0; i < want_v.size(); ++i) CHECK(got[0][i] == Approx(want_v[i]).epsilon(0.05).margin(0.05));

  // Input-space kNN runs no network: its distances must stay fp32, so bf16 changes no bit.
  Detector input32{gan, score::NearestNeighbours({.k = 3, .space = score::FeatureSpace::input})}, input16 = input32;
  input16.set_precision(Precision::bf16);
  input32.fit(normal);
  input16.fit(normal);
  const auto a = input32.decision_function(x), b = input16.decision_function(x);
  CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));

  // The discriminator's own scores follow its precision; score_batch follows its caller's.
  auto& d = gan.averaged_discriminator();
  const auto s32 = d.anomaly_score(x);
  d.set_precision(Precision::bf16);
  const auto s16 = d.anomaly_score(x);
  d.set_precision(Precision::fp32);
  std::vector<float> chunk(std::size_t(x.rows()));
  {
    const kernels::PrecisionScope scope(Precision::bf16);
    d.score_batch(test::view(x), DiscriminatorOutput::anomaly_score, chunk);
  }
  CHECK(std::equal(chunk.begin(), chunk.end(), s16.data()));
  if (kernels::bf16_supported()) CHECK_FALSE(std::equal(chunk.begin(), chunk.end(), s32.data()));
}
