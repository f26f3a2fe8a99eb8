// Each layer of the seed's DCGAN alone: forward, and forward + backward as training runs it
// (parameter gradients, and the input gradient except for G's first layer, whose input is
// noise), at batch 64; the discriminator's layers also forward at batch 256. 1 and 2 threads.
// benchmarks/pytorch_reference.py times the same layers in PyTorch; scripts/bench prints both.
#include "bench_common.hpp"

#include <string>

namespace {

using namespace ganad;

/// Forward flops: 2 x batch x weights x positions each weight is applied at.
template <class L>
double forward_flops(int batch) {
  using In = typename L::in_shape;
  using Out = typename L::out_shape;
  double positions = 1.0;  // Dense
  if constexpr (L::name() == std::string_view("Conv2D")) positions = double(Out::height) * Out::width;
  if constexpr (L::name() == std::string_view("ConvTranspose2D")) positions = double(In::height) * In::width;
  return 2.0 * batch * double(L::weight_count) * positions;
}

template <class Net>
void bm_layer(benchmark::State& state, int batch, bool with_backward, bool needs_dx, int threads) {
  using In = typename Net::in_shape;
  using Out = typename Net::out_shape;
  using L = typename Net::template layer_type<0>;
  set_num_threads(threads);
  Net net({.seed = 1, .scheme = Init::dcgan});
  Batch<float, In> x(batch), dx(batch);
  Batch<float, Out> dy(batch);
  Rng rng(2);
  for (float& v : x.flat()) v = float(rng.uniform(-1, 1));
  for (float& v : dy.flat()) v = float(rng.uniform(-1, 1)) * 1e-3f;
  BatchView<float, In> dxv = needs_dx ? dx.view() : BatchView<float, In>{};
  // Warm-up, untimed (as pytorch_reference.py's): the first call allocates the layer's
  // buffers, and a fresh huge page can cost milliseconds (compaction) on these machines.
  net.forward(x.view());
  if (with_backward) net.backward(x.view(), dy.view(), dxv);
  for (auto _ : state) {
    net.forward(x.view());
    if (with_backward) net.backward(x.view(), dy.view(), dxv);
    benchmark::ClobberMemory();
  }
  // The weight and data gradients each cost as much as the forward.
  const double flops = forward_flops<L>(batch) * (with_backward ? (needs_dx ? 3.0 : 2.0) : 1.0);
  bench::report_flops(state, flops, threads);
  state.SetLabel(bench::arch_label(threads));
}

template <class Net>
void add(const char* name, bool needs_dx, bool discriminator) {
  for (int threads : {1, 2}) {
    const std::string t = "/t" + std::to_string(threads);
    benchmark::RegisterBenchmark((std::string("layer/") + name + "/b64/fwd" + t).c_str(),
                                 [=](benchmark::State& s) { bm_layer<Net>(s, 64, false, needs_dx, threads); })
        ->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("layer/") + name + "/b64/fwdbwd" + t).c_str(),
                                 [=](benchmark::State& s) { bm_layer<Net>(s, 64, true, needs_dx, threads); })
        ->UseRealTime()->Unit(benchmark::kMillisecond);
    if (discriminator)
      benchmark::RegisterBenchmark((std::string("layer/") + name + "/b256/fwd" + t).c_str(),
                                   [=](benchmark::State& s) { bm_layer<Net>(s, 256, false, needs_dx, threads); })
          ->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  add<Sequential<float, Flat<100>, Dense<7 * 7 * 256>>>("dense_100_12544", false, false);
  add<Sequential<float, Shape<256, 7, 7>, ConvTranspose2D<128, 4, Stride<2>, Same>>>("convT_256_128_k4s2", true, false);
  add<Sequential<float, Shape<128, 14, 14>, ConvTranspose2D<64, 4, Stride<2>, Same>>>("convT_128_64_k4s2", true, false);
  add<Sequential<float, Shape<64, 28, 28>, ConvTranspose2D<1, 7, Stride<1>, Same>>>("convT_64_1_k7s1", true, false);
  add<Sequential<float, Shape<1, 28, 28>, Conv2D<64, 5, Stride<2>, Same>>>("conv_1_64_k5s2", true, true);
  add<Sequential<float, Shape<64, 14, 14>, Conv2D<128, 5, Stride<2>, Same>>>("conv_64_128_k5s2", true, true);
  add<Sequential<float, Flat<6272>, Dense<1>>>("dense_6272_1", true, true);
  return bench::run_main(argc, argv);
}
