/// The machine's FMA peak, measured: independent FMA chains on registers, no memory
/// traffic. Benchmarks print every GEMM figure as a share of this, taken in the same run.
#pragma once

#include <cstdint>

#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

/// Runs `iterations` rounds of 24 independent SIMD FMA chains; returns the flops done.
/// `sink` receives a value that depends on every chain, so nothing is optimised away.
template <class T>
double fma_peak_loop(std::int64_t iterations, T* sink) {
  using V = simd<T>;
  constexpr int chains = 24;  // > latency x throughput (4 x 2) with room for two ports
  V acc[chains];
  const V a(T(0.999999)), b(T(1e-7));
  for (int i = 0; i < chains; ++i) acc[i] = V(T(i));
  for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < chains; ++i) acc[i] = fmadd(acc[i], a, b);
  }
  V total(T(0));
  for (int i = 0; i < chains; ++i) total = total + acc[i];
  *sink = reduce_sum(total);
  return 2.0 * double(iterations) * chains * double(simd_width<T>);
}

}  // namespace ganad::kernels
