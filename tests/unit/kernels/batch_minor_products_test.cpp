#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/indirect_lower.hpp"
#include "ganad/kernels/phased_raise.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/random.hpp"
#include "support/threads.hpp"

using namespace ganad;

namespace {

// The first index where a and b differ (bitwise equal floats), or -1: a failing CHECK then
// prints one number, not two vectors of a million floats.
template <class A, class B>
std::ptrdiff_t first_difference(const A& a, const B& b) {
  if (a.size() != b.size()) return 0;
  const auto mismatch = std::mismatch(a.begin(), a.end(), b.begin());
  return mismatch.first == a.end() ? -1 : mismatch.first - a.begin();
}

std::vector<float> normal_values(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  for (float& x : v) x = float(rng.normal());
  return v;
}

// Which runs a check makes, as a mask: a partial pass (3 samples) without and with bias, a
// full pass (32) without and with bias. The geometry sweeps take one each, in turn: every
// run computes all 32 lanes, and under the sanitizers all four on every geometry took a
// minute per test.
constexpr int partial_plain = 1, partial_bias = 2, full_plain = 4, full_bias = 8, every_run = 15;
bool runs(int variants, int batch, bool bias) {
  return variants & (batch < 32 ? (bias ? partial_bias : partial_plain) : (bias ? full_bias : full_plain));
}

// A C x H x W image under a K x K, stride S convolution with these pads, or nothing when no
// output pixel fits.
std::optional<kernels::ConvGeometry> padded_geometry(int channels, int height, int width, int kernel, int stride,
                                                     int pad_top, int pad_left, int pad_bottom, int pad_right) {
  const int out_h = (height + pad_top + pad_bottom - kernel) / stride + 1;
  const int out_w = (width + pad_left + pad_right - kernel) / stride + 1;
  if (out_h < 1 || out_w < 1) return std::nullopt;
  return kernels::ConvGeometry{channels, height, width, kernel, stride, pad_top, pad_left, out_h, out_w};
}

std::string describe(const kernels::ConvGeometry& g, int m) {
  std::ostringstream text;
  text << "C " << g.channels << " H " << g.height << " W " << g.width << " K " << g.kernel << " S " << g.stride
       << " pads " << g.pad_top << "," << g.pad_left << " out " << g.out_height << "x" << g.out_width << " m " << m;
  return text.str();
}

// One geometry: PhasedRaise against channel-major + GEMM + col2im (the engine's other path),
// bit for bit, on a partial and a full pass, with and without bias. Guards around the images
// catch a stray store.
void check_phased(int channels, int height, int width, int kernel, int stride, int pad_top, int pad_left, int pad_bottom,
                  int pad_right, int m, int variants = every_run) {
  const auto geometry = padded_geometry(channels, height, width, kernel, stride, pad_top, pad_left, pad_bottom, pad_right);
  if (!geometry) return;
  const kernels::ConvGeometry& g = *geometry;
  INFO(describe(g, m));
  kernels::PhasedRaise phased(g, m);
  REQUIRE(phased.usable());
  const auto tables = kernels::conv_tables(g);
  const int ohw = g.out_size(), rows = g.col_rows();
  const auto w = normal_values(std::size_t(m) * rows, 11);  // m x C*K*K: op(w) = w^T
  const auto bias = normal_values(std::size_t(channels), 12);
  phased.pack_weights(w.data(), rows);
  constexpr float guard = 12345.f;
  constexpr std::size_t margin = 64;
  for (int batch : {3, kernels::PhasedRaise::samples}) {
    if (!runs(variants, batch, false) && !runs(variants, batch, true)) continue;
    const auto in = normal_values(std::size_t(batch) * m * ohw, 13 + std::uint64_t(batch));
    std::vector<float> cm(in.size()), cols(std::size_t(rows) * batch * ohw);
    kernels::to_channel_major<float>(batch, m, ohw, in.data(), cm.data());
    kernels::gemm<float>(kernels::Trans::yes, kernels::Trans::no, rows, batch * ohw, m, 1.f, w.data(), rows, cm.data(),
                         batch * ohw, 0.f, cols.data(), batch * ohw);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      if (!runs(variants, batch, b != nullptr)) continue;
      const std::size_t image_n = std::size_t(batch) * channels * g.image_size();
      std::vector<float> want(image_n), got(image_n + 2 * margin, guard);
      kernels::col2im<float>(g, tables, batch, cols.data(), want.data(), b);
      phased.run(batch, in.data(), got.data() + margin, b);
      CHECK(first_difference(std::vector<float>(got.begin() + margin, got.end() - margin), want) == -1);
      CHECK(std::all_of(got.begin(), got.begin() + margin, [](float v) { return v == guard; }));
      CHECK(std::all_of(got.end() - margin, got.end(), [](float v) { return v == guard; }));
    }
  }
}

// One geometry: IndirectLower against im2col + GEMM over the stored columns (the engine's
// other path), bit for bit, on a partial and a full pass, with and without bias. Guards
// around the output catch a stray store.
void check_indirect(int channels, int height, int width, int kernel, int stride, int pad_top, int pad_left,
                    int pad_bottom, int pad_right, int m, int variants = every_run,
                    kernels::Trans tw = kernels::Trans::no) {
  const auto geometry = padded_geometry(channels, height, width, kernel, stride, pad_top, pad_left, pad_bottom, pad_right);
  if (!geometry) return;
  const kernels::ConvGeometry& g = *geometry;
  INFO(describe(g, m));
  kernels::IndirectLower indirect(g, m);
  REQUIRE(indirect.usable());
  const auto tables = kernels::conv_tables(g);
  const int ohw = g.out_size(), rows = g.col_rows();
  const auto w = normal_values(std::size_t(m) * rows, 21);  // op(w): m x C*K*K
  const auto bias = normal_values(std::size_t(m), 22);
  kernels::PackedA<float> packed;
  packed.pack(tw, m, rows, w.data(), tw == kernels::Trans::no ? rows : m);
  constexpr float guard = 12345.f;
  constexpr std::size_t margin = 64;
  for (int batch : {3, kernels::IndirectLower::samples}) {
    if (!runs(variants, batch, false) && !runs(variants, batch, true)) continue;
    const auto image = normal_values(std::size_t(batch) * channels * g.image_size(), 23 + std::uint64_t(batch));
    std::vector<float> cols(std::size_t(rows) * batch * ohw), cm(std::size_t(m) * batch * ohw);
    kernels::im2col<float>(g, tables, batch, image.data(), cols.data());
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      if (!runs(variants, batch, b != nullptr)) continue;
      kernels::gemm<float>(packed, kernels::Trans::no, batch * ohw, 1.f, cols.data(), batch * ohw, 0.f, cm.data(),
                           batch * ohw, {.row_bias = b});
      std::vector<float> want(cm.size()), got(cm.size() + 2 * margin, guard);
      kernels::from_channel_major<float>(batch, m, ohw, cm.data(), want.data());
      indirect.run(packed, batch, image.data(), got.data() + margin, b);
      CHECK(first_difference(std::vector<float>(got.begin() + margin, got.end() - margin), want) == -1);
      CHECK(std::all_of(got.begin(), got.begin() + margin, [](float v) { return v == guard; }));
      CHECK(std::all_of(got.end() - margin, got.end(), [](float v) { return v == guard; }));
    }
  }
}

// The geometry sweep both products take: strides 1-3, kernels 1-8, pads 0 to K - 1 (every
// other), symmetric or one more at the bottom/right, three sizes. f(case number, stride,
// kernel, pad, extra, height, width); returns the number of cases.
template <class F>
int for_each_sweep_geometry(F&& f) {
  int cases = 0;
  for (int stride : {1, 2, 3})
    for (int kernel : {1, 2, 3, 4, 5, 7, 8})
      for (int pad = 0; pad < kernel; pad += 2)
        for (int extra : {0, 1})
          for (auto [h, w] : {std::pair{5, 5}, std::pair{7, 9}, std::pair{14, 13}}) f(cases++, stride, kernel, pad, extra, h, w);
  return cases;
}

}  // namespace

TEST_CASE("IndirectLower gives the bits of im2col + GEMM", "[kernel][conv][parity]") {
  test::ThreadCount thread_guard(1);
  for (int threads : {1, 3}) {
    thread_guard.set(threads);
    // The DCGAN's lowered products: Conv 1->64 and Conv 64->128's forwards, ConvTranspose
    // 256->128 and 128->64's data gradients. Two runs on one thread, one on three.
    const int variants = threads == 1 ? partial_plain | full_bias : full_bias;
    check_indirect(1, 28, 28, 5, 2, 1, 1, 2, 2, 64, variants);
    check_indirect(64, 14, 14, 5, 2, 1, 1, 2, 2, 128, variants);
    check_indirect(128, 14, 14, 4, 2, 1, 1, 1, 1, 256, variants);
    check_indirect(64, 28, 28, 4, 2, 1, 1, 1, 1, 128, variants);
  }
  thread_guard.set(1);
  // Odd sizes, kernels 1-8, strides 1-3, symmetric and asymmetric padding (a bottom pad of
  // K leaves output rows with no tap at all), channels that put k blocks' edges inside a
  // channel's taps, m that leaves partial row tiles or takes the 7-row tile (49).
  const int cases = for_each_sweep_geometry([](int n, int stride, int kernel, int pad, int extra, int h, int w) {
    const int ms[] = {2, 7, 13, 49, 33};
    check_indirect(3 + 7 * (n % 3), h, w, kernel, stride, pad, pad, pad + extra, pad + extra, ms[n % 5], 1 << (n % 4));
  });
  CHECK(cases > 200);
  check_indirect(9, 9, 11, 3, 2, 1, 0, 1, 2, 24, every_run, kernels::Trans::yes);  // op(w) = w^T
  check_indirect(300, 6, 5, 3, 1, 1, 1, 1, 1, 170);  // 11 k blocks, rows past the first MC block
}

TEST_CASE("IndirectLower declines a single row", "[kernel][conv]") {
  const kernels::ConvGeometry g{8, 14, 14, 4, 2, 1, 1, 7, 7};
  CHECK(kernels::IndirectLower(g, 2).usable());
  CHECK_FALSE(kernels::IndirectLower(g, 1).usable());  // gemm() takes m = 1 as a matrix-vector product
}

TEST_CASE("transpose_block transposes any rows x cols block", "[kernel]") {
  for (int rows : {1, 7, 8, 9, 17})
    for (int cols : {1, 8, 13, 24}) {
      const auto src = normal_values(std::size_t(rows) * 30, 5);
      std::vector<float> dst(std::size_t(cols) * 40, -1.f);
      kernels::transpose_block(src.data(), 30, rows, cols, dst.data(), 40);
      for (int j = 0; j < cols; ++j)
        for (int i = 0; i < 40; ++i)
          CHECK(dst[std::size_t(j) * 40 + i] == (i < rows ? src[std::size_t(i) * 30 + j] : -1.f));
    }
}

TEST_CASE("PhasedRaise gives the bits of GEMM + col2im", "[kernel][conv][parity]") {
  test::ThreadCount thread_guard(1);
  for (int threads : {1, 3}) {
    thread_guard.set(threads);
    // The DCGAN's raised products: ConvTranspose 256->128 and 128->64, Conv 64->128's data
    // gradient. Two runs on one thread, one on three.
    const int variants = threads == 1 ? partial_plain | full_bias : full_bias;
    check_phased(128, 14, 14, 4, 2, 1, 1, 1, 1, 256, variants);
    check_phased(64, 28, 28, 4, 2, 1, 1, 1, 1, 128, variants);
    check_phased(64, 14, 14, 5, 2, 1, 1, 2, 2, 128, variants);
  }
  thread_guard.set(1);
  // Odd sizes, kernels 1-8, strides 1-3, symmetric and asymmetric padding ('same' pads the
  // bottom/right more), channels that leave a partial row tile, m from 1 to the k block.
  const int cases = for_each_sweep_geometry([](int n, int stride, int kernel, int pad, int extra, int h, int w) {
    check_phased(3 + 7 * (n % 3), h, w, kernel, stride, pad, pad, pad + extra, pad + extra, n % 4 == 0 ? 1 : 5 + n % 29,
                 1 << ((n + n / 4) % 4));
  });
  CHECK(cases > 200);
  check_phased(17, 6, 6, 3, 2, 1, 1, 1, 1, 256);  // m at the k block
}

TEST_CASE("PhasedRaise declines what it cannot sum in col2im's order", "[kernel][conv]") {
  const kernels::ConvGeometry g{8, 14, 14, 4, 2, 1, 1, 7, 7};
  CHECK(kernels::PhasedRaise(g, kernels::gemm_traits<float>::KC).usable());
  CHECK_FALSE(kernels::PhasedRaise(g, kernels::gemm_traits<float>::KC + 1).usable());  // two k blocks per tap
  const kernels::ConvGeometry big{8, 20, 20, 9, 1, 4, 4, 20, 20};
  CHECK_FALSE(kernels::PhasedRaise(big, 16).usable());  // 81 taps
}

// Through the layers: a batch the batch-minor paths take (64) gives each sample the bits of
// that sample alone (batch 1: the GEMM + col2im and im2col + GEMM paths), forward (y) and
// data gradient (dx).
template <class Net>
void check_batch_against_single(std::uint64_t seed) {
  constexpr int batch = 64;
  constexpr std::size_t in_n = Net::in_shape::size, out_n = Net::out_shape::size;
  Net net({.seed = seed});
  Batch<float, typename Net::in_shape> x(batch), dx(batch), x1(1), dx1(1);
  Batch<float, typename Net::out_shape> dy(batch), dy1(1);
  Rng rng(seed + 1);
  for (float& v : x.flat()) v = float(rng.normal());
  for (float& v : dy.flat()) v = float(rng.normal());
  const auto y = net.forward(x.view());
  const std::vector<float> ys(y.data, y.data + y.size());
  net.backward(x.view(), dy.view(), dx.view());
  for (int n : {0, 31, 32, 63}) {
    INFO("sample " << n);
    std::copy_n(x.flat().data() + std::size_t(n) * in_n, in_n, x1.flat().data());
    std::copy_n(dy.flat().data() + std::size_t(n) * out_n, out_n, dy1.flat().data());
    const auto y1 = net.forward(x1.view());
    CHECK(first_difference(std::vector<float>(y1.data, y1.data + out_n),
                           std::vector<float>(ys.begin() + std::ptrdiff_t(n * out_n),
                                              ys.begin() + std::ptrdiff_t((n + 1) * out_n))) == -1);
    net.backward(x1.view(), dy1.view(), dx1.view());
    CHECK(first_difference(std::vector<float>(dx1.flat().begin(), dx1.flat().end()),
                           std::vector<float>(dx.flat().begin() + std::ptrdiff_t(n * in_n),
                                              dx.flat().begin() + std::ptrdiff_t((n + 1) * in_n))) == -1);
  }
}

TEST_CASE("ConvTranspose2D and Conv2D: a batch-minor batch equals one sample at a time", "[layer][conv][parity]") {
  check_batch_against_single<Sequential<float, Shape<32, 7, 7>, ConvTranspose2D<24, 4, Stride<2>, Same>>>(3);
  check_batch_against_single<Sequential<float, Shape<16, 14, 14>, Conv2D<24, 5, Stride<2>, Same>>>(5);
}
