// Scoring throughput: the seed's discriminator (1 - D(x)) at batch 64 and 256 (fp32, and
// bf16 products where the machine has AVX512_BF16), and the reconstruction scorer (encoder +
// generator + discriminator passes) at batch 256; 1 and 2 threads, in images/s. benchmarks/pytorch_reference.py times the same under torch.no_grad.
#include "bench_common.hpp"

namespace {

using namespace ganad;
using DcGan = Gan<models::DcganGenerator<float>, models::DcganDiscriminator<float>>;

DcGan& gan() {
  static DcGan g({.seed = 1});
  return g;
}

void bm_discriminator(benchmark::State& state, int batch, int threads, Precision precision) {
  set_num_threads(threads);
  const kernels::PrecisionScope scope(precision);  // score_batch runs in its caller's precision
  Batch<float, Shape<1, 28, 28>> x(batch);
  Rng rng(2);
  for (float& v : x.flat()) v = float(rng.uniform(-1, 1));
  std::vector<float> out(static_cast<std::size_t>(batch));
  for (auto _ : state) {
    gan().discriminator().score_batch(x.view(), DiscriminatorOutput::anomaly_score, out);
    benchmark::DoNotOptimize(out.data());
  }
  bench::report_flops(state, 20.8e6 * batch, threads);
  state.counters["images_per_s"] = benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(bench::arch_label(threads));
}

void bm_reconstruction(benchmark::State& state, int batch, int threads) {
  set_num_threads(threads);
  Batch<float, Shape<1, 28, 28>> x(batch);
  Rng rng(2);
  for (float& v : x.flat()) v = float(rng.uniform(-1, 1));
  static score::Reconstruction<DcGan> rec = [&] {
    score::Reconstruction<DcGan> r({.epochs = 0});  // an untrained encoder costs the same to run
    r.fit(gan(), x.view());
    return r;
  }();
  std::vector<float> out(static_cast<std::size_t>(batch));
  for (auto _ : state) {
    rec.score(gan(), x.view(), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["images_per_s"] = benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(bench::arch_label(threads));
}

}  // namespace

int main(int argc, char** argv) {
  for (int threads : {1, 2}) {
    const std::string t = "/t" + std::to_string(threads);
    for (int batch : {64, 256}) {
      benchmark::RegisterBenchmark(("score/discriminator/b" + std::to_string(batch) + t).c_str(), bm_discriminator, batch, threads,
                                   Precision::fp32)
          ->UseRealTime()->Unit(benchmark::kMillisecond);
      if (kernels::bf16_supported())
        benchmark::RegisterBenchmark(("score/discriminator_bf16/b" + std::to_string(batch) + t).c_str(), bm_discriminator, batch,
                                     threads, Precision::bf16)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("score/reconstruction/b256" + t).c_str(), bm_reconstruction, 256, threads)
        ->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  return bench::run_main(argc, argv);
}
