// Small raster drawing for ganad-detect's and the MNIST example's pictures (image grids,
// ROC curves, histograms), written as PNG with stb_image_write. A 3x5 bitmap font labels
// scores; no other dependency.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <stb/stb_image_write.h>

#include <ganad/core/error.hpp>

namespace pictures {

struct Rgb {
  std::uint8_t r, g, b;
};
inline constexpr Rgb white{255, 255, 255}, black{0, 0, 0}, grey{200, 200, 200}, blue{31, 119, 180},
    orange{255, 127, 14}, green{44, 160, 44}, red{214, 39, 40}, purple{148, 103, 189}, brown{140, 86, 75};
inline constexpr Rgb palette[] = {blue, orange, green, red, purple, brown};  // one per scorer of the example

class Canvas {
 public:
  Canvas(int w, int h, Rgb fill = white) : w_(w), h_(h), px_(std::size_t(w) * h * 3) {
    for (int i = 0; i < w * h; ++i) set_index(i, fill);
  }
  [[nodiscard]] int width() const { return w_; }
  [[nodiscard]] int height() const { return h_; }
  void set(int x, int y, Rgb c) {
    if (x >= 0 && y >= 0 && x < w_ && y < h_) set_index(y * w_ + x, c);
  }
  void rect(int x0, int y0, int x1, int y1, Rgb c) {
    for (int y = std::max(0, y0); y < std::min(h_, y1); ++y)
      for (int x = std::max(0, x0); x < std::min(w_, x1); ++x) set(x, y, c);
  }
  void line(double x0, double y0, double x1, double y1, Rgb c, int thick = 1) {
    const int steps = int(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = double(i) / steps;
      const int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
      for (int dy = 0; dy < thick; ++dy)
        for (int dx = 0; dx < thick; ++dx) set(x + dx, y + dy, c);
    }
  }
  /// A grayscale tile: values in [-1, 1] (tanh range), scaled up by `zoom`.
  void gray_tile(int x0, int y0, const float* v, int rows, int cols, int zoom, float lo = -1.f, float hi = 1.f) {
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < cols; ++x) {
        const float t = std::clamp((v[y * cols + x] - lo) / (hi - lo), 0.f, 1.f);
        const auto g = std::uint8_t(std::lround(255.f * t));
        rect(x0 + x * zoom, y0 + y * zoom, x0 + (x + 1) * zoom, y0 + (y + 1) * zoom, {g, g, g});
      }
  }
  /// An image tile of `channels` (1: gray, 3: RGB) planes of rows x cols in [lo, hi].
  void image_tile(int x0, int y0, const float* v, int channels, int rows, int cols, int zoom, float lo = -1.f, float hi = 1.f) {
    if (channels != 3) return gray_tile(x0, y0, v, rows, cols, zoom, lo, hi);
    const std::size_t plane = std::size_t(rows) * std::size_t(cols);
    auto u8 = [&](float x) { return std::uint8_t(std::lround(255.f * std::clamp((x - lo) / (hi - lo), 0.f, 1.f))); };
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < cols; ++x) {
        const std::size_t p = std::size_t(y) * std::size_t(cols) + std::size_t(x);
        rect(x0 + x * zoom, y0 + y * zoom, x0 + (x + 1) * zoom, y0 + (y + 1) * zoom, {u8(v[p]), u8(v[plane + p]), u8(v[2 * plane + p])});
      }
  }
  /// Text with a 3x5 font: digits, '.', '-', 'e', and a few letters; scale 2 by default.
  void text(int x0, int y0, const std::string& s, Rgb c, int scale = 2) {
    for (char ch : s) {
      const auto& g = glyph(ch);
      for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 3; ++x)
          if (g[std::size_t(y)] >> (2 - x) & 1) rect(x0 + x * scale, y0 + y * scale, x0 + (x + 1) * scale, y0 + (y + 1) * scale, c);
      x0 += 4 * scale;
    }
  }
  void save_png(const std::string& path) const {
    if (!stbi_write_png(path.c_str(), w_, h_, 3, px_.data(), w_ * 3))
      throw ganad::IoError(path + ": cannot write PNG");
  }

 private:
  void set_index(int i, Rgb c) {
    px_[std::size_t(i) * 3] = c.r;
    px_[std::size_t(i) * 3 + 1] = c.g;
    px_[std::size_t(i) * 3 + 2] = c.b;
  }
  static const std::array<std::uint8_t, 5>& glyph(char c) {
    static const std::array<std::uint8_t, 5> digits[10] = {
        {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
        {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};
    static const std::array<std::uint8_t, 5> dot{0, 0, 0, 0, 2}, minus{0, 0, 7, 0, 0}, space{0, 0, 0, 0, 0},
        e{7, 4, 7, 4, 7}, a{2, 5, 7, 5, 5}, f{7, 4, 6, 4, 4}, p{6, 5, 6, 4, 4}, r{6, 5, 6, 5, 5}, t{7, 2, 2, 2, 2},
        u{5, 5, 5, 5, 7}, o{7, 5, 5, 5, 7}, c_{7, 4, 4, 4, 7}, n{5, 7, 7, 7, 5}, s{7, 4, 7, 1, 7}, l{4, 4, 4, 4, 7},
        m{5, 7, 7, 5, 5}, d{6, 5, 5, 5, 6}, i{7, 2, 2, 2, 7}, g{7, 4, 5, 5, 7}, h{5, 5, 7, 5, 5}, b{6, 5, 6, 5, 6},
        k{5, 5, 6, 5, 5}, colon{0, 2, 0, 2, 0}, slash{1, 1, 2, 4, 4}, percent{5, 1, 2, 4, 5};
    if (c >= '0' && c <= '9') return digits[c - '0'];
    switch (c) {
      case '.': return dot;
      case '-': return minus;
      case 'e': case 'E': return e;
      case 'a': case 'A': return a;
      case 'f': case 'F': return f;
      case 'p': case 'P': return p;
      case 'r': case 'R': return r;
      case 't': case 'T': return t;
      case 'u': case 'U': return u;
      case 'o': case 'O': return o;
      case 'c': case 'C': return c_;
      case 'n': case 'N': return n;
      case 's': case 'S': return s;
      case 'l': case 'L': return l;
      case 'm': case 'M': return m;
      case 'd': case 'D': return d;
      case 'i': case 'I': return i;
      case 'g': case 'G': return g;
      case 'h': case 'H': return h;
      case 'b': case 'B': return b;
      case 'k': case 'K': return k;
      case ':': return colon;
      case '/': return slash;
      case '%': return percent;
      default: return space;
    }
  }
  int w_, h_;
  std::vector<std::uint8_t> px_;
};

/// A grid of side x side grayscale images (values in [-1, 1]), `cols` per row, with an
/// optional caption each.
/// Geometry of the images a grid shows: channels (1 or 3) x height x width.
struct TileShape {
  int channels = 1, height = 28, width = 28;
};

inline void image_grid(const std::string& path, const float* images, int count, int cols, int zoom = 2,
                       const std::vector<std::string>& captions = {}, TileShape t = {}) {
  const int cell_h = t.height * zoom + (captions.empty() ? 2 : 14), cell_w = std::max(t.width * zoom, captions.empty() ? 0 : 48) + 2;
  const int rows = (count + cols - 1) / cols;
  const std::size_t size = std::size_t(t.channels) * std::size_t(t.height) * std::size_t(t.width);
  Canvas c(cols * cell_w + 2, rows * cell_h + 2, grey);
  for (int i = 0; i < count; ++i) {
    const int x = 2 + (i % cols) * cell_w, y = 2 + (i / cols) * cell_h;
    c.image_tile(x, y, images + std::size_t(i) * size, t.channels, t.height, t.width, zoom);
    if (!captions.empty()) c.text(x, y + t.height * zoom + 2, captions[std::size_t(i)], black, 2);
  }
  c.save_png(path);
}

}  // namespace pictures
