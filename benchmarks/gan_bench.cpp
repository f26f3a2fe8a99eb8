// One full training iteration of the seed's DCGAN (D on a real and a fake batch, Adam; G
// through the frozen D, Adam) at batch 64, 1 and 2 threads, in fp32 and (where the machine
// has AVX512_BF16) mixed precision: ms per iteration, images/s and
// effective GFLOP/s (32.8 GFLOP per iteration, design.md). Also the peak resident memory and
// ganad buffer allocations per iteration after the first (should be 0).
#include "bench_common.hpp"

#include <sys/resource.h>

namespace {

using namespace ganad;
using DcGan = Gan<models::DcganGenerator<float>, models::DcganDiscriminator<float>>;

void bm_gan_step(benchmark::State& state, int threads, Precision precision) {
  set_num_threads(threads);
  constexpr int batch = 64;
  DcGan gan({.seed = 1, .precision = precision});
  Batch<float, Shape<1, 28, 28>> real(batch);
  Rng rng(2);
  for (float& v : real.flat()) v = float(rng.uniform(-1, 1));
  gan.train_step(real.view());  // warm-up: every buffer is allocated here
  const auto allocs = buffer_allocations();
  std::int64_t iterations = 0;
  for (auto _ : state) {
    gan.train_step(real.view());
    ++iterations;
  }
  bench::report_flops(state, 32.8e9, threads);
  state.counters["images_per_s"] = benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["allocs_per_iter"] = double(buffer_allocations() - allocs) / double(std::max<std::int64_t>(iterations, 1));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["peak_rss_MB"] = double(ru.ru_maxrss) / 1024.0;
  state.SetLabel(bench::arch_label(threads));
}

}  // namespace

int main(int argc, char** argv) {
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("gan/dcgan_step/b64/t" + std::to_string(threads)).c_str(), bm_gan_step, threads, Precision::fp32)
        ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
    if (kernels::bf16_supported())
      benchmark::RegisterBenchmark(("gan/dcgan_step_mixed/b64/t" + std::to_string(threads)).c_str(), bm_gan_step, threads,
                                   Precision::bf16)
          ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
  }
  return bench::run_main(argc, argv);
}
