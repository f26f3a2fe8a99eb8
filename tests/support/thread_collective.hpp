// ThreadCollective: ganad::Collective for ranks that are threads of one process, so that the
// data-parallel code (Gan::distribute, ShardedNearestNeighbours) runs in the unit tests and
// under the sanitizers without MPI. A sum adds the ranks' vectors in rank order.
#pragma once

#include <algorithm>
#include <barrier>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ganad/core/collective.hpp"

namespace ganad::test {

/// What the ranks of one group share: a barrier and one slot per rank.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), sync_(size), floats_(std::size_t(size)), doubles_(std::size_t(size)), bytes_(std::size_t(size)) {}
  /// Runs body(Collective&) on `size` threads, one per rank, and waits for them.
  void run(const std::function<void(Collective&)>& body);

 private:
  friend class ThreadCollective;
  int size_;
  std::barrier<> sync_;
  std::vector<std::vector<float>> floats_;
  std::vector<std::vector<double>> doubles_;
  std::vector<std::vector<std::uint8_t>> bytes_;
};

class ThreadCollective final : public Collective {
 public:
  ThreadCollective(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  [[nodiscard]] int rank() const override { return rank_; }
  [[nodiscard]] int size() const override { return group_.size_; }
  void sum(std::span<float> v) override { sum_in_rank_order(group_.floats_, v); }
  void sum(std::span<double> v) override { sum_in_rank_order(group_.doubles_, v); }
  void all_gather(std::span<const float> mine, std::span<float> all) override {
    group_.floats_[std::size_t(rank_)].assign(mine.begin(), mine.end());
    group_.sync_.arrive_and_wait();
    for (std::size_t r = 0; r < group_.floats_.size(); ++r) std::copy_n(group_.floats_[r].data(), mine.size(), all.data() + r * mine.size());
    group_.sync_.arrive_and_wait();
  }
  void broadcast(std::span<std::uint8_t> bytes) override {
    if (rank_ == 0) group_.bytes_[0].assign(bytes.begin(), bytes.end());
    group_.sync_.arrive_and_wait();
    if (group_.bytes_[0].size() != bytes.size()) throw std::logic_error("ThreadCollective::broadcast: lengths differ");
    if (rank_ != 0) std::copy(group_.bytes_[0].begin(), group_.bytes_[0].end(), bytes.begin());
    group_.sync_.arrive_and_wait();
  }

 private:
  template <class T>
  void sum_in_rank_order(std::vector<std::vector<T>>& slots, std::span<T> v) {
    slots[std::size_t(rank_)].assign(v.begin(), v.end());
    group_.sync_.arrive_and_wait();
    for (std::size_t j = 0; j < v.size(); ++j) {
      T acc = slots[0][j];
      for (std::size_t r = 1; r < slots.size(); ++r) acc += slots[r][j];
      v[j] = acc;
    }
    group_.sync_.arrive_and_wait();  // nobody overwrites a slot before every rank has read it
  }
  ThreadGroup& group_;
  int rank_;
};

inline void ThreadGroup::run(const std::function<void(Collective&)>& body) {
  std::vector<std::thread> ranks;
  for (int r = 0; r < size_; ++r)
    ranks.emplace_back([this, r, &body] {
      ThreadCollective rank(*this, r);
      body(rank);
    });
  for (auto& t : ranks) t.join();
}

}  // namespace ganad::test
