/// score::ShardedNearestNeighbours: the kNN score with its references split over the ranks of a
/// Collective, so that the reference set can exceed one machine's memory. Each rank keeps the
/// embeddings of its own shard of the normal data; to score, every rank finds each sample's k
/// nearest among its references and the ranks merge their lists (a distributed top-k).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ganad/core/collective.hpp"
#include "ganad/detect/score/nearest_neighbours.hpp"

namespace ganad::score {

/// Every rank makes the same calls with the same samples to score (each fits on its own
/// shard). The scores equal NearestNeighbours' on all the shards' rows together, up to the
/// last bits of the scaling (its sums are added rank by rank; with FeatureScaling::none on one
/// feature space the bits are equal). max_references and memory_budget hold per rank.
class ShardedNearestNeighbours {
 public:
  static constexpr std::string_view name() { return "sharded_nearest_neighbours"; }
  explicit ShardedNearestNeighbours(Collective& group, NearestNeighboursOptions options = {}) : group_(&group), local_(options) {}

  [[nodiscard]] const NearestNeighbours& local() const { return local_; }
  [[nodiscard]] bool fitted() const { return local_.fitted(); }

  /// `normal_shard`: this rank's share of the normal data (at least k rows on every rank).
  template <class Gan>
  void fit(Gan& gan, const Samples<typename Gan::T>& normal_shard) {
    local_.fit(gan, normal_shard, group_);
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    const int k = local_.options().k;
    const int kl = std::min(k, local_.references());
    const std::size_t n = std::size_t(x.batch), p = std::size_t(group_->size());
    // Each rank's k nearest per row, padded to k with +infinity where its shard has fewer.
    mine_.assign(n * std::size_t(k), std::numeric_limits<float>::infinity());
    const auto near = local_.nearest(gan, x);
    for (std::size_t i = 0; i < n; ++i) std::copy_n(near.data() + i * std::size_t(kl), kl, mine_.data() + i * std::size_t(k));
    all_.resize(p * mine_.size());
    group_->all_gather(mine_, all_);
    // Merge the ranks' ascending lists: the k smallest of p x k, ascending.
    merged_.resize(p * std::size_t(k));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t r = 0; r < p; ++r)
        std::copy_n(all_.data() + (r * n + i) * std::size_t(k), k, merged_.data() + r * std::size_t(k));
      std::partial_sort(merged_.begin(), merged_.begin() + k, merged_.end());
      int found = k;
      while (found > 0 && !(merged_[std::size_t(found) - 1] < std::numeric_limits<float>::infinity())) --found;
      if (found == 0) throw ValueError("score::ShardedNearestNeighbours: no references on any rank");
      out[i] = typename Gan::T(NearestNeighbours::mean_distance(std::span<const float>(merged_.data(), std::size_t(found))));
    }
  }

  [[nodiscard]] std::string describe() const {
    return "score::ShardedNearestNeighbours | rank " + std::to_string(group_->rank()) + " of " + std::to_string(group_->size());
  }
  /// This rank's shard: each rank writes its own file and reads it back on as many ranks.
  void save_state(ByteWriter& w) const {
    w.put(std::int64_t(group_->rank()));
    w.put(std::int64_t(group_->size()));
    local_.save_state(w);
  }
  void load_state(ByteReader& r) {
    const auto rank = r.get<std::int64_t>(), size = r.get<std::int64_t>();
    if (rank != group_->rank() || size != group_->size())
      throw FormatError("score::ShardedNearestNeighbours: the file holds rank " + std::to_string(rank) + " of " + std::to_string(size) +
                        "'s references; this is rank " + std::to_string(group_->rank()) + " of " + std::to_string(group_->size()));
    local_.load_state(r);
  }

 private:
  Collective* group_;
  NearestNeighbours local_;
  std::vector<float> mine_, all_, merged_;
};

}  // namespace ganad::score
