#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/phased_raise.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "support/random.hpp"

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

// One geometry: PhasedRaise against channel-major + GEMM + col2im (the engine's other path),
// bit for bit, on a partial and a full pass, with and without bias. Guards around the images
// catch a stray store.
void check_phased(int channels, int height, int width, int kernel, int stride, int pad_top, int pad_left, int pad_bottom,
                  int pad_right, int m) {
  const int out_h = (height + pad_top + pad_bottom - kernel) / stride + 1;
  const int out_w = (width + pad_left + pad_right - kernel) / stride + 1;
  if (out_h < 1 || out_w < 1) return;
  const kernels::ConvGeometry g{channels, height, width, kernel, stride, pad_top, pad_left, out_h, out_w};
  INFO("C " << channels << " H " << height << " W " << width << " K " << kernel << " S " << stride << " pads " << pad_top
            << "," << pad_left << "," << pad_bottom << "," << pad_right << " m " << m);
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
    const auto in = normal_values(std::size_t(batch) * m * ohw, 13 + std::uint64_t(batch));
    std::vector<float> cm(in.size()), cols(std::size_t(rows) * batch * ohw);
    kernels::to_channel_major<float>(batch, m, ohw, in.data(), cm.data());
    kernels::gemm<float>(kernels::Trans::yes, kernels::Trans::no, rows, batch * ohw, m, 1.f, w.data(), rows, cm.data(),
                         batch * ohw, 0.f, cols.data(), batch * ohw);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
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

}  // namespace

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
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    // The DCGAN's raised products: ConvTranspose 256->128 and 128->64, Conv 64->128's data gradient.
    check_phased(128, 14, 14, 4, 2, 1, 1, 1, 1, 256);
    check_phased(64, 28, 28, 4, 2, 1, 1, 1, 1, 128);
    check_phased(64, 14, 14, 5, 2, 1, 1, 2, 2, 128);
  }
  set_num_threads(1);
  // Odd sizes, kernels 1-8, strides 1-3, symmetric and asymmetric padding ('same' pads the
  // bottom/right more), channels that leave a partial row tile, m from 1 to the k block.
  int cases = 0;
  for (int stride : {1, 2, 3})
    for (int kernel : {1, 2, 3, 4, 5, 7, 8})
      for (int pad = 0; pad < kernel; pad += 2)
        for (int extra : {0, 1})
          for (auto [h, w] : {std::pair{5, 5}, std::pair{7, 9}, std::pair{14, 13}}) {
            check_phased(3 + 7 * (cases % 3), h, w, kernel, stride, pad, pad, pad + extra, pad + extra,
                         (cases % 4 == 0) ? 1 : 5 + cases % 29);
            ++cases;
          }
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

// Through the layers: a batch the phased path takes (64) gives each sample the bits of that
// sample alone (batch 1, the GEMM + col2im path).
TEST_CASE("ConvTranspose2D forward and Conv2D data gradient: phased batch equals one sample at a time", "[layer][conv][parity]") {
  constexpr int batch = 64;
  {
    using Net = Sequential<float, Shape<32, 7, 7>, ConvTranspose2D<24, 4, Stride<2>, Same>>;
    Net net({.seed = 3});
    Batch<float, Net::in_shape> x(batch);
    Rng rng(4);
    for (float& v : x.flat()) v = float(rng.normal());
    const auto y = net.forward(x.view());
    const std::vector<float> all(y.data, y.data + y.size());
    constexpr std::size_t out_n = Net::out_shape::size;
    for (int n : {0, 31, 32, 63}) {
      Batch<float, Net::in_shape> one(1);
      std::copy_n(x.flat().data() + std::size_t(n) * Net::in_shape::size, Net::in_shape::size, one.flat().data());
      const auto y1 = net.forward(one.view());
      CHECK(first_difference(std::vector<float>(y1.data, y1.data + out_n),
                             std::vector<float>(all.begin() + std::ptrdiff_t(n * out_n),
                                                all.begin() + std::ptrdiff_t((n + 1) * out_n))) == -1);
    }
  }
  {
    using Net = Sequential<float, Shape<16, 14, 14>, Conv2D<24, 5, Stride<2>, Same>>;
    Net net({.seed = 5});
    Batch<float, Net::in_shape> x(batch), dx(batch), dx1(1), x1(1);
    Batch<float, Net::out_shape> dy(batch), dy1(1);
    Rng rng(6);
    for (float& v : x.flat()) v = float(rng.normal());
    for (float& v : dy.flat()) v = float(rng.normal());
    net.forward(x.view());
    net.backward(x.view(), dy.view(), dx.view());
    constexpr std::size_t in_n = Net::in_shape::size, out_n = Net::out_shape::size;
    for (int n : {0, 40, 63}) {
      std::copy_n(x.flat().data() + std::size_t(n) * in_n, in_n, x1.flat().data());
      std::copy_n(dy.flat().data() + std::size_t(n) * out_n, out_n, dy1.flat().data());
      net.forward(x1.view());
      net.backward(x1.view(), dy1.view(), dx1.view());
      CHECK(first_difference(std::vector<float>(dx1.flat().begin(), dx1.flat().end()),
                             std::vector<float>(dx.flat().begin() + std::ptrdiff_t(n * in_n),
                                                dx.flat().begin() + std::ptrdiff_t((n + 1) * in_n))) == -1);
    }
  }
}
