// A small conv GAN on 6 x 6 images (BatchNorm in G, every layer kind) and data for it: fast
// enough to train inside unit tests.
#pragma once

#include <cstdint>

#include "ganad/ganad.hpp"

namespace ganad::test {

using SmallG = Sequential<float, Flat<4>, Dense<2 * 3 * 3>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>,
                          ConvTranspose2D<4, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,
                          ConvTranspose2D<1, 3, Stride<1>, Same>, Tanh>;
using SmallD = Sequential<float, Shape<1, 6, 6>, Conv2D<4, 3, Stride<2>, Same>, LeakyReLU<>, Flatten, Dense<1>>;
using SmallGan = Gan<SmallG, SmallD>;

/// A bright 3 x 3 square on a dark 6 x 6 image, jittered.
inline Batch<float, Shape<1, 6, 6>> blobs(int n, std::uint64_t seed) {
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

}  // namespace ganad::test
