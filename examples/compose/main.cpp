// Composition demo: builds a generator and a discriminator for 28x28 images from
// compile-time shapes, prints their summaries, and runs G then D on random noise.
#include <chrono>
#include <cstdio>
#include <iostream>

#include <ganad/ganad.hpp>

using namespace ganad;

using Generator = Sequential<float, Flat<100>,
    Dense<256>, LeakyReLU<>,
    Dense<512>, LeakyReLU<>,
    Dense<28 * 28>, Tanh, Reshape<Shape<1, 28, 28>>>;
using Discriminator = Sequential<float, Shape<1, 28, 28>,
    Flatten, Dense<512>, LeakyReLU<>,
    Dense<256>, LeakyReLU<>,
    Dense<1>>;
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

  const auto start = std::chrono::steady_clock::now();
  const auto images = generator.forward(noise.view());
  const auto logits = discriminator.forward(images);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  float lo = images.data[0], hi = images.data[0];
  for (float v : images.flat()) lo = std::min(lo, v), hi = std::max(hi, v);
  std::printf("G(z) for %d noise vectors: pixels in [%.3f, %.3f] (tanh keeps them in [-1, 1])\n", batch, lo, hi);
  std::printf("D(G(z)) logits of the first four: %.4f %.4f %.4f %.4f\n", logits.data[0], logits.data[1],
              logits.data[2], logits.data[3]);
  std::printf("first forward pass of G and D (includes buffer set-up): %.2f ms\n", ms);
  return 0;
}
