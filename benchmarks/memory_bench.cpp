// Resident memory when the data is larger than what one wants to hold: scoring a .npy file
// memory-mapped chunk by chunk (io::MappedNpy) against reading it whole, and training on the
// mapped file. Run by scripts/bench memory; prints JSON lines with peak and final RSS
// (/proc/self/status: VmHWM, RssAnon, RssFile) in MB.
//   memory_bench write PATH ROWS      random 28x28 images as a float32 .npy
//   memory_bench score-mapped PATH    the seed's D through a Detector, 4096 rows at a time
//   memory_bench score-read PATH      the same after io::read_npy (the whole file in memory)
//   memory_bench train-mapped PATH STEPS   Gan::fit on the mapped rows, stopped after STEPS steps
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <ganad/ganad.hpp>
#include <ganad/io/npy.hpp>

namespace {

using namespace ganad;
using DcGan = Gan<models::DcganGenerator<float>, models::DcganDiscriminator<float>>;

double status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::strtod(line.c_str() + key.size() + 1, nullptr) / 1024.0;
  return -1;
}

void report(const std::string& what, const std::string& path, double seconds, double checksum) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  std::printf("{\"bench\": \"memory\", \"what\": \"%s\", \"file_mb\": %.0f, \"seconds\": %.1f, \"peak_rss_mb\": %.0f, "
              "\"rss_anon_mb\": %.0f, \"rss_file_mb\": %.0f, \"checksum\": %.6g}\n",
              what.c_str(), double(f.tellg()) / 1048576.0, seconds, status_mb("VmHWM"), status_mb("RssAnon"), status_mb("RssFile"), checksum);
}

void write(const std::string& path, long rows) {
  std::ostringstream h;
  h << "{'descr': '<f4', 'fortran_order': False, 'shape': (" << rows << ", 1, 28, 28), }";
  std::string header = h.str();
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff) << char(header.size() >> 8) << header;
  Rng rng(5);
  std::vector<float> row(784);
  for (long r = 0; r < rows; ++r) {
    for (float& v : row) v = float(rng.uniform(-1, 1));
    out.write(reinterpret_cast<const char*>(row.data()), std::streamsize(row.size() * sizeof(float)));
  }
  if (!out) throw IoError(path + ": write failed");
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string what = argc > 2 ? argv[1] : "", path = argc > 2 ? argv[2] : "";
  if (what == "write" && argc > 3) {
    write(path, std::atol(argv[3]));
    return 0;
  }
  DcGan gan({.seed = 1});
  Detector det{gan, score::Discriminator()};
  const auto t0 = std::chrono::steady_clock::now();
  double checksum = 0;
  if (what == "score-mapped") {
    const io::MappedNpy file(path);
    file.for_each_chunk(4096, [&](const Samples<float>& chunk, std::int64_t) { checksum += double(det.decision_function(chunk).sum()); });
  } else if (what == "score-read") {
    const auto data = io::read_npy(path);
    checksum = double(det.decision_function(data.x).sum());
  } else if (what == "train-mapped" && argc > 3) {
    const io::MappedNpy file(path);
    const long steps = std::atol(argv[3]);
    const auto p = gan.fit(file.samples(), {.epochs = 1, .batch = 64, .report_every = 1},
                           [&](const FitProgress& fp) { return fp.step < steps; });
    checksum = p.mean.d_loss;
  } else {
    std::fprintf(stderr, "usage: memory_bench write PATH ROWS | score-mapped PATH | score-read PATH | train-mapped PATH STEPS\n");
    return 2;
  }
  report(what, path, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), checksum);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "memory_bench: %s\n", e.what());
  return 1;
}
