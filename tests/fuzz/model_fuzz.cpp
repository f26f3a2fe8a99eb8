// libFuzzer target for the model loader: any bytes must load (when they are a model file of
// this architecture) or give a ganad::Error, never a crash, a hang or an out-of-bounds access,
// and a failed load must leave the model as it was. An input whose last byte is odd loses that
// byte and gets a valid checksum in its last 8, so that the fuzzer reaches the payload's parsing
// (kNN reference counts, scorer options, thresholds) instead of stopping at the checksum.
// With GANAD_FUZZ_SEED_DIR set, it first writes a valid detector file there as a seed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

// Only the headers it needs, and Dense-only networks: Debian 12's clang 14, the one with
// libFuzzer, does not take the floating-point template arguments of the activation and
// BatchNorm layers (a C++20 feature from clang 18 on). The loader's code is the same.
#include "ganad/kernels/simd.hpp"  // first: see its note on <immintrin.h>
#include "ganad/detect/detector.hpp"
#include "ganad/detect/score/nearest_neighbours.hpp"
#include "ganad/gan/gan.hpp"
#include "ganad/io/model_file.hpp"
#include "ganad/layers/dense.hpp"

namespace {
using G = ganad::Sequential<float, ganad::Flat<2>, ganad::Dense<4>, ganad::Dense<4>>;
using D = ganad::Sequential<float, ganad::Flat<4>, ganad::Dense<3>, ganad::Dense<1>>;
using SmallGan = ganad::Gan<G, D>;
}  // namespace

namespace {
SmallGan gan({.seed = 1, .fixed_noise = 2});
ganad::Detector det{gan, ganad::score::NearestNeighbours({.k = 2})};
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("GANAD_FUZZ_SEED_DIR")) {
    SmallGan trained({.seed = 2, .fixed_noise = 2});
    ganad::Detector seed{trained, ganad::score::NearestNeighbours({.k = 2})};
    const ganad::RowMatrix<float> x = ganad::RowMatrix<float>::Random(24, 4);
    trained.fit(x, {.epochs = 1, .batch = 8});
    seed.fit(x);
    seed.calibrate(x, {.quantile = 0.9});
    const auto bytes = ganad::detail::model_file_bytes(seed);
    std::ofstream(std::string(dir) + "/detector.ganad", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                                               std::streamsize(bytes.size()));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<unsigned char> bytes(data, data + size);
  if (size > 8 && (data[size - 1] & 1)) {  // drop that byte, make the checksum right
    bytes.pop_back();
    const std::uint64_t h = ganad::fnv1a64(std::span<const unsigned char>(bytes).first(bytes.size() - 8));
    for (int b = 0; b < 8; ++b) bytes[bytes.size() - 8 + std::size_t(b)] = (unsigned char)(h >> (8 * b));
  }
  ganad::ByteWriter before;
  det.save_state(before);
  try {
    ganad::detail::load_image(det, bytes, "fuzz");
  } catch (const ganad::Error&) {
    ganad::ByteWriter after;
    det.save_state(after);
    if (after.bytes() != before.bytes()) std::abort();  // a failed load changed the model
  }
  return 0;
}
