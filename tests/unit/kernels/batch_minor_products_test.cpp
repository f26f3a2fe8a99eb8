#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/indirect_lower.hpp"
#include "ganad/kernels/phased_raise.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
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

// One geometry: PhasedRaise on a partial and a full pass, with and without bias, against
// channel-major + GEMM + col2im (the engine's other path): in fp32 bit for bit; in bf16
// against col2im of the bf16-rounded operands' products summed in double, within the fp32
// summation's bound (m + K*K + 2) eps (col2im of sum |w x|, + |bias|). Guards around the
// images catch a stray store.
void check_phased(int channels, int height, int width, int kernel, int stride, int pad_top, int pad_left, int pad_bottom,
                  int pad_right, int m, int variants = every_run, Precision precision = Precision::fp32) {
  const auto geometry = padded_geometry(channels, height, width, kernel, stride, pad_top, pad_left, pad_bottom, pad_right);
  if (!geometry) return;
  const kernels::ConvGeometry& g = *geometry;
  INFO(describe(g, m) << " " << precision_name(precision));
  kernels::PhasedRaise phased(g, m);
  REQUIRE(phased.usable());
  const auto tables = kernels::conv_tables(g);
  const int ohw = g.out_size(), rows = g.col_rows();
  const auto w = normal_values(std::size_t(m) * rows, 11);  // m x C*K*K: op(w) = w^T
  const auto bias = normal_values(std::size_t(channels), 12);
  {
    const kernels::PrecisionScope scope(precision);
    phased.pack_weights(w.data(), rows);
  }
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
      {
        const kernels::PrecisionScope scope(precision);
        phased.run(batch, in.data(), got.data() + margin, b);
      }
      const std::vector<float> out(got.begin() + margin, got.end() - margin);
      if (precision == Precision::fp32) {
        kernels::col2im<float>(g, tables, batch, cols.data(), want.data(), b);
        CHECK(first_difference(out, want) == -1);
      } else {
        std::vector<double> sum(cols.size()), size(cols.size()), bias_d(channels + 0u), bias_abs(channels + 0u);
        for (int r = 0; r < rows; ++r)
          for (std::size_t j = 0; j < std::size_t(batch) * ohw; ++j)
            for (int i = 0; i < m; ++i) {
              const double term = double(kernels::round_to_bf16(w[std::size_t(i) * rows + r])) * kernels::round_to_bf16(cm[std::size_t(i) * batch * ohw + j]);
              sum[std::size_t(r) * batch * ohw + j] += term;
              size[std::size_t(r) * batch * ohw + j] += std::abs(term);
            }
        for (int c = 0; c < channels; ++c) bias_d[std::size_t(c)] = b ? b[c] : 0.0, bias_abs[std::size_t(c)] = std::abs(bias_d[std::size_t(c)]);
        std::vector<double> image(image_n), image_size(image_n);
        kernels::col2im<double>(g, tables, batch, sum.data(), image.data(), bias_d.data());
        kernels::col2im<double>(g, tables, batch, size.data(), image_size.data(), bias_abs.data());
        const double eps = std::numeric_limits<float>::epsilon();
        double worst = 0;
        for (std::size_t k = 0; k < image_n; ++k)
          worst = std::max(worst, std::abs(out[k] - image[k]) / ((m + g.kernel * g.kernel + 2) * eps * image_size[k] + 1e-30));
        CHECK(worst <= 1.0);
      }
      CHECK(std::all_of(got.begin(), got.begin() + margin, [](float v) { return v == guard; }));
      CHECK(std::all_of(got.end() - margin, got.end(), [](float v) { return v == guard; }));
    }
  }
}

// One geometry: IndirectLower on a partial and a full pass, with and without bias, against
// im2col + GEMM over the stored columns (the engine's other path): in fp32 bit for bit; in
// bf16 against a long-double sum of the bf16-rounded operands, within the fp32 summation's
// bound (K + 2) eps (sum_k |w_ik x_kj| + |bias_i|). Guards around the output catch a stray store.
void check_indirect(int channels, int height, int width, int kernel, int stride, int pad_top, int pad_left,
                    int pad_bottom, int pad_right, int m, int variants = every_run,
                    kernels::Trans tw = kernels::Trans::no, Precision precision = Precision::fp32) {
  const auto geometry = padded_geometry(channels, height, width, kernel, stride, pad_top, pad_left, pad_bottom, pad_right);
  if (!geometry) return;
  const kernels::ConvGeometry& g = *geometry;
  INFO(describe(g, m) << " " << precision_name(precision));
  kernels::IndirectLower indirect(g, m);
  REQUIRE(indirect.usable());
  const auto tables = kernels::conv_tables(g);
  const int ohw = g.out_size(), rows = g.col_rows();
  const auto w = normal_values(std::size_t(m) * rows, 21);  // op(w): m x C*K*K
  const auto bias = normal_values(std::size_t(m), 22);
  kernels::PackedA<float> packed;
  packed.pack(tw, m, rows, w.data(), tw == kernels::Trans::no ? rows : m);
  const auto op_w = [&](int i, int k) { return tw == kernels::Trans::no ? w[std::size_t(i) * rows + k] : w[std::size_t(k) * m + i]; };
  constexpr float guard = 12345.f;
  constexpr std::size_t margin = 64;
  for (int batch : {3, kernels::IndirectLower::samples}) {
    if (!runs(variants, batch, false) && !runs(variants, batch, true)) continue;
    const auto image = normal_values(std::size_t(batch) * channels * g.image_size(), 23 + std::uint64_t(batch));
    std::vector<float> cols(std::size_t(rows) * batch * ohw), cm(std::size_t(m) * batch * ohw);
    kernels::im2col<float>(g, tables, batch, image.data(), cols.data());
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      if (!runs(variants, batch, b != nullptr)) continue;
      std::vector<float> got(cm.size() + 2 * margin, guard);
      {
        const kernels::PrecisionScope scope(precision);
        indirect.prepare_weights(packed);
        indirect.run(packed, batch, image.data(), got.data() + margin, b);
      }
      const std::vector<float> out(got.begin() + margin, got.end() - margin);
      if (precision == Precision::fp32) {
        kernels::gemm<float>(packed, kernels::Trans::no, batch * ohw, 1.f, cols.data(), batch * ohw, 0.f, cm.data(),
                             batch * ohw, {.row_bias = b});
        std::vector<float> want(cm.size());
        kernels::from_channel_major<float>(batch, m, ohw, cm.data(), want.data());
        CHECK(first_difference(out, want) == -1);
      } else {
        const long double eps = std::numeric_limits<float>::epsilon();
        double worst = 0;
        for (int n = 0; n < batch; ++n)
          for (int i = 0; i < m; ++i)
            for (int p = 0; p < ohw; ++p) {
              long double sum = b ? b[i] : 0.f, size = std::abs(sum);
              for (int k = 0; k < rows; ++k) {
                const long double term = (long double)kernels::round_to_bf16(op_w(i, k)) *
                                         kernels::round_to_bf16(cols[std::size_t(k) * batch * ohw + std::size_t(n) * ohw + p]);
                sum += term;
                size += std::abs(term);
              }
              const float value = out[(std::size_t(n) * m + i) * ohw + p];
              worst = std::max(worst, double(std::abs(value - sum) / ((rows + 2) * eps * size + std::numeric_limits<float>::min())));
            }
        CHECK(worst <= 1.0);
      }
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

TEST_CASE("IndirectLower's bf16 pairs: the bf16-rounded operands' sum, up to fp32 summation", "[kernel][conv][bf16]") {
  if (!kernels::bf16_supported()) {
    WARN("no AVX512_BF16 here: IndirectLower runs its fp32 sums (tested above)");
    return;
  }
  test::ThreadCount thread_guard(1);
  // The DCGAN's lowered products, then odd channel counts (a pair with zeros), partial row
  // tiles, op(w) = w^T and many k blocks.
  constexpr auto no = kernels::Trans::no;
  check_indirect(1, 28, 28, 5, 2, 1, 1, 2, 2, 64, partial_plain | full_bias, no, Precision::bf16);
  check_indirect(64, 14, 14, 5, 2, 1, 1, 2, 2, 128, full_bias, no, Precision::bf16);
  const int cases = for_each_sweep_geometry([](int n, int stride, int kernel, int pad, int extra, int h, int w) {
    if (n % 5 != 0) return;  // a fifth of the sweep: the reference is a slow long-double loop
    const int ms[] = {2, 7, 13, 49, 33};
    check_indirect(3 + 7 * (n % 3), h, w, kernel, stride, pad, pad, pad + extra, pad + extra, ms[n / 5 % 5], 1 << (n % 4),
                   kernels::Trans::no, Precision::bf16);
  });
  CHECK(cases > 200);
  check_indirect(9, 9, 11, 3, 2, 1, 0, 1, 2, 24, every_run, kernels::Trans::yes, Precision::bf16);
  check_indirect(301, 6, 5, 3, 1, 1, 1, 1, 1, 17, full_bias, no, Precision::bf16);  // 6 pair blocks, an odd C
}

TEST_CASE("IndirectLower's bf16 pairs: the same bits on 1 and 3 threads", "[kernel][conv][bf16][parity]") {
  test::ThreadCount thread_guard(1);
  const kernels::ConvGeometry g{64, 14, 14, 5, 2, 2, 2, 7, 7};
  constexpr int m = 128, batch = 32;
  const auto w = normal_values(std::size_t(m) * g.col_rows(), 41);
  const auto image = normal_values(std::size_t(batch) * g.channels * g.image_size(), 42);
  kernels::PackedA<float> packed;
  packed.pack(kernels::Trans::no, m, g.col_rows(), w.data(), g.col_rows());
  const kernels::PrecisionScope bf16(Precision::bf16);
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 3}) {
    thread_guard.set(threads);
    kernels::IndirectLower indirect(g, m);
    outs.emplace_back(std::size_t(batch) * m * g.out_size());
    indirect.prepare_weights(packed);
    indirect.run(packed, batch, image.data(), outs.back().data(), nullptr);
  }
  CHECK(first_difference(outs[0], outs[1]) == -1);
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

TEST_CASE("PhasedRaise's bf16 pairs: the bf16-rounded operands' sum, up to fp32 summation", "[kernel][conv][bf16]") {
  if (!kernels::bf16_supported()) {
    WARN("no AVX512_BF16 here: PhasedRaise runs its fp32 sums (tested above)");
    return;
  }
  test::ThreadCount thread_guard(1);
  // The DCGAN's raised products; then a fifth of the sweep (odd m: a pair with zeros), and m
  // at the k block.
  check_phased(128, 14, 14, 4, 2, 1, 1, 1, 1, 256, partial_plain | full_bias, Precision::bf16);
  check_phased(64, 14, 14, 5, 2, 1, 1, 2, 2, 128, full_bias, Precision::bf16);
  const int cases = for_each_sweep_geometry([](int n, int stride, int kernel, int pad, int extra, int h, int w) {
    if (n % 5 != 0) return;
    check_phased(3 + 7 * (n % 3), h, w, kernel, stride, pad, pad, pad + extra, pad + extra, n % 4 == 0 ? 1 : 5 + n % 29,
                 1 << ((n + n / 4) % 4), Precision::bf16);
  });
  CHECK(cases > 200);
  check_phased(17, 6, 6, 3, 2, 1, 1, 1, 1, 255, full_bias, Precision::bf16);
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
