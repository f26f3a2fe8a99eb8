#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/conv.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "support/random.hpp"

using namespace ganad;

namespace {
constexpr float guard = 12345.f;  // written around every buffer: a stray store changes it
constexpr int margin = 40;

std::vector<float> guarded(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n + 2 * margin, guard);
  Rng rng(seed);
  for (std::size_t i = 0; i < n; ++i) v[margin + i] = float(rng.normal());
  return v;
}
bool guards_intact(const std::vector<float>& v) {
  for (int i = 0; i < margin; ++i)
    if (v[std::size_t(i)] != guard || v[v.size() - 1 - std::size_t(i)] != guard) return false;
  return true;
}

// One stride-2 geometry: the vector paths (AVX-512 phases or rows, where available) against
// the scalar table loops (bit for bit) and the definitions, with guards around every buffer.
void check_stride2(int batch, int channels, int height, int width, int kernel, int pad_top, int pad_left, int pad_right) {
  const int out_h = (height + 2 * pad_top - kernel) / 2 + 1, out_w = (width + pad_left + pad_right - kernel) / 2 + 1;
  const kernels::ConvGeometry g{channels, height, width, kernel, 2, pad_top, pad_left, out_h, out_w};
  const auto tables = kernels::conv_tables(g);
  const std::size_t image_n = std::size_t(batch) * channels * g.image_size();
  const std::size_t cols_n = std::size_t(g.col_rows()) * batch * g.out_size();
  INFO("H " << height << " W " << width << " K " << kernel << " pad " << pad_top << "," << pad_left
            << " out " << out_h << "x" << out_w);

  const auto images = guarded(image_n, 1);
  auto cols = guarded(cols_n, 2), cols_scalar = guarded(cols_n, 3);
  kernels::im2col<float>(g, tables, batch, images.data() + margin, cols.data() + margin);
  kernels::im2col<float, false>(g, tables, batch, images.data() + margin, cols_scalar.data() + margin);
  REQUIRE(guards_intact(cols));
  REQUIRE(cols == cols_scalar);
  // Every (column entry, image position) pair of the definition, image = -1 in the padding.
  auto each_entry = [&](auto&& f) {
    for (int c = 0; c < channels; ++c)
      for (int kh = 0; kh < kernel; ++kh)
        for (int kw = 0; kw < kernel; ++kw)
          for (int n = 0; n < batch; ++n)
            for (int oh = 0; oh < out_h; ++oh)
              for (int ow = 0; ow < out_w; ++ow) {
                const int ih = oh * 2 - pad_top + kh, iw = ow * 2 - pad_left + kw;
                const std::size_t row = (std::size_t(c) * kernel + kh) * kernel + kw;
                const std::size_t col = row * batch * g.out_size() + std::size_t(n) * g.out_size() + std::size_t(oh) * out_w + ow;
                const bool inside = ih >= 0 && ih < height && iw >= 0 && iw < width;
                f(col, inside ? std::ptrdiff_t(((std::size_t(n) * channels + c) * height + ih) * width + iw) : -1);
              }
  };
  bool defined = true;
  each_entry([&](std::size_t col, std::ptrdiff_t pixel) {
    defined = defined && cols[margin + col] == (pixel >= 0 ? images[margin + std::size_t(pixel)] : 0.f);
  });
  REQUIRE(defined);

  // col2im: bit-identical to the scalar loops (same order of summation), with and
  // without a bias, and within rounding of the adjoint summed in double.
  std::vector<float> bias(static_cast<std::size_t>(channels));
  for (int c = 0; c < channels; ++c) bias[std::size_t(c)] = 0.25f - 1.75f * float(c);
  for (const float* b : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data())}) {
    auto img = guarded(image_n, 4), img_scalar = guarded(image_n, 5);
    kernels::col2im<float>(g, tables, batch, cols_scalar.data() + margin, img.data() + margin, b);
    kernels::col2im<float, false>(g, tables, batch, cols_scalar.data() + margin, img_scalar.data() + margin, b);
    REQUIRE(guards_intact(img));
    REQUIRE(img == img_scalar);
    std::vector<double> want(image_n, 0.0);
    for (int n = 0; n < batch; ++n)
      for (int c = 0; c < channels; ++c)
        for (int i = 0; i < g.image_size(); ++i) want[(std::size_t(n) * channels + c) * g.image_size() + i] = b ? b[c] : 0.0;
    each_entry([&](std::size_t col, std::ptrdiff_t pixel) {
      if (pixel >= 0) want[std::size_t(pixel)] += cols_scalar[margin + col];
    });
    double worst = 0;
    for (std::size_t i = 0; i < image_n; ++i) worst = std::max(worst, std::abs(img[margin + i] - want[i]));
    REQUIRE(worst < 1e-5 * kernel * kernel);
  }
}
}  // namespace

// Output rows shorter than, equal to and longer than 16 lanes, padding on either side, odd
// widths, kernels 1-7: the phase windows (rows under 12), the row permutes and the phases'
// col2im all run here.
TEST_CASE("im2col and col2im, stride 2: vector paths equal the scalar loops and the definitions", "[kernel][conv]") {
  int cases = 0;
  for (int height : {1, 5, 14})
    for (int width : {1, 2, 7, 14, 28, 33, 40})
      for (int kernel : {1, 2, 3, 4, 5, 7})
        for (int pad_top = 0; pad_top < kernel; pad_top += 2)
          for (int pad_left = 0; pad_left < kernel; ++pad_left)
            for (int pad_right : {0, 1}) {
              if (height + 2 * pad_top < kernel || width + pad_left + pad_right < kernel) continue;
              ++cases;
              check_stride2(2, 2, height, width, kernel, pad_top, pad_left, pad_right);
            }
  CHECK(cases > 1000);
  // Batches over the phase path's groups of 8 samples, and a partial group.
  check_stride2(11, 3, 14, 14, 5, 2, 2, 1);
  check_stride2(17, 2, 28, 28, 4, 1, 1, 1);
  INFO("stride-2 vector paths compiled in: " << kernels::has_stride2_rows<float>);
  SUCCEED();
}

// Planes too large for the phase scratch (or rows too long for a row permute) take the
// other paths; they must agree as well.
TEST_CASE("im2col and col2im, stride 2: large planes fall back and still agree", "[kernel][conv]") {
  for (int kernel : {3, 4}) {
    const kernels::ConvGeometry g{1, 130, 130, kernel, 2, 1, 1, (130 + 2 - kernel) / 2 + 1, (130 + 2 - kernel) / 2 + 1};
    CHECK_FALSE(kernels::conv_tables(g).phases.usable);
    check_stride2(1, 1, 130, 130, kernel, 1, 1, 1);
    check_stride2(1, 1, 3, 530, kernel, 1, 1, 1);
  }
}
