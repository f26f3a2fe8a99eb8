/// Parameter initialisation schemes. Every layer with weights calls init_weights with its
/// fan-in and fan-out; the Rng is always passed in, never global.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include "ganad/core/random.hpp"

namespace ganad {

/// How a network's weights and biases start.
enum class Init {
  pytorch,         ///< PyTorch's default: w, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  dcgan,           ///< DCGAN: w ~ N(0, 0.02), b = 0
  glorot_uniform,  ///< Keras' default: w ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), b = 0
  he_normal,       ///< w ~ N(0, sqrt(2 / fan_in)), b = 0
};

/// Seed and scheme for a network's parameters.
struct InitOptions {
  std::uint64_t seed = 0;
  Init scheme = Init::pytorch;
};

/// Fills weights w and biases b (b may be empty) by `scheme`.
template <class T>
void init_weights(Init scheme, std::span<T> w, std::span<T> b, int fan_in, int fan_out, Rng& rng) {
  switch (scheme) {
    case Init::pytorch: {
      const double bound = 1.0 / std::sqrt(double(fan_in));
      for (auto& v : w) v = T(rng.uniform(-bound, bound));
      for (auto& v : b) v = T(rng.uniform(-bound, bound));
      return;
    }
    case Init::dcgan:
      for (auto& v : w) v = T(rng.normal(0.0, 0.02));
      break;
    case Init::glorot_uniform: {
      const double bound = std::sqrt(6.0 / double(fan_in + fan_out));
      for (auto& v : w) v = T(rng.uniform(-bound, bound));
      break;
    }
    case Init::he_normal: {
      const double sd = std::sqrt(2.0 / double(fan_in));
      for (auto& v : w) v = T(rng.normal(0.0, sd));
      break;
    }
  }
  for (auto& v : b) v = T(0);
}

}  // namespace ganad
