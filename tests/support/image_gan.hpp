// A small image GAN trained once on 6 x 6 "squares" (shared by the scorer and detector tests,
// which only read it), with normal data and anomalies for it.
#pragma once

#include <cstdint>

#include "ganad/ganad.hpp"

namespace ganad::test {

using ImgG = Sequential<float, Flat<4>, Dense<2 * 3 * 3>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>,
                        ConvTranspose2D<4, 4, Stride<2>, Same>, LeakyReLU<>, ConvTranspose2D<1, 3, Stride<1>, Same>, Tanh>;
using ImgD = Sequential<float, Shape<1, 6, 6>, Conv2D<8, 3, Stride<2>, Same>, LeakyReLU<>, Flatten, Dense<1>>;
using ImgGan = Gan<ImgG, ImgD>;
inline constexpr int image_size = 36;

/// Normal: a bright 3 x 3 square on a dark 6 x 6 image, anywhere, with a little noise.
inline RowMatrix<float> squares(int n, std::uint64_t seed) {
  RowMatrix<float> m(n, image_size);
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int r = int(rng.below(4)), c = int(rng.below(4));
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x)
        m(i, y * 6 + x) = (y >= r && y < r + 3 && x >= c && x < c + 3 ? 0.8f : -0.8f) + float(rng.normal(0, 0.05));
  }
  return m;
}
/// Anomalies: uniform noise.
inline RowMatrix<float> anomalies(int n, std::uint64_t seed) {
  RowMatrix<float> m(n, image_size);
  Rng rng(seed);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < image_size; ++j) m(i, j) = float(rng.uniform(-1, 1));
  return m;
}
/// x as the batch view the scorer-level (chunk) calls take.
inline ConstBatchView<float, Shape<1, 6, 6>> view(const RowMatrix<float>& m) { return {m.data(), int(m.rows())}; }

/// Trained once per process (about a second); tests only read it.
inline ImgGan& trained_gan() {
  static ImgGan gan = [] {
    // 30 epochs leave G blurry (nothing to reconstruct with); 200 at 5e-4 make squares.
    ImgGan g({.seed = 3, .g_optimizer = {.lr = 5e-4}, .d_optimizer = {.lr = 5e-4}});
    g.fit(squares(512, 1), {.epochs = 200, .batch = 64});
    return g;
  }();
  return gan;
}

/// Mean detector score of normal data and of anomalies.
template <class Det>
std::pair<double, double> mean_scores(Det& det) {
  return {double(det.decision_function(squares(200, 77)).mean()), double(det.decision_function(anomalies(200, 78)).mean())};
}

}  // namespace ganad::test
