// Composition demo: the seed's DCGAN (design.md) built from compile-time shapes. Prints both
// networks layer by layer, runs G then D on random noise, and times D on a batch of 256.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <ganad/ganad.hpp>

using namespace ganad;

using Generator = models::DcganGenerator<float>;
using Discriminator = models::DcganDiscriminator<float>;
static_assert(std::is_same_v<Generator::out_shape, Discriminator::in_shape>);

int main() {
  std::printf("ganad %s, SIMD %s, %d threads\n\n", version(), simd_arch_name(), num_threads());
  Generator generator({.seed = 1, .scheme = Init::dcgan});
  Discriminator discriminator({.seed = 2, .scheme = Init::dcgan});
  std::cout << "Generator\n" << generator.summary() << "\nDiscriminator\n" << discriminator.summary() << "\n";

  constexpr int batch = 256;
  Batch<float, Flat<100>> noise(batch);
  Rng rng(3);
  for (float& z : noise.flat()) z = float(rng.normal());

  const auto images = generator.forward(noise.view());
  const auto logits = discriminator.forward(images);
  const auto [lo, hi] = std::ranges::minmax(images.flat());
  std::printf("G(z) for %d noise vectors: pixels in [%.3f, %.3f] (tanh keeps them in [-1, 1])\n", batch, lo, hi);
  std::printf("D(G(z)) logits of the first four: %.4f %.4f %.4f %.4f\n", logits.data[0], logits.data[1],
              logits.data[2], logits.data[3]);

  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {  // buffers exist after the first call: no allocation here
    const auto start = std::chrono::steady_clock::now();
    discriminator.forward(images);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::printf("D forward on %d images: %.2f ms, %.0f images/s\n", batch, best * 1e3, batch / best);
  return 0;
}
