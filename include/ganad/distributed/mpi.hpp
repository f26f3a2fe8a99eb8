/// ganad over MPI: Session (MPI's lifetime, and a failing rank ending the whole job),
/// Communicator (ganad::Collective over an MPI communicator: a ring allreduce whose order of
/// additions is fixed, its time and bytes counted). Optional: link the CMake target ganad::mpi.
#pragma once

#include "ganad/kernels/simd.hpp"  // first: before anything includes <immintrin.h> (simd.hpp says why)

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ganad/core/collective.hpp"
#include "ganad/core/error.hpp"

namespace ganad::mpi {

/// An MPI call failed (the message names the call and MPI's reason).
struct DistributedError : Error {
  using Error::Error;
};

namespace detail {
inline void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw DistributedError(std::string("MPI: ") + what + " failed: " + std::string(text, std::size_t(length)));
}
template <class T>
MPI_Datatype datatype() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, int>) return MPI_INT;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return MPI_UINT8_T;
  else static_assert(sizeof(T) == 0, "ganad::mpi: no MPI datatype for this type");
}
}  // namespace detail

/// True when an MPI launcher (mpirun, mpiexec, Slurm's srun) started this process: then a
/// program built with MPI runs data-parallel, else as one process without calling MPI at all.
inline bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

/// What the allreduce has cost since the last reset: calls, bytes this rank sent, seconds.
struct ReductionStats {
  std::int64_t calls = 0;
  std::uint64_t bytes_sent = 0;
  double seconds = 0;
};

/// ganad::Collective over an MPI communicator (MPI_COMM_WORLD by default). MPI errors become
/// DistributedError instead of MPI's default abort.
class Communicator final : public Collective {
 public:
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    detail::check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  }
  [[nodiscard]] int rank() const override { return rank_; }
  [[nodiscard]] int size() const override { return size_; }
  [[nodiscard]] MPI_Comm comm() const { return comm_; }

  /// Vectors of up to small_sum_bytes: an allgather, then every rank adds the ranks' vectors
  /// in rank order (log p message rounds instead of the ring's 2 (p - 1)). Longer ones: the ring.
  static constexpr std::size_t small_sum_bytes = 4096;
  void sum(std::span<float> values) override { allreduce(values); }
  void sum(std::span<double> values) override { allreduce(values); }
  void all_gather(std::span<const float> mine, std::span<float> all) override {
    if (all.size() != mine.size() * std::size_t(size_)) throw ValueError("mpi::Communicator::all_gather: `all` must hold size() x mine.size() values");
    detail::check(MPI_Allgather(mine.data(), int(mine.size()), MPI_FLOAT, all.data(), int(mine.size()), MPI_FLOAT, comm_), "MPI_Allgather");
  }
  void broadcast(std::span<std::uint8_t> bytes) override {
    if (size_ == 1) return;
    std::uint64_t length = bytes.size();
    detail::check(MPI_Bcast(&length, 1, MPI_UINT64_T, 0, comm_), "MPI_Bcast");
    if (length != bytes.size())
      throw DistributedError("mpi::Communicator::broadcast: rank " + std::to_string(rank_) + " expects " + std::to_string(bytes.size()) +
                             " bytes, rank 0 sends " + std::to_string(length) + " (do all ranks build the same model?)");
    detail::check(MPI_Bcast(bytes.data(), int(bytes.size()), MPI_UINT8_T, 0, comm_), "MPI_Bcast");
  }
  void barrier() { detail::check(MPI_Barrier(comm_), "MPI_Barrier"); }

  [[nodiscard]] const ReductionStats& reduction_stats() const { return stats_; }
  void reset_reduction_stats() { stats_ = {}; }

 private:
  /// Ring allreduce (reduce-scatter, then allgather; Patarasuk and Yuan 2009): each rank sends
  /// 2 (p - 1) / p of the values, whatever p. Chunk c's sum starts at rank c and adds ranks
  /// c + 1, c + 2, ... in ring order: fixed by p alone, and every rank receives those bits.
  template <class T>
  void allreduce(std::span<T> v) {
    if (size_ == 1 || v.empty()) return;
    const double t0 = MPI_Wtime();
    if (v.size_bytes() <= small_sum_bytes) gathered_sum(v);
    else ring_allreduce(v);
    ++stats_.calls;
    stats_.seconds += MPI_Wtime() - t0;
  }
  template <class T>
  void gathered_sum(std::span<T> v) {
    const std::size_t n = v.size(), p = std::size_t(size_);
    auto& all = scratch_for<T>();
    if (all.size() < n * p) all.resize(n * p);
    detail::check(MPI_Allgather(v.data(), int(n), detail::datatype<T>(), all.data(), int(n), detail::datatype<T>(), comm_),
                  "MPI_Allgather (sum)");
    for (std::size_t j = 0; j < n; ++j) {
      T acc = all[j];
      for (std::size_t r = 1; r < p; ++r) acc += all[r * n + j];
      v[j] = acc;
    }
    stats_.bytes_sent += v.size_bytes() * (p - 1);  // at least: each rank's vector reaches p - 1 others
  }
  template <class T>
  void ring_allreduce(std::span<T> v) {
    const int p = size_;
    const std::size_t n = v.size();
    auto begin = [&](int c) { return n * std::size_t(c) / std::size_t(p); };
    auto chunk = [&](int c) { return std::pair{begin(c), begin(c + 1) - begin(c)}; };
    const int right = (rank_ + 1) % p, left = (rank_ + p - 1) % p;
    auto& scratch = scratch_for<T>();
    if (scratch.size() < n / std::size_t(p) + 1) scratch.resize(n / std::size_t(p) + 1);
    const MPI_Datatype type = detail::datatype<T>();
    for (int s = 0; s < p - 1; ++s) {  // reduce-scatter
      const auto [so, sn] = chunk(((rank_ - s) % p + p) % p);
      const auto [ro, rn] = chunk(((rank_ - s - 1) % p + p) % p);
      detail::check(MPI_Sendrecv(v.data() + so, int(sn), type, right, 0, scratch.data(), int(rn), type, left, 0, comm_, MPI_STATUS_IGNORE),
                    "MPI_Sendrecv (allreduce)");
      for (std::size_t j = 0; j < rn; ++j) v[ro + j] = scratch[j] + v[ro + j];
      stats_.bytes_sent += sn * sizeof(T);
    }
    for (int s = 0; s < p - 1; ++s) {  // allgather of the summed chunks
      const auto [so, sn] = chunk(((rank_ + 1 - s) % p + p) % p);
      const auto [ro, rn] = chunk(((rank_ - s) % p + p) % p);
      detail::check(MPI_Sendrecv(v.data() + so, int(sn), type, right, 1, v.data() + ro, int(rn), type, left, 1, comm_, MPI_STATUS_IGNORE),
                    "MPI_Sendrecv (allreduce)");
      stats_.bytes_sent += sn * sizeof(T);
    }
  }
  template <class T>
  std::vector<T>& scratch_for() {
    if constexpr (std::is_same_v<T, float>) return scratch_f_;
    else return scratch_d_;
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  ReductionStats stats_;
  std::vector<float> scratch_f_;
  std::vector<double> scratch_d_;
};

/// MPI's lifetime: MPI_Init_thread in the constructor (OpenMP threads inside a rank; MPI
/// called from the main thread only), MPI_Finalize in the destructor. A rank that fails must
/// not finalize while the others wait in a collective: run() and an exception leaving the
/// Session's scope call MPI_Abort, and the launcher then ends every rank.
class Session {
 public:
  Session(int& argc, char**& argv) {
    int provided = 0;
    detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    world_.emplace(MPI_COMM_WORLD);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (std::uncaught_exceptions() > 0) abort(1);
    MPI_Finalize();
  }
  [[nodiscard]] Communicator& world() { return *world_; }

  /// Runs f() and returns its exit code (0 if it returns void). An exception prints
  /// "rank R: what" to stderr and aborts the whole job with exit code 1: no rank is left
  /// waiting for this one in a collective.
  template <class F>
  int run(F&& f) {
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        f();
        return 0;
      } else {
        return int(f());
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rank %d of %d: %s\n", world_->rank(), world_->size(), e.what());
      abort(1);
    }
    return 1;
  }
  /// Ends every rank of the job now, with this exit code.
  [[noreturn]] void abort(int code) {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  std::optional<Communicator> world_;
};

}  // namespace ganad::mpi
