// ganad in a server: (1) batch-1 latency, one image scored on arrival by the seed's D through
// a Detector, p50 and p99 over many calls; (2) throughput of N caller threads scoring at once,
// each with its Detector::replica() and one kernel thread, against one caller. A plain timer
// (percentiles, not Google Benchmark's means); run by scripts/bench service. Prints JSON lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <ganad/ganad.hpp>

namespace {

using namespace ganad;
using DcGan = Gan<models::DcganGenerator<float>, models::DcganDiscriminator<float>>;
using Clock = std::chrono::steady_clock;

RowMatrix<float> random_images(int n, std::uint64_t seed) {
  RowMatrix<float> x(n, 784);
  Rng rng(seed);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = float(rng.uniform(-1, 1));
  return x;
}

void latency(Detector<DcGan, score::Discriminator>& det, int threads, int calls) {
  set_num_threads(threads);
  const auto x = random_images(64, 7);
  for (int i = 0; i < 200; ++i) (void)det.decision_function(x.row(i % 64));  // warm-up: buffers, caches
  std::vector<double> us(static_cast<std::size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    const auto t0 = Clock::now();
    const auto s = det.decision_function(x.row(i % 64));
    us[std::size_t(i)] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (!(s[0] >= 0)) std::abort();
  }
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) { return us[std::size_t(q * double(calls - 1))]; };
  std::printf("{\"bench\": \"latency\", \"impl\": \"ganad\", \"threads\": %d, \"calls\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f}\n", threads,
              calls, at(0.5), at(0.99));
}

/// Images/s of `callers` threads each scoring batches of `batch` for `seconds`, each with its
/// own replica (or all on one Detector, shared = true), kernel_threads OpenMP threads each.
void throughput(Detector<DcGan, score::Discriminator>& det, int callers, int kernel_threads, int batch, bool shared, double seconds) {
  std::vector<Detector<DcGan, score::Discriminator>> replicas;
  if (!shared)
    for (int c = 0; c < callers; ++c) replicas.push_back(det.replica());
  const auto x = random_images(batch, 9);
  std::vector<long> done(std::size_t(callers), 0);
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (int c = 0; c < callers; ++c)
    pool.emplace_back([&, c] {
      set_num_threads(kernel_threads);  // per thread: OpenMP's nthreads-var is each thread's own
      auto& d = shared ? det : replicas[std::size_t(c)];
      while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
        const auto s = d.decision_function(x);
        if (!(s[0] >= 0)) std::abort();
        done[std::size_t(c)] += batch;
      }
    });
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  long images = 0;
  for (long n : done) images += n;
  std::printf("{\"bench\": \"throughput\", \"impl\": \"ganad\", \"callers\": %d, \"kernel_threads\": %d, \"batch\": %d, \"shared\": %s, \"images_per_s\": %.0f}\n",
              callers, kernel_threads, batch, shared ? "true" : "false", double(images) / elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "all";
  const int calls = argc > 2 ? std::atoi(argv[2]) : 5000;
  DcGan gan({.seed = 1});
  Detector det{gan, score::Discriminator()};
  const int default_threads = num_threads();
  if (what == "latency" || what == "all")
    for (int t : {1, default_threads}) latency(det, t, calls);
  if (what == "throughput" || what == "all")
    for (int batch : {1, 16}) {
      throughput(det, 1, 1, batch, false, 2.0);
      throughput(det, 1, default_threads, batch, false, 2.0);
      throughput(det, 4, 1, batch, false, 2.0);
      throughput(det, 4, 1, batch, true, 2.0);
    }
  return 0;
}
