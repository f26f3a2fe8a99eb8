/// Collective: the operations data-parallel training and distributed scoring need from a group
/// of processes ("ranks"), as an interface, so that the GAN and the scorers do not depend on
/// MPI. ganad/distributed/mpi.hpp implements it over MPI; a build without MPI never sees it.
/// Also: splitting rows into per-rank blocks, and gathering the blocks' scores in input order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "ganad/core/samples.hpp"

namespace ganad {

/// A group of ranks that run the same code on different shards of the data. Every call is a
/// collective: all ranks make it, in the same order, with the same lengths.
class Collective {
 public:
  virtual ~Collective() = default;
  /// This process's index in the group, 0 ... size() - 1.
  [[nodiscard]] virtual int rank() const = 0;
  [[nodiscard]] virtual int size() const = 0;
  /// Elementwise sum over the ranks, in place (allreduce). The order of the additions is fixed
  /// by the group's size and the vector's length alone, never by message timing, and every
  /// rank gets the same bits.
  virtual void sum(std::span<float> values) = 0;
  virtual void sum(std::span<double> values) = 0;
  /// Every rank's `mine` (the same length on all), one after another in rank order, to every
  /// rank's `all` (size() x mine.size() values): allgather.
  virtual void all_gather(std::span<const float> mine, std::span<float> all) = 0;
  /// Rank 0's bytes to every rank (broadcast).
  virtual void broadcast(std::span<std::uint8_t> bytes) = 0;
};

/// Rank `rank`'s block when `rows` rows are split into `ranks` contiguous blocks (sizes
/// differ by at most one, the larger first): the blocks in rank order are the rows in order.
struct Block {
  int begin = 0, rows = 0;
};
inline Block block_of(int rows, int rank, int ranks) {
  const int base = rows / ranks, extra = rows % ranks;
  return {rank * base + std::min(rank, extra), base + (rank < extra ? 1 : 0)};
}
inline Block block_of(int rows, const Collective& group) { return block_of(rows, group.rank(), group.size()); }

/// Every rank's scores of its block_of(rows) to every rank, in input order (one allgather).
inline ScoreVector<float> gather_scores(Collective& group, const ScoreVector<float>& mine, int rows) {
  const int p = group.size();
  if (mine.size() != block_of(rows, group).rows)
    throw ShapeError("gather_scores: this rank has " + std::to_string(mine.size()) + " scores; its block of " + std::to_string(rows) +
                     " rows has " + std::to_string(block_of(rows, group).rows));
  const std::size_t widest = std::size_t(block_of(rows, 0, p).rows);
  std::vector<float> padded(widest, 0.f), all(widest * std::size_t(p));
  std::copy_n(mine.data(), mine.size(), padded.begin());
  group.all_gather(padded, all);
  ScoreVector<float> out(rows);
  for (int r = 0; r < p; ++r) {
    const auto b = block_of(rows, r, p);
    std::copy_n(all.data() + std::size_t(r) * widest, b.rows, out.data() + b.begin);
  }
  return out;
}

}  // namespace ganad
