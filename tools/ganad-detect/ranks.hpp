// Running ganad-detect and the MNIST example under mpirun: built with ganad::mpi (GANAD_WITH_MPI)
// and started by an MPI launcher, a program runs as one rank of a job; otherwise as one process
// that never calls MPI. Rank 0 ("the leader") prints and writes files; every rank trains.
#pragma once

#include "ganad/ganad.hpp"
#if defined(GANAD_WITH_MPI)
#include "ganad/distributed/mpi.hpp"
#endif

namespace ganad_detect {

/// This process's place in the job: one process is rank 0 of 1, without a group.
struct Ranks {
  ganad::Collective* group = nullptr;
  [[nodiscard]] int rank() const { return group ? group->rank() : 0; }
  [[nodiscard]] int size() const { return group ? group->size() : 1; }
  [[nodiscard]] bool leader() const { return rank() == 0; }
  [[nodiscard]] bool distributed() const { return size() > 1; }
};

/// Runs body(Ranks&) -> exit code as one rank of an MPI job when launched by mpirun/srun, else
/// as one process. Under MPI a non-zero code or an exception on any rank ends the whole job
/// (MPI_Abort): no rank is left waiting in a collective for one that gave up.
template <class Body>
int run_ranks(int argc, char** argv, Body&& body) {
#if defined(GANAD_WITH_MPI)
  if (ganad::mpi::launched_by_mpi()) {
    ganad::mpi::Session session(argc, argv);
    Ranks ranks{&session.world()};
    const int rc = session.run([&] { return body(ranks); });
    if (rc != 0) session.abort(rc);
    return 0;
  }
#else
  (void)argc, (void)argv;
#endif
  Ranks one;
  return body(one);
}

}  // namespace ganad_detect
