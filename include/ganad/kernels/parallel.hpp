/// The only file with OpenMP. parallel_for splits a loop over threads with a static
/// schedule (parallel_for_dynamic hands items out as threads free up), or runs it serially below a minimum amount of work or without OpenMP. Callers
/// split work so that results never depend on the number of threads (see gemm.hpp).
#pragma once

#include <cstddef>

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

/// Runs f(i) for i in [0, n), split statically over the threads when `work` (the whole
/// loop's cost in flops) is large enough. Never nested: an inner call runs serially.
template <class F>
inline void parallel_for(std::ptrdiff_t n, double work, F&& f) {
#if defined(_OPENMP)
  if (n > 1 && work >= parallel_min_work && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void)work;
  for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
}

/// Runs f(i) for i in [0, n) with the items handed out one at a time to whichever thread is
/// free (schedule(dynamic)): for items of uneven cost such as decoding files. f must not
/// throw; each item's result must not depend on which thread ran it.
template <class F>
inline void parallel_for_dynamic(std::ptrdiff_t n, F&& f) {
#if defined(_OPENMP)
  if (n > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(dynamic)
    for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
}

}  // namespace kernels
}  // namespace ganad
