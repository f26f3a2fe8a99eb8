// Fixtures of the data-parallel tests (tests/mpi/ on MPI ranks, tests/unit/gan/ on threads):
// GANs with and without BatchNorm, global batches the same on every rank, a rank's part of one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "ganad/ganad.hpp"
#include "support/small_gan.hpp"

namespace ganad::test {

// Without BatchNorm anywhere: data-parallel training then computes the same sums as one
// process, ordered differently.
using PlainG = Sequential<float, Flat<4>, Dense<18>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>, ConvTranspose2D<1, 4, Stride<2>, Same>, Tanh>;
using PlainGan = Gan<PlainG, SmallD>;
// A table (Flat input): off-distribution negatives are on by default.
using TableG = Sequential<float, Flat<3>, Dense<8>, LeakyReLU<>, Dense<5>>;
using TableD = Sequential<float, Flat<5>, Dense<12>, LeakyReLU<>, Dense<1>>;
using TableGan = Gan<TableG, TableD>;

template <class Model>
std::vector<std::uint8_t> state_bytes(const Model& m) {
  ByteWriter w;
  m.save_state(w);
  return {w.bytes().begin(), w.bytes().end()};
}
/// The global batch of step `step`: `n` samples, the same on every rank.
template <class S>
Batch<float, S> global_batch(int n, int step) {
  if constexpr (S::is_flat) {
    Batch<float, S> b(n);
    Rng rng(1000 + std::uint64_t(step));
    for (float& v : b.flat()) v = float(rng.normal(0.5, 1.0));
    return b;
  } else {
    return blobs(n, 1000 + std::uint64_t(step));
  }
}
/// This rank's part of a global batch (block_of).
template <class S>
Batch<float, S> my_part(const Batch<float, S>& global, const Collective& group) {
  const auto b = block_of(global.batch(), group);
  Batch<float, S> part(b.rows);
  std::copy_n(global.data() + std::size_t(b.begin) * S::size, std::size_t(b.rows) * S::size, part.data());
  return part;
}
/// `steps` data-parallel steps on global batches of `global` samples.
template <class G>
void train_parts(G& gan, int steps, int global, const Collective& group) {
  for (int s = 0; s < steps; ++s) gan.train_step(my_part(global_batch<typename G::image_shape>(global, s), group).view());
}
inline float max_abs_difference(std::span<const float> a, std::span<const float> b) {
  float m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace ganad::test
