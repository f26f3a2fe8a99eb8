/// The only file with OpenMP. parallel_for splits a loop's items statically over a team of
/// threads, or runs it serially below a minimum amount of work or without OpenMP; it shrinks
/// the team while other processes hold the cores (see TeamSize). Callers split work so that
/// results never depend on the number of threads or on which thread ran an item (gemm.hpp).
/// Every thread of a region runs products in the caller's precision (precision.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>

#include "ganad/kernels/precision.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ganad {

/// Threads the kernels may use (OpenMP's current maximum; 1 without OpenMP).
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Sets the number of threads for later kernel calls on this thread (no-op without OpenMP).
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n < 1 ? 1 : n);
#else
  (void)n;
#endif
}

namespace kernels {

/// Below this many flops (or element operations) a fork/join costs more than it saves.
inline constexpr double parallel_min_work = 32768.0;

namespace detail {

/// The team size under contention. A parallel region ends only when every thread of its team
/// has arrived, so when another process holds a core, a thread of ours that waits for a time
/// slice holds up the whole team: on 2 cores beside one busy process, 2 threads took twice
/// the time of 1. Each region therefore notes, per thread, the time it was runnable but not
/// running (wall time in the region minus its CPU time; with OMP_WAIT_POLICY=passive counted
/// from the thread's own start, since waking it is not time lost). When over two windows of
/// regions in a row more than 15% of the team's time was lost so (an idle machine loses about
/// 1%), the team shrinks by that share (by one thread at least) for the next `backoff`
/// regions, then a window with the full team measures again. The backoff (512 regions at
/// first) doubles while contention lasts (up to 65,536, about ten seconds of training) and
/// halves when the full team loses little: contention comes in bursts, and a quiet window
/// does not mean it has gone. One busy neighbour on a 64-core machine costs a sixty-fourth:
/// no change. The team size never changes results: items are split the same way whatever
/// the number of threads (gemm.hpp).
class TeamSize {
 public:
  static constexpr int max_tracked = 256;
  static constexpr int window = 32;  // regions per measurement
  /// The team for the next region, at most `wanted`.
  int next(int wanted) {
    int left = reduced_left_.load(std::memory_order_relaxed);
    while (left > 0)
      if (reduced_left_.compare_exchange_weak(left, left - 1, std::memory_order_relaxed))
        return std::clamp(reduced_team_.load(std::memory_order_relaxed), 1, wanted);
    return wanted;
  }
  /// What a region of the full team (`wanted` threads) saw: `lost_ns` summed over its threads,
  /// `thread_ns` their wall time in it.
  void observe(int wanted, std::int64_t lost_ns, std::int64_t thread_ns) {
    lost_.fetch_add(lost_ns, std::memory_order_relaxed);
    const std::int64_t spent = spent_.fetch_add(thread_ns, std::memory_order_relaxed) + thread_ns;
    if (regions_.fetch_add(1, std::memory_order_relaxed) + 1 < window) return;
    const double share = double(lost_.exchange(0, std::memory_order_relaxed)) / double(std::max<std::int64_t>(spent, 1));
    spent_.store(0, std::memory_order_relaxed);
    regions_.store(0, std::memory_order_relaxed);
    const int b = backoff_.load(std::memory_order_relaxed);
    if (share <= 0.15) {
      strikes_.store(0, std::memory_order_relaxed);
      backoff_.store(std::max(initial_backoff, b / 2), std::memory_order_relaxed);
      return;
    }
    // On an idle machine one window in twenty loses more than that (the host's own
    // interruptions); two in a row are contention. Once contention was seen, one is.
    if (b == initial_backoff && strikes_.fetch_add(1, std::memory_order_relaxed) == 0) return;
    strikes_.store(0, std::memory_order_relaxed);
    backoff_.store(std::min(2 * b, 65536), std::memory_order_relaxed);
    reduced_team_.store(std::clamp(int(double(wanted) * (1.0 - share)), 1, wanted - 1), std::memory_order_relaxed);
    reduced_left_.store(b, std::memory_order_relaxed);
  }

 private:
  static constexpr int initial_backoff = 512;
  std::atomic<int> reduced_left_{0}, reduced_team_{1}, regions_{0}, backoff_{initial_backoff}, strikes_{0};
  std::atomic<std::int64_t> lost_{0}, spent_{0};
};

inline TeamSize& team_size() {
  static TeamSize t;
  return t;
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
/// Whether OMP_WAIT_POLICY=passive: then every region wakes its threads from sleep, and the
/// wake-up (tens of microseconds) is not time lost to another process.
inline bool passive_wait() {
  static const bool passive = [] {
    const char* v = std::getenv("OMP_WAIT_POLICY");
    return v && (v[0] == 'p' || v[0] == 'P');
  }();
  return passive;
}
/// CPU time this thread has run.
inline std::int64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}


}  // namespace detail

/// Runs f(i) for i in [0, n), split statically over the team when `work` (the whole loop's
/// cost in flops) is large enough. Never nested: an inner call runs serially. f(i) must not
/// depend on which thread runs it, nor on how many there are.
template <class F>
inline void parallel_for(std::ptrdiff_t n, double work, F&& f) {
#if defined(_OPENMP)
  const int wanted = omp_get_max_threads();
  if (n > 1 && work >= parallel_min_work && !omp_in_parallel() && wanted > 1) {
    auto& teams = detail::team_size();
    const int team = int(std::min<std::ptrdiff_t>(teams.next(wanted), n));
    if (team == wanted) {
      std::array<std::int64_t, detail::TeamSize::max_tracked> lost{}, spent{};
      const std::int64_t t0 = detail::now_ns();
      const bool from_entry = detail::passive_wait();
      const Precision precision = product_precision();
#pragma omp parallel num_threads(team)
      {
        const PrecisionScope same_precision(precision);  // the caller's, in every thread
        const int me = omp_get_thread_num();
        const std::int64_t entry = from_entry ? detail::now_ns() : t0, c0 = detail::thread_cpu_ns();
#pragma omp for schedule(static) nowait
        for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
        // From the region's start (or, with passive waiting, this thread's) to the end of its
        // share: what it did not run was lost to another process.
        const std::int64_t wall = detail::now_ns() - entry;
        if (me < detail::TeamSize::max_tracked) {
          spent[std::size_t(me)] = wall;
          lost[std::size_t(me)] = wall - (detail::thread_cpu_ns() - c0);
        }
      }
      std::int64_t lost_sum = 0, spent_sum = 0;
      for (int t = 0; t < std::min(team, detail::TeamSize::max_tracked); ++t) lost_sum += lost[std::size_t(t)], spent_sum += spent[std::size_t(t)];
      teams.observe(wanted, lost_sum, spent_sum);
      return;
    }
    if (team > 1) {
      const Precision precision = product_precision();
#pragma omp parallel num_threads(team)
      {
        const PrecisionScope same_precision(precision);
#pragma omp for schedule(static) nowait
        for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
      }
      return;
    }
  }
#endif
  (void)work;
  for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
}

/// Runs f(i) for i in [0, n) with the items handed out one at a time to whichever thread is
/// free (schedule(dynamic)), whatever the work: for items of uneven cost such as decoding
/// files. f must not throw; each item's result must not depend on which thread ran it.
template <class F>
inline void parallel_for_dynamic(std::ptrdiff_t n, F&& f) {
#if defined(_OPENMP)
  if (n > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
    const Precision precision = product_precision();
#pragma omp parallel
    {
      const PrecisionScope same_precision(precision);
#pragma omp for schedule(dynamic) nowait
      for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
    }
    return;
  }
#endif
  for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
}

}  // namespace kernels
}  // namespace ganad
