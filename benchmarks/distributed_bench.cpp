// Data-parallel training throughput: GAN steps of a global batch on random images, one process
// (run it plainly, OMP_NUM_THREADS threads) or one rank of an MPI job (run it under mpirun, each
// rank its share of the batch), and the gradient allreduce's time and bytes per step. A plain
// timer; prints one JSON line (rank 0). Run by scripts/bench distributed; docs/distributed.md.
//   distributed_bench [seed|rgb64] [steps] [global batch]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ganad/distributed/mpi.hpp>
#include <ganad/ganad.hpp>

namespace {

using namespace ganad;
using Clock = std::chrono::steady_clock;

template <class GanT>
int bench(const char* model, int steps, int global, Collective* group, mpi::Communicator* comm) {
  using Image = typename GanT::image_shape;
  GanT gan({.seed = 1});
  gan.distribute(group);
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const auto mine = block_of(global, rank, ranks);
  Batch<float, Image> x(mine.rows);
  Rng rng(100 + std::uint64_t(rank));
  for (float& v : x.flat()) v = float(rng.uniform(-1, 1));
  for (int s = 0; s < 3; ++s) gan.train_step(x.view());  // warm-up: buffers, caches
  if (comm) comm->reset_reduction_stats();
  std::vector<double> ms;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = Clock::now();
    gan.train_step(x.view());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  // Every rank's step ends with the same collective: rank 0's times are the job's.
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const auto stats = comm ? comm->reduction_stats() : mpi::ReductionStats{};
  if (rank == 0)
    std::printf("{\"bench\": \"distributed_step\", \"model\": \"%s\", \"ranks\": %d, \"threads\": %d, \"global_batch\": %d, \"steps\": %d, "
                "\"median_ms\": %.2f, \"images_per_s\": %.1f, \"allreduce_ms_per_step\": %.3f, \"allreduce_bytes_per_step\": %.0f, "
                "\"allreduce_calls_per_step\": %.1f, \"g_params\": %zu, \"d_params\": %zu}\n",
                model, ranks, num_threads(), global, steps, median, 1000.0 * global / median, 1000.0 * stats.seconds / steps,
                double(stats.bytes_sent) / steps, double(stats.calls) / steps, GanT::generator_type::param_count,
                GanT::discriminator_type::net_type::param_count);
  return 0;
}

int run(int argc, char** argv, Collective* group, mpi::Communicator* comm) {
  const std::string model = argc > 1 ? argv[1] : "seed";
  const int steps = argc > 2 ? std::stoi(argv[2]) : 20;
  const int global = argc > 3 ? std::stoi(argv[3]) : 64;
  if (model == "seed") return bench<Gan<models::DcganGenerator<float>, models::DcganDiscriminator<float>>>("seed DCGAN 28x28", steps, global, group, comm);
  if (model == "rgb64") return bench<models::GanFor<float, Shape<3, 64, 64>>>("DCGAN 64x64 RGB", steps, global, group, comm);
  std::fprintf(stderr, "distributed_bench: unknown model '%s' (seed or rgb64)\n", model.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (!mpi::launched_by_mpi()) return run(argc, argv, nullptr, nullptr);
  mpi::Session session(argc, argv);
  return session.run([&] { return run(argc, argv, &session.world(), &session.world()); });
}
