/// score::NearestNeighbours: kNN anomaly score. Each sample is embedded in a feature space (the
/// input itself, the discriminator's last hidden features, or both side by side), scaled as
/// the options say; the score is the mean Euclidean distance to the k nearest embeddings of
/// the normal samples given to fit() (the references), or to a representative subset of them
/// that fits a memory budget (a greedy k-center coreset).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ganad/core/collective.hpp"
#include "ganad/core/random.hpp"
#include "ganad/detect/scorer.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/parallel.hpp"

namespace ganad::score {

/// Where the neighbours are looked for.
enum class FeatureSpace : std::uint8_t {
  input,                      ///< the samples themselves (no network runs)
  discriminator,              ///< D's features: the output of its last hidden layer
  input_and_discriminator,    ///< both, each part scaled to the same mean squared length
};
/// How each feature space's vectors are scaled before distances are taken.
enum class FeatureScaling : std::uint8_t {
  standardize,  ///< per feature: (v - mean) / sd over the references (sd floored, see below)
  unit_length,  ///< each vector divided by its Euclidean length: cosine neighbours
  none,         ///< as they are
};

/// Which normal samples stay as references when not all of them may (max_references,
/// memory_budget).
enum class ReferenceSubset : std::uint8_t {
  coreset,  ///< greedy k-center on a random projection: each next reference the sample farthest from those kept (PatchCore's coreset)
  random,   ///< a seeded random sample
};

struct NearestNeighboursOptions {
  int k = 5;                ///< neighbours averaged
  FeatureSpace space = FeatureSpace::input_and_discriminator;
  FeatureScaling input_scaling = FeatureScaling::none;                 ///< of the input part
  /// Of D's features; unset: unit_length for images, none for tables (a Flat<N> input).
  std::optional<FeatureScaling> discriminator_scaling = std::nullopt;
  /// With both spaces: the input's share of the mean squared distance between references
  /// (the rest is D's features').
  double input_share = 0.35;
  int max_references = 0;   ///< keep at most this many normal samples; 0: all
  /// Bytes the references may take (each is its embedding plus its squared length in
  /// float); 0: no limit. With max_references, the smaller of the two counts.
  std::size_t memory_budget = 0;
  ReferenceSubset subset = ReferenceSubset::coreset;  ///< how the kept references are chosen
  std::uint64_t seed = 0;   ///< seeds that choice
  bool averaged = true;     ///< features of the averaged D (false: the trained D's last weights)
};

/// The defaults (the input as it is, beside D's features: as they are for tables, scaled to
/// unit length for images) are the library's default scorer, chosen across MNIST, digits,
/// breast cancer and a synthetic table (docs/scoring.md): magnitude is what tables'
/// anomalies differ by, the direction of D's features what tells digits apart. Standardisation divides each feature by its
/// standard deviation over the references, floored at a tenth of the features' root-mean-
/// square deviation so that near-constant features (an image's border pixels) cannot
/// dominate. With both spaces, each part is scaled so that its mean squared length over the
/// references is its share (input_share, 1 - input_share), whatever the parts' sizes. The
/// price is memory, embedding size x references floats (7056 x 27,537 = 777 MB for MNIST
/// 0-4: see max_references), and a product with all references per scored batch. Scores of
/// the fit() data themselves find each sample at distance 0 as one of its neighbours. The
/// references are saved with a Detector's model file.
class NearestNeighbours {
 public:
  static constexpr std::string_view name() { return "nearest_neighbours"; }
  explicit NearestNeighbours(NearestNeighboursOptions options = {}) : options_(validated(options)) {}
  [[nodiscard]] const NearestNeighboursOptions& options() const { return options_; }
  [[nodiscard]] bool fitted() const { return references_ > 0; }
  /// Number of reference vectors kept by fit(), and their length.
  [[nodiscard]] int references() const { return references_; }
  [[nodiscard]] std::size_t feature_size() const { return width_; }
  /// The scaling of D's features in use since fit(): the option, or its default for the data.
  [[nodiscard]] FeatureScaling discriminator_scaling() const { return discriminator_scaling_; }

  /// With a `group` (ShardedNearestNeighbours), `normal` is this rank's shard: the scaling is
  /// the whole data's (the ranks' sums added), the references this shard's.
  template <class Gan>
  void fit(Gan& gan, const Samples<typename Gan::T>& normal, Collective* group = nullptr) {
    using T = typename Gan::T;
    using Image = typename Gan::image_shape;
    const auto src = normal.template as<Image>("score::NearestNeighbours::fit");
    if (src.rows < options_.k)
      throw ValueError("score::NearestNeighbours::fit: " + std::to_string(src.rows) + " normal samples are fewer than k = " +
                       std::to_string(options_.k));
    // Everything is built aside and swapped in at the end: a failed fit changes nothing.
    NearestNeighbours next(options_);
    next.layout<Gan>();
    const std::size_t W = next.width_;
    const int keep = references_allowed(src.rows, W);
    Batch<T, Image> staging;
    std::vector<int> rows(std::size_t(src.rows));
    std::iota(rows.begin(), rows.end(), 0);
    const bool subset = keep < src.rows;
    const bool coreset = subset && options_.subset == ReferenceSubset::coreset;
    if (subset && !coreset) {  // a seeded shuffle of the row indices, the first `keep` kept, in order
      Rng rng(options_.seed);
      rng.shuffle(rows.begin(), rows.end());
      rows.resize(std::size_t(keep));
      std::sort(rows.begin(), rows.end());
    }
    const auto pick = [&](const std::vector<int>& chosen_rows, RowMatrix<T>& into) {
      into.resize(Eigen::Index(chosen_rows.size()), Eigen::Index(Image::size));
      for (std::size_t i = 0; i < chosen_rows.size(); ++i) std::copy_n(src.row(chosen_rows[i]), Image::size, into.row(Eigen::Index(i)).data());
      return detail::RowSource<T, Image>{into.data(), int(chosen_rows.size()), std::ptrdiff_t(Image::size)};
    };
    RowMatrix<T> picked;
    detail::RowSource<T, Image> chosen = subset && !coreset ? pick(rows, picked) : src;
    const char* who = subset ? "score::NearestNeighbours::fit (the chosen subset)" : "score::NearestNeighbours::fit";
    // Pass 1: each feature's mean and variance (in double, rows in order: the same bits on any
    // thread count), from which the scaling follows. A coreset's scaling is the whole data's.
    std::vector<double> sum(W), sum2(W);
    detail::scan_in_chunks(chosen, staging, who, [&](ConstBatchView<T, Image> chunk, int) {
      next.raw_rows(gan, chunk, [&](int, std::size_t offset, const auto* v, std::size_t n) {
        for (std::size_t c = 0; c < n; ++c) sum[offset + c] += double(v[c]), sum2[offset + c] += double(v[c]) * double(v[c]);
      });
    });
    std::vector<double> rows_seen{double(chosen.rows)};
    if (group && group->size() > 1) {
      group->sum(sum);
      group->sum(sum2);
      group->sum(rows_seen);
    }
    next.set_scaling(sum, sum2, rows_seen[0]);
    if (coreset) chosen = pick(next.coreset_rows(gan, chosen, staging, keep), picked);
    // Pass 2: the references' embeddings and squared lengths.
    const int r_count = chosen.rows;
    auto refs = std::make_shared<References>();
    refs->rows.resize(std::size_t(r_count) * W);
    refs->norms.resize(std::size_t(r_count));
    detail::scan_in_chunks(chosen, staging, who, [&](ConstBatchView<T, Image> chunk, int r0) {
      next.embed(gan, chunk, refs->rows.data() + std::size_t(r0) * W, refs->norms.data() + r0);
    });
    next.refs_ = std::move(refs);
    next.references_ = r_count;
    *this = std::move(next);
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    const std::size_t k = std::size_t(std::min(options_.k, references_));
    const auto near = nearest(gan, x);
    for (std::size_t i = 0; i < std::size_t(x.batch); ++i) out[i] = typename Gan::T(mean_distance(near.subspan(i * k, k)));
  }
  /// The score from a row's k smallest squared distances, in ascending order.
  [[nodiscard]] static double mean_distance(std::span<const float> nearest_squared) {
    double sum = 0;
    for (const float d2 : nearest_squared) sum += std::sqrt(double(d2));
    return sum / double(nearest_squared.size());
  }
  /// The k' = min(k, references()) smallest squared distances of each row of x to the
  /// references, ascending: row i's at [i k', (i + 1) k'). Valid until the next call.
  template <class Gan>
  std::span<const float> nearest(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x) {
    detail::require_fitted(fitted(), "score::NearestNeighbours");
    if (input_size_ != (uses_input() ? Gan::image_shape::size : 0) || feature_size_ != (uses_discriminator() ? feature_size_of<Gan>() : 0))
      throw ShapeError("score::NearestNeighbours: fitted on samples or a discriminator of another shape");
    const int n = x.batch, k = std::min(options_.k, references_);
    const std::size_t W = width_;
    // gemm sends a single row to gemv, whose sums run in another order than the tiled
    // kernel's; a copy of the row as a second one keeps the tiled order, so that a sample
    // scores the same alone as in any batch.
    const int rows = std::max(n, 2);
    if (query_.size() < std::size_t(rows) * W) query_.resize(std::size_t(rows) * W);
    if (query_norms_.size() < std::size_t(rows)) query_norms_.resize(std::size_t(rows));
    embed(gan, x, query_.data(), query_norms_.data());
    if (n == 1) std::copy_n(query_.data(), W, query_.data() + W);
    // Squared distances |q|^2 + |r|^2 - 2 q.r to the references block by block; each row
    // keeps its k smallest, sorted.
    const int block = std::min(references_, 4096);
    const kernels::PrecisionScope exact(Precision::fp32);  // distances cancel: bf16 would lose the near ones
    if (products_.size() < std::size_t(rows) * block) products_.resize(std::size_t(rows) * block);
    best_.assign(std::size_t(n) * k, std::numeric_limits<float>::infinity());
    for (int r0 = 0; r0 < references_; r0 += block) {
      const int rb = std::min(block, references_ - r0);
      kernels::gemm<float>(kernels::Trans::no, kernels::Trans::yes, rows, rb, int(W), 1.f, query_.data(), int(W),
                           refs_->rows.data() + std::size_t(r0) * W, int(W), 0.f, products_.data(), rb);
      kernels::parallel_for(n, double(n) * rb, [&](std::ptrdiff_t i) {
        float* top = best_.data() + std::size_t(i) * k;
        const float* p = products_.data() + std::size_t(i) * rb;
        const float qn = query_norms_[std::size_t(i)];
        for (int j = 0; j < rb; ++j) {
          const float d2 = std::max(qn + refs_->norms[std::size_t(r0 + j)] - 2.f * p[j], 0.f);
          if (!(d2 < top[k - 1])) continue;
          int q = k - 1;
          for (; q > 0 && top[q - 1] > d2; --q) top[q] = top[q - 1];
          top[q] = d2;
        }
      });
    }
    return {best_.data(), std::size_t(n) * std::size_t(k)};
  }

  [[nodiscard]] std::string describe() const { return "score::NearestNeighbours"; }
  void save_state(ByteWriter& w) const {
    w.put(std::int64_t(options_.k));
    w.put(std::uint8_t(options_.space));
    w.put(std::uint8_t(options_.input_scaling));
    w.put(std::uint8_t(discriminator_scaling_));
    w.put_float(options_.input_share);
    w.put(std::int64_t(options_.max_references));
    w.put(options_.seed);
    w.put(std::uint8_t(options_.averaged));
    w.put(std::uint64_t(input_size_));
    w.put(std::uint64_t(feature_size_));
    w.put_floats<double>(shift_);
    w.put_floats<double>(scale_);
    w.put(std::uint64_t(references_));
    if (refs_) w.put_floats<float>(refs_->rows);
  }
  void load_state(ByteReader& r) {
    NearestNeighboursOptions o;
    o.k = int(r.get<std::int64_t>());
    const auto space = r.get<std::uint8_t>(), input_scaling = r.get<std::uint8_t>(), discriminator_scaling = r.get<std::uint8_t>();
    if (space > 2 || input_scaling > 2 || discriminator_scaling > 2) throw FormatError("score::NearestNeighbours: unknown feature space or scaling");
    o.space = FeatureSpace(space);
    o.input_scaling = FeatureScaling(input_scaling);
    o.discriminator_scaling = FeatureScaling(discriminator_scaling);  // as resolved by fit()
    o.input_share = r.get_float<double>();
    o.max_references = int(r.get<std::int64_t>());
    o.seed = r.get<std::uint64_t>();
    o.averaged = r.get<std::uint8_t>() != 0;
    NearestNeighbours next(validated(o));
    next.discriminator_scaling_ = *o.discriminator_scaling;
    next.input_size_ = detail::get_count(r, 0, "score::NearestNeighbours");
    next.feature_size_ = detail::get_count(r, 0, "score::NearestNeighbours");
    if ((next.input_size_ > 0) != next.uses_input() || (next.feature_size_ > 0) != next.uses_discriminator() ||
        next.input_size_ > r.remaining() || next.feature_size_ > r.remaining())
      throw FormatError("score::NearestNeighbours: feature sizes do not match the feature space");
    next.width_ = next.input_size_ + next.feature_size_;
    next.shift_.resize(next.width_);
    next.scale_.resize(next.width_);
    r.get_floats<double>(next.shift_);
    r.get_floats<double>(next.scale_);
    const std::size_t references = detail::get_count(r, std::max<std::size_t>(next.width_, 1) * sizeof(float), "score::NearestNeighbours");
    auto refs = std::make_shared<References>();
    refs->rows.resize(next.width_ * references);
    r.get_floats<float>(refs->rows);
    refs->norms.resize(references);
    for (std::size_t i = 0; i < references; ++i) refs->norms[i] = squared_length(refs->rows.data() + i * next.width_, next.width_);
    next.refs_ = std::move(refs);
    next.references_ = int(references);
    *this = std::move(next);
  }

 private:
  static NearestNeighboursOptions validated(NearestNeighboursOptions o) {
    if (o.k < 1) throw ValueError("score::NearestNeighbours: k must be at least 1, not " + std::to_string(o.k));
    if (o.max_references < 0) throw ValueError("score::NearestNeighbours: max_references must be 0 (all) or positive");
    if (std::uint8_t(o.subset) > 1) throw ValueError("score::NearestNeighbours: unknown reference subset");
    if (!(o.input_share >= 0.0 && o.input_share <= 1.0))
      throw ValueError("score::NearestNeighbours: input_share must be in [0, 1], not " + std::to_string(o.input_share));
    if (std::uint8_t(o.space) > 2 || std::uint8_t(o.input_scaling) > 2 || std::uint8_t(o.discriminator_scaling.value_or(FeatureScaling::none)) > 2) throw ValueError("score::NearestNeighbours: unknown feature space or scaling");
    return o;
  }
  /// How many references fit the limits (all rows if none), at least k.
  [[nodiscard]] int references_allowed(int rows, std::size_t width) const {
    int keep = rows;
    if (options_.max_references > 0) keep = std::min(keep, options_.max_references);
    if (options_.memory_budget > 0) {
      const std::size_t per_row = (width + 1) * sizeof(float);
      const std::size_t fits = options_.memory_budget / per_row;
      if (fits < std::size_t(options_.k))
        throw ValueError("score::NearestNeighbours: a memory_budget of " + std::to_string(options_.memory_budget) + " bytes holds " +
                         std::to_string(fits) + " references of " + std::to_string(per_row) + " bytes, fewer than k = " +
                         std::to_string(options_.k));
      keep = int(std::min<std::size_t>(std::size_t(keep), fits));
    }
    return std::max(keep, std::min(rows, options_.k));
  }
  /// Greedy k-center (PatchCore's coreset, Sener and Savarese 2018): the first reference a
  /// seeded random row, each next one the row farthest from all kept so far, distances taken
  /// between embeddings projected to coreset_dims random Gaussian directions. The kept rows, in order.
  static constexpr int coreset_dims = 128;
  template <class Gan>
  std::vector<int> coreset_rows(Gan& gan, const detail::RowSource<typename Gan::T, typename Gan::image_shape>& src,
                                Batch<typename Gan::T, typename Gan::image_shape>& staging, int keep) {
    using T = typename Gan::T;
    using Image = typename Gan::image_shape;
    const std::size_t W = width_, P = coreset_dims;
    const std::size_t N = std::size_t(src.rows);
    aligned_vector<float> directions(P * W), embedded, out, projected(N * P);
    std::vector<float> norms;
    Rng rng(options_.seed);
    const float unit = float(1.0 / std::sqrt(double(P)));
    for (auto& d : directions) d = float(rng.normal()) * unit;
    detail::scan_in_chunks(src, staging, "score::NearestNeighbours::fit (the coreset)", [&](ConstBatchView<T, Image> chunk, int r0) {
      const int rows = std::max(chunk.batch, 2);  // as in score(): the tiled product for every chunk
      embedded.assign(std::size_t(rows) * W, 0.f);
      norms.resize(std::size_t(rows));
      embed(gan, chunk, embedded.data(), norms.data());
      out.resize(std::size_t(rows) * P);
      const kernels::PrecisionScope exact(Precision::fp32);  // the coreset's distances, as score()'s
      kernels::gemm<float>(kernels::Trans::no, kernels::Trans::yes, rows, int(P), int(W), 1.f, embedded.data(), int(W), directions.data(),
                           int(W), 0.f, out.data(), int(P));
      std::copy_n(out.data(), std::size_t(chunk.batch) * P, projected.data() + std::size_t(r0) * P);
    });
    std::vector<float> nearest(N, std::numeric_limits<float>::infinity());
    std::vector<int> kept;
    kept.reserve(std::size_t(keep));
    int next = int(rng.below(std::uint64_t(N)));
    constexpr std::ptrdiff_t span = 256;  // rows per work item: a fixed split, the same bits on any thread count
    const std::ptrdiff_t items = (std::ptrdiff_t(N) + span - 1) / span;
    while (int(kept.size()) < keep) {
      kept.push_back(next);
      const float* c = projected.data() + std::size_t(next) * P;
      kernels::parallel_for(items, double(N) * double(P) * 3, [&](std::ptrdiff_t item) {
        const std::size_t end = std::min(N, std::size_t((item + 1) * span));
        for (std::size_t i = std::size_t(item * span); i < end; ++i) {
          const float* v = projected.data() + i * P;
          float d2 = 0;
          for (std::size_t j = 0; j < P; ++j) d2 += (v[j] - c[j]) * (v[j] - c[j]);
          nearest[i] = std::min(nearest[i], d2);
        }
      });
      next = int(std::max_element(nearest.begin(), nearest.end()) - nearest.begin());  // the first of ties
    }
    std::sort(kept.begin(), kept.end());
    return kept;
  }
  /// The scaling of the part starting at `offset` (0: the input, if used).
  [[nodiscard]] FeatureScaling scaling_of(std::size_t offset) const {
    return offset == 0 && uses_input() ? options_.input_scaling : discriminator_scaling_;
  }
  [[nodiscard]] bool uses_input() const { return options_.space != FeatureSpace::discriminator; }
  [[nodiscard]] bool uses_discriminator() const { return options_.space != FeatureSpace::input; }
  template <class Gan>
  static constexpr std::size_t feature_size_of() {
    return detail::feature_shape<typename Gan::discriminator_type::net_type>::size;
  }
  template <class Gan>
  void layout() {
    discriminator_scaling_ = options_.discriminator_scaling.value_or(Gan::image_shape::is_flat ? FeatureScaling::none : FeatureScaling::unit_length);
    input_size_ = uses_input() ? Gan::image_shape::size : 0;
    feature_size_ = uses_discriminator() ? feature_size_of<Gan>() : 0;
    width_ = input_size_ + feature_size_;
  }
  static float squared_length(const float* v, std::size_t n) {
    double s = 0;
    for (std::size_t c = 0; c < n; ++c) s += double(v[c]) * double(v[c]);
    return float(s);
  }
  /// Calls part(row, offset, values, count) for each row of x and each part of its raw
  /// (unscaled) embedding: the input at offset 0, D's features after it.
  template <class Gan, class Part>
  void raw_rows(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, Part&& part) {
    if (uses_input())
      for (int i = 0; i < x.batch; ++i) part(i, 0, x.data + std::size_t(i) * input_size_, input_size_);
    if (uses_discriminator()) {
      const auto f = detail::features(detail::scoring_discriminator(gan, options_.averaged).net(), x);
      for (int i = 0; i < x.batch; ++i) part(i, input_size_, f.data + std::size_t(i) * feature_size_, feature_size_);
    }
  }
  /// shift_ and scale_ per feature (embedding = (v - shift) * scale) from the references' sums.
  void set_scaling(const std::vector<double>& sum, const std::vector<double>& sum2, double rows) {
    shift_.assign(width_, 0.0);
    scale_.assign(width_, 1.0);
    const double n = rows;
    for (const auto& [offset, size] : {std::pair{std::size_t(0), input_size_}, std::pair{input_size_, feature_size_}}) {
      if (size == 0) continue;
      double part_scale = 1.0;
      const FeatureScaling scaling = scaling_of(offset);
      if (scaling == FeatureScaling::standardize) {
        double mean_var = 0;
        std::vector<double> var(size);
        for (std::size_t c = 0; c < size; ++c) {
          const double m = sum[offset + c] / n;
          var[c] = std::max(sum2[offset + c] / n - m * m, 0.0);
          mean_var += var[c] / double(size);
          shift_[offset + c] = m;
        }
        const double floor = 0.1 * std::sqrt(mean_var);
        double mean_len2 = 0;  // E|(v - m) / sd|^2 over the references
        for (std::size_t c = 0; c < size; ++c) {
          const double sd = std::max(std::sqrt(var[c]), floor);
          scale_[offset + c] = sd > 0 ? 1.0 / sd : 1.0;
          mean_len2 += var[c] * scale_[offset + c] * scale_[offset + c];
        }
        part_scale = mean_len2 > 0 ? 1.0 / std::sqrt(mean_len2) : 1.0;
      } else if (scaling == FeatureScaling::none) {
        double mean_len2 = 0;
        for (std::size_t c = 0; c < size; ++c) mean_len2 += sum2[offset + c] / n;
        part_scale = mean_len2 > 0 ? 1.0 / std::sqrt(mean_len2) : 1.0;
      }  // unit_length: every vector has length 1 (or 0) already
      if (input_size_ == 0 || feature_size_ == 0) part_scale = 1.0;  // one space: distances in its own units
      else part_scale *= std::sqrt(offset == 0 ? options_.input_share : 1.0 - options_.input_share);
      for (std::size_t c = 0; c < size; ++c) scale_[offset + c] *= part_scale;
    }
  }
  /// The scaled embeddings of x (rows of width_ floats) and their squared lengths.
  template <class Gan>
  void embed(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, float* out, float* norms) {
    const std::size_t W = width_;
    raw_rows(gan, x, [&](int i, std::size_t offset, const auto* v, std::size_t n) {
      float* o = out + std::size_t(i) * W + offset;
      double inv = 1.0;
      if (scaling_of(offset) == FeatureScaling::unit_length) {  // an all-zero vector stays zero
        double len2 = 0;
        for (std::size_t c = 0; c < n; ++c) len2 += double(v[c]) * double(v[c]);
        inv = len2 > 0 ? 1.0 / std::sqrt(len2) : 0.0;
      }
      for (std::size_t c = 0; c < n; ++c) o[c] = float((double(v[c]) * inv - shift_[offset + c]) * scale_[offset + c]);
    });
    for (int i = 0; i < x.batch; ++i) norms[i] = squared_length(out + std::size_t(i) * W, W);
  }

  NearestNeighboursOptions options_;
  FeatureScaling discriminator_scaling_ = FeatureScaling::unit_length;  // resolved by fit()
  int references_ = 0;
  std::size_t input_size_ = 0, feature_size_ = 0, width_ = 0;
  std::vector<double> shift_, scale_;  // per feature of the embedding
  /// The references' embeddings (rows of width_) and squared lengths: fixed once fitted,
  /// shared by copies (Detector::replica).
  struct References {
    std::vector<float> rows, norms;
  };
  std::shared_ptr<const References> refs_;
  detail::Scratch<aligned_vector<float>> query_, products_;
  detail::Scratch<std::vector<float>> query_norms_, best_;
};

}  // namespace ganad::score
