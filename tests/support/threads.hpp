// RAII thread-count guard: sets OpenMP's thread count for a scope and puts the old one back,
// so a test that changes it cannot leak the change into the next (the suite runs in random order).
#pragma once

#include "ganad/kernels/parallel.hpp"

namespace ganad::test {

class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;
  void set(int n) { set_num_threads(n); }

 private:
  int saved_;
};

}  // namespace ganad::test
