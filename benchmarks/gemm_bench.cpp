// GEMM: ganad's kernel (fp32, and bf16 products where the machine has AVX512_BF16) and
// Eigen's on the same shapes in the same run (row-major C = A * B, float), 1 and 2 threads,
// plus the FMA peak. scripts/bench prints the table.
#include "bench_common.hpp"  // first: ganad's simd.hpp must be the first to include <immintrin.h>

#include <Eigen/Core>

#include <cstdio>
#include <vector>

namespace {

using namespace ganad;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct GemmShape {
  const char* name;
  int m, n, k;
};
// The seed's DCGAN at batch 64 (design.md), as M x N x K of row-major C = A * B.
const GemmShape shapes[] = {
    {"square256", 256, 256, 256},
    {"square512", 512, 512, 512},
    {"square1024", 1024, 1024, 1024},
    {"dense100-12544_fwd", 64, 12544, 100},
    {"convT256-128_fwd", 2048, 3136, 256},
    {"convT256-128_grad_a", 256, 3136, 2048},
    {"convT256-128_grad_b", 256, 2048, 3136},
    {"convT128-64_fwd", 1024, 12544, 128},
    {"convT128-64_grad_a", 128, 12544, 1024},
    {"convT128-64_grad_b", 128, 1024, 12544},
    {"convT64-1_k7_fwd", 49, 50176, 64},
    {"conv1-64_k5_fwd", 64, 12544, 25},
    {"conv64-128_k5_fwd", 128, 3136, 1600},
    {"conv64-128_k5_grad_a", 1600, 3136, 128},
    {"conv64-128_k5_grad_b", 128, 1600, 3136},
};

void bm_peak(benchmark::State& state) {
  float sink = 0;
  double flops = 0;
  for (auto _ : state) flops = kernels::fma_peak_loop<float>(1'000'000, &sink);
  benchmark::DoNotOptimize(sink);
  bench::report_flops(state, flops, 1);
  state.SetLabel(bench::arch_label(1));
}

void bm_ganad(benchmark::State& state, GemmShape s, int threads, Precision precision) {
  set_num_threads(threads);
  const kernels::PrecisionScope scope(precision);
  RowMatrix a = RowMatrix::Random(s.m, s.k), b = RowMatrix::Random(s.k, s.n), c(s.m, s.n);
  for (auto _ : state) {
    kernels::gemm<float>(kernels::Trans::no, kernels::Trans::no, s.m, s.n, s.k, 1.0f, a.data(), s.k,
                         b.data(), s.n, 0.0f, c.data(), s.n);
    benchmark::ClobberMemory();
  }
  bench::report_flops(state, 2.0 * s.m * s.n * s.k, threads);
  state.SetLabel(bench::arch_label(threads));
}

void bm_eigen(benchmark::State& state, GemmShape s, int threads) {
  Eigen::setNbThreads(threads);
  RowMatrix a = RowMatrix::Random(s.m, s.k), b = RowMatrix::Random(s.k, s.n), c(s.m, s.n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::ClobberMemory();
  }
  bench::report_flops(state, 2.0 * s.m * s.n * s.k, threads);
  state.SetLabel(bench::arch_label(threads));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("peak/fma", bm_peak)->UseRealTime();
  for (int threads : {1, 2})
    for (const auto& s : shapes) {
      const std::string shape = std::string(s.name) + "/" + std::to_string(s.m) + "x" +
                                std::to_string(s.n) + "x" + std::to_string(s.k) + "/t" +
                                std::to_string(threads);
      benchmark::RegisterBenchmark(("gemm/ganad/" + shape).c_str(), bm_ganad, s, threads, Precision::fp32)->UseRealTime()->Unit(benchmark::kMillisecond);
      if (kernels::bf16_supported())
        benchmark::RegisterBenchmark(("gemm/ganad_bf16/" + shape).c_str(), bm_ganad, s, threads, Precision::bf16)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("gemm/eigen/" + shape).c_str(), bm_eigen, s, threads)->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  return bench::run_main(argc, argv);
}
