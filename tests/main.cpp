// Catch2's main, compiled once. Also counts global operator new calls, so that tests can
// assert that a steady-state call allocates nothing (ganad's own buffers are counted by
// ganad::buffer_allocations()).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // replacement new/delete pair malloc/free
#endif

#include <atomic>
#include <cstdlib>
#include <new>

#include "support/alloc_counter.hpp"

namespace ganad::test {
std::atomic<std::size_t> g_new_calls{0};
std::size_t new_calls() { return g_new_calls.load(std::memory_order_relaxed); }
}  // namespace ganad::test

void* operator new(std::size_t n) {
  ganad::test::g_new_calls.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ganad::test::g_new_calls.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
