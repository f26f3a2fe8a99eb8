#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/conv_engine.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "support/random.hpp"
#include "support/threads.hpp"

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

  // ImplicitColumns: every B panel the GEMM would pack from the columns, gathered from the
  // phases instead: the same bits, zero-padded past the last column, nothing written past
  // the panel. Its tables are grown for a longer batch first, as after a larger chunk.
  if (kernels::ImplicitColumns implicit(g, tables.phases); implicit.usable()) {
    std::vector<float> longer(std::size_t(batch + 5) * channels * g.image_size(), 1.f);
    std::vector<float> longer_phases(implicit.phase_floats(batch + 5));
    implicit.split(tables.phases, batch + 5, longer.data(), longer_phases.data());
    auto phases = guarded(implicit.phase_floats(batch), 6);
    implicit.split(tables.phases, batch, images.data() + margin, phases.data() + margin);
    REQUIRE(guards_intact(phases));
    const int rows = g.col_rows(), n_cols = batch * g.out_size();
    bool same = true, padded = true;
    for (int p0 : {0, std::min(3, rows - 1)}) {
      const int kc = std::min(256, rows - p0);
      aligned_vector<float> want(std::size_t(kc) * 32), got(std::size_t(kc) * 32 + 16);
      for (int j0 = 0; j0 < n_cols; j0 += 32) {
        const int n = std::min(32, n_cols - j0);
        std::fill(got.begin(), got.end(), guard);
        kernels::detail::pack_b_panel(kernels::Trans::no, cols_scalar.data() + margin, n_cols, p0, j0, kc, n, want.data());
        implicit.pack(p0, j0, kc, n, got.data());
        same = same && std::equal(want.begin(), want.end(), got.begin());
        padded = padded && got[std::size_t(kc) * 32] == guard && got.back() == guard;
      }
    }
    REQUIRE(same);
    REQUIRE(padded);
    // As A (pack_a's panels of 8 and of 7 rows): partial row panels, k blocks on 16.
    const auto check_rows = [&]<int MR>() {
      bool rows_same = true;
      for (int i0 : {0, MR, rows / 2 / MR * MR})
        for (int p0 = 0; p0 < n_cols; p0 += 48) {
          const int mc = std::min(rows - i0, 3 * MR + 1), kc = std::min(256, n_cols - p0);
          if (mc <= 0) continue;
          const std::size_t size = std::size_t((mc + MR - 1) / MR * MR) * kc;
          std::vector<float> want(size, -1.f), got(size + 8, guard);
          kernels::detail::pack_a<float, MR>(kernels::Trans::no, cols_scalar.data() + margin, n_cols, i0, p0, mc, kc,
                                             want.data());
          implicit.pack_rows<MR>(i0, p0, mc, kc, got.data());
          rows_same = rows_same && std::equal(want.begin(), want.end(), got.begin()) && got[size] == guard &&
                      got.back() == guard;
        }
      return rows_same;
    };
    REQUIRE(check_rows.template operator()<8>());
    REQUIRE(check_rows.template operator()<7>());
  }

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

// The GEMM with ImplicitColumns as its B, or as its A, gives the bits of the GEMM over
// stored columns: edge tiles (13 rows), a partial last panel, several k blocks, 1 and 3
// threads (3 split the weight gradient's rows).
TEST_CASE("gemm over ImplicitColumns equals gemm over im2col's columns", "[kernel][conv][gemm][parity]") {
  const kernels::ConvGeometry g{24, 14, 14, 5, 2, 1, 1, 7, 7};
  const auto tables = kernels::conv_tables(g);
  kernels::ImplicitColumns implicit(g, tables.phases);
  if (!implicit.usable()) {
    CHECK_FALSE(kernels::has_stride2_rows<float>);
    return;
  }
  const int batch = 11, m = 13, k = g.col_rows(), n = batch * g.out_size();
  const auto images = guarded(std::size_t(batch) * g.channels * g.image_size(), 7);
  const auto w = guarded(std::size_t(m) * k, 8);
  aligned_vector<float> cols(std::size_t(k) * n), phases(implicit.phase_floats(batch));
  kernels::im2col<float>(g, tables, batch, images.data() + margin, cols.data());
  implicit.split(tables.phases, batch, images.data() + margin, phases.data());
  std::vector<float> bias(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) bias[std::size_t(i)] = 0.5f - 0.125f * float(i);
  kernels::PackedA<float> packed;
  packed.pack(kernels::Trans::no, m, k, w.data() + margin, k);
  test::ThreadCount thread_guard(1);
  for (int threads : {1, 3}) {
    thread_guard.set(threads);
    std::vector<float> want(std::size_t(m) * n), got(std::size_t(m) * n);
    kernels::gemm<float>(packed, kernels::Trans::no, n, 1.f, cols.data(), n, 0.f, want.data(), n, {.row_bias = bias.data()});
    kernels::gemm<float>(packed, implicit, n, 1.f, 0.f, got.data(), n, {.row_bias = bias.data()});
    CHECK(want == got);
    // As A: dw^T (C*K*K x m) = cols * a^T, accumulated (beta = 1) as over chunks.
    const auto a = guarded(std::size_t(m) * n, 9);
    std::vector<float> dw_want(std::size_t(k) * m, 0.5f), dw_got(std::size_t(k) * m, 0.5f);
    kernels::gemm<float>(kernels::Trans::no, kernels::Trans::yes, k, m, n, 1.f, cols.data(), n, a.data() + margin, n, 1.f,
                         dw_want.data(), m);
    kernels::gemm_sourced_a<float>(implicit.as_a(), kernels::Trans::yes, k, m, n, 1.f, a.data() + margin, n, 1.f,
                                   dw_got.data(), m);
    CHECK(dw_want == dw_got);
  }
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
