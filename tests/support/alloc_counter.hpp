// Allocation counting for "allocates nothing in steady state" tests.
#pragma once

#include <cstddef>

#include "ganad/core/tensor.hpp"

namespace ganad::test {
/// Global operator new calls so far (counted in tests/main.cpp).
std::size_t new_calls();
/// Every allocation so far: operator new plus ganad's aligned buffers.
inline std::size_t all_allocations() { return new_calls() + ganad::buffer_allocations(); }
}  // namespace ganad::test
