/// ganad's build configuration: the version and GANAD_ASSERT, the internal precondition
/// check. (The SIMD architecture comes from the compiler flags, read in kernels/simd.hpp;
/// OpenMP from the compiler's -fopenmp, read in kernels/parallel.hpp.)
#pragma once

#define GANAD_VERSION_MAJOR 0
#define GANAD_VERSION_MINOR 2
#define GANAD_VERSION_PATCH 0
#define GANAD_VERSION_STRING "0.2.0"

#include <cstdio>
#include <cstdlib>

// GANAD_ASSERT checks internal preconditions (span sizes, batch sizes inside the library).
// It is on in debug builds and whenever GANAD_ENABLE_ASSERTS is defined (the tests do).
// Errors a user can cause through the public API are exceptions instead (core/error.hpp).
#if !defined(NDEBUG) || defined(GANAD_ENABLE_ASSERTS)
#define GANAD_ASSERT(cond, msg)                                                        \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "ganad: assertion failed: %s (%s) at %s:%d\n", msg, #cond,  \
                   __FILE__, __LINE__);                                                \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
#else
#define GANAD_ASSERT(cond, msg) ((void)0)
#endif

namespace ganad {
inline constexpr const char* version() { return GANAD_VERSION_STRING; }
}  // namespace ganad
