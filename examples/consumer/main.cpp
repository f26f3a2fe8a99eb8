// Uses ganad from outside its source tree: trains a tiny network a few SGD steps on one
// batch and exits non-zero unless the loss went down.
#include <cstdio>
#include <ganad/ganad.hpp>

using namespace ganad;
using Net = Sequential<float, Flat<4>, Dense<16>, Tanh, Dense<1>>;

int main() {
  Net net({.seed = 1});
  Batch<float, Flat<4>> x(32);
  Batch<float, Flat<1>> target(32), grad(32);
  Rng rng(2);
  for (int n = 0; n < 32; ++n) {
    float s = 0;
    for (int i = 0; i < 4; ++i) s += (x.data()[n * 4 + i] = float(rng.uniform(-1, 1)));
    target.data()[n] = s / 4;
  }
  auto loss = [&] {
    const auto y = net.forward(x.view());
    float l = 0;
    for (int n = 0; n < 32; ++n) {
      grad.data()[n] = (y.data[n] - target.data()[n]) / 32;
      l += 0.5f * (y.data[n] - target.data()[n]) * (y.data[n] - target.data()[n]) / 32;
    }
    return l;
  };
  const float first = loss();
  for (int step = 0; step < 200; ++step) {
    loss();
    net.zero_grads();
    net.backward(x.view(), grad.view(), {});
    for (std::size_t i = 0; i < Net::param_count; ++i) net.params()[i] -= 0.5f * net.grads()[i];
  }
  const float last = loss();
  std::printf("ganad %s (%s): loss %.5f -> %.5f\n", version(), simd_arch_name(), first, last);
  return last < 0.5f * first ? 0 : 1;
}
