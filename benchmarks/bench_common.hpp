// Shared by the benchmarks: the FMA peak measured in this run, labels, thread settings.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include <ganad/ganad.hpp>
#include "peak.hpp"

namespace ganad::bench {

/// Single-thread FP32 FMA peak in GFLOP/s, measured once per process (median of 5).
inline double fma_peak_gflops() {
  static const double peak = [] {
    double best[5];
    float sink = 0;
    for (double& b : best) {
      const auto t0 = std::chrono::steady_clock::now();
      const double flops = kernels::fma_peak_loop<float>(20'000'000, &sink);
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      b = flops / dt.count() / 1e9;
    }
    std::sort(best, best + 5);
    benchmark::DoNotOptimize(sink);
    return best[2];
  }();
  return peak;
}

/// Adds GFLOP/s and % of (threads x single-core peak) counters for `flops` per iteration.
inline void report_flops(benchmark::State& state, double flops, int threads) {
  state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOPS"] = fma_peak_gflops() * threads;
}

/// The end of every benchmark's main(): flags, a header line with the SIMD arch and the
/// measured peak, then the registered benchmarks.
inline int run_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("ganad %s, SIMD %s, measured single-core FMA peak %.1f GFLOP/s\n", version(), simd_arch_name(),
              fma_peak_gflops());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

inline std::string arch_label(int threads) {
  return std::string(simd_arch_name()) + "/threads:" + std::to_string(threads);
}

}  // namespace ganad::bench
