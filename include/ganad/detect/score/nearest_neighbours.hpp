/// score::NearestNeighbours: kNN in the discriminator's feature space. The unit-length D
/// features of the normal images given to fit() are the references; a sample's score is the
/// mean Euclidean distance of its unit feature vector to its k nearest references.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ganad/core/random.hpp"
#include "ganad/detect/scorer.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/parallel.hpp"

namespace ganad::score {

struct NearestNeighboursOptions {
  int k = 5;                ///< neighbours averaged
  int max_references = 0;   ///< keep at most this many normal images (a seeded random subset); 0: all
  std::uint64_t seed = 0;   ///< chooses that subset
  bool averaged = true;     ///< features of the averaged D (false: the trained D's last weights)
};

/// The distance is sqrt(2 - 2 cos), so the neighbours are those of cosine similarity. On
/// MNIST 0-4 vs 5-9 it beats every other scorer here (docs/mnist.md); the price is memory,
/// features x references floats (6272 x 27,537 = 690 MB for that split: see
/// max_references), and a product with all references per scored batch. Scores of the fit()
/// data themselves find each image at distance 0 as one of its neighbours. The references are
/// saved with a Detector's model file.
class NearestNeighbours {
 public:
  static constexpr std::string_view name() { return "nearest_neighbours"; }
  explicit NearestNeighbours(NearestNeighboursOptions options = {}) : options_(validated(options)) {}
  [[nodiscard]] const NearestNeighboursOptions& options() const { return options_; }
  [[nodiscard]] bool fitted() const { return references_ > 0; }
  /// Number of reference feature vectors kept by fit(), and their length.
  [[nodiscard]] int references() const { return references_; }
  [[nodiscard]] std::size_t feature_size() const { return features_; }

  template <class Gan>
  void fit(Gan& gan, const Samples<typename Gan::T>& normal) {
    using D = typename Gan::discriminator_type::net_type;
    using Image = typename Gan::image_shape;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    const auto src = normal.template as<Image>("score::NearestNeighbours::fit");
    if (src.rows < options_.k)
      throw ValueError("score::NearestNeighbours::fit: " + std::to_string(src.rows) + " normal images are fewer than k = " +
                       std::to_string(options_.k));
    // The subset: a seeded shuffle of the row indices, first max_references kept, in order.
    std::vector<int> rows(std::size_t(src.rows));
    std::iota(rows.begin(), rows.end(), 0);
    if (options_.max_references > 0 && options_.max_references < src.rows) {
      Rng rng(options_.seed);
      rng.shuffle(rows.begin(), rows.end());
      rows.resize(std::size_t(options_.max_references));
      std::sort(rows.begin(), rows.end());
    }
    const int r_count = int(rows.size());
    const bool subset = r_count < src.rows;
    RowMatrix<typename Gan::T> picked;
    detail::RowSource<typename Gan::T, Image> chosen = src;
    if (subset) {
      picked.resize(r_count, Eigen::Index(Image::size));
      for (int i = 0; i < r_count; ++i) std::copy_n(src.row(rows[std::size_t(i)]), Image::size, picked.row(i).data());
      chosen = {picked.data(), r_count, std::ptrdiff_t(Image::size)};
    }
    auto& d = detail::scoring_discriminator(gan, options_.averaged).net();
    std::vector<float> refs(std::size_t(r_count) * F);  // swapped in at the end: a failed fit changes nothing
    Batch<typename Gan::T, Image> staging;
    detail::scan_in_chunks(chosen, staging, subset ? "score::NearestNeighbours::fit (the chosen subset)" : "score::NearestNeighbours::fit",
                           [&](ConstBatchView<typename Gan::T, Image> chunk, int r0) { unit_features(d, chunk, refs.data() + std::size_t(r0) * F); });
    refs_ = std::move(refs);
    references_ = r_count;
    features_ = F;
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    detail::require_fitted(fitted(), "score::NearestNeighbours");
    if (features_ != F) throw ShapeError("score::NearestNeighbours: fitted on another discriminator's features");
    const int n = x.batch, k = std::min(options_.k, references_);
    if (query_.size() < std::size_t(n) * F) query_.resize(std::size_t(n) * F);
    unit_features(detail::scoring_discriminator(gan, options_.averaged).net(), x, query_.data());
    // Similarities to the references block by block; each row keeps its k largest, sorted.
    const int block = std::min(references_, 4096);
    if (sims_.size() < std::size_t(n) * block) sims_.resize(std::size_t(n) * block);
    best_.assign(std::size_t(n) * k, -2.f);
    for (int r0 = 0; r0 < references_; r0 += block) {
      const int rb = std::min(block, references_ - r0);
      kernels::gemm<float>(kernels::Trans::no, kernels::Trans::yes, n, rb, int(F), 1.f, query_.data(), int(F),
                           refs_.data() + std::size_t(r0) * F, int(F), 0.f, sims_.data(), rb);
      kernels::parallel_for(n, double(n) * rb, [&](std::ptrdiff_t i) {
        float* top = best_.data() + std::size_t(i) * k;
        const float* s = sims_.data() + std::size_t(i) * rb;
        for (int j = 0; j < rb; ++j) {
          if (!(s[j] > top[k - 1])) continue;
          int p = k - 1;
          for (; p > 0 && top[p - 1] < s[j]; --p) top[p] = top[p - 1];
          top[p] = s[j];
        }
      });
    }
    for (int i = 0; i < n; ++i) {
      double sum = 0;
      for (int j = 0; j < k; ++j) sum += std::sqrt(std::max(2.0 - 2.0 * double(best_[std::size_t(i) * k + j]), 0.0));
      out[std::size_t(i)] = typename Gan::T(sum / k);
    }
  }

  [[nodiscard]] std::string describe() const { return "score::NearestNeighbours"; }
  void save_state(ByteWriter& w) const {
    w.put(std::int64_t(options_.k));
    w.put(std::int64_t(options_.max_references));
    w.put(options_.seed);
    w.put(std::uint8_t(options_.averaged));
    w.put(std::uint64_t(features_));
    w.put(std::uint64_t(references_));
    w.put_floats<float>(refs_);
  }
  void load_state(ByteReader& r) {
    NearestNeighboursOptions o;
    o.k = int(r.get<std::int64_t>());
    o.max_references = int(r.get<std::int64_t>());
    o.seed = r.get<std::uint64_t>();
    o.averaged = r.get<std::uint8_t>() != 0;
    const std::size_t features = detail::get_count(r, 0, "score::NearestNeighbours");
    const std::size_t references = detail::get_count(r, std::max<std::size_t>(features, 1) * sizeof(float), "score::NearestNeighbours");
    std::vector<float> refs(features * references);
    r.get_floats<float>(refs);
    options_ = validated(o);
    features_ = features;
    references_ = int(references);
    refs_ = std::move(refs);
  }

 private:
  static NearestNeighboursOptions validated(NearestNeighboursOptions o) {
    if (o.k < 1) throw ValueError("score::NearestNeighbours: k must be at least 1, not " + std::to_string(o.k));
    if (o.max_references < 0) throw ValueError("score::NearestNeighbours: max_references must be 0 (all) or positive");
    return o;
  }
  /// D's features of x in eval mode, each row scaled to unit length, as float.
  template <class Net>
  static void unit_features(Net& d, ConstBatchView<typename Net::scalar_type, typename Net::in_shape> x, float* out) {
    constexpr std::size_t F = detail::feature_shape<Net>::size;
    const auto f = detail::features(d, x);
    for (int i = 0; i < x.batch; ++i) {
      const auto* src = f.data + std::size_t(i) * F;
      double norm2 = 0;
      for (std::size_t c = 0; c < F; ++c) norm2 += double(src[c]) * src[c];
      const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;  // an all-zero vector stays zero
      for (std::size_t c = 0; c < F; ++c) out[std::size_t(i) * F + c] = float(src[c] * inv);
    }
  }

  NearestNeighboursOptions options_;
  int references_ = 0;
  std::size_t features_ = 0;
  std::vector<float> refs_;
  aligned_vector<float> query_, sims_;
  std::vector<float> best_;
};

}  // namespace ganad::score
