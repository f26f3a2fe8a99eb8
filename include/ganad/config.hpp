/// ganad's build configuration: version, run-time precondition checks, and the switches
/// (OpenMP, SIMD architecture) that the kernels read. Included by every ganad header.
#pragma once

#define GANAD_VERSION_MAJOR 0
#define GANAD_VERSION_MINOR 1
#define GANAD_VERSION_PATCH 0
#define GANAD_VERSION_STRING "0.1.0"

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
