// A data-parallel training job in which rank 1 fails at step 3: it throws ("throw") or is
// killed ("die"). Without the whole job ending, rank 0 would wait in the gradient allreduce of
// step 3 forever; tests/mpi/expect_job_ends.cmake checks that the job ends, with an error, fast.
#include <csignal>
#include <cstdio>
#include <string>

#include "ganad/distributed/mpi.hpp"
#include "ganad/ganad.hpp"
#include "support/small_gan.hpp"

int main(int argc, char** argv) {
  ganad::mpi::Session mpi(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "throw";
  return mpi.run([&] {
    auto& world = mpi.world();
    ganad::test::SmallGan gan({.seed = 1});
    gan.distribute(&world);
    const auto batch = ganad::test::blobs(4, std::uint64_t(world.rank()));
    for (int step = 1; step <= 1000000; ++step) {  // hours, unless the job ends
      if (world.rank() == 1 && step == 3) {
        if (mode == "die") std::raise(SIGKILL);
        throw ganad::ValueError("fault_main: rank 1 fails at step 3, as asked");
      }
      gan.train_step(batch.view());
    }
    std::puts("fault_main: training finished, which it must not");
    return 0;
  });
}
