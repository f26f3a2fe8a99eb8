/// Anomaly scorers: small types with score(gan, batch, out) (higher = more anomalous) and,
/// where they learn something from normal data, fit(gan, normal). Detector drives them;
/// new scorers plug in without touching the GAN.
///   score::Discriminator    1 - D(x), the seed's score (or -logit, without ties)
///   score::FeatureMatching  distance of D's last hidden features to the normal data's
///   score::NearestNeighbours  distance to the k nearest normal images in D's feature space
///   score::Reconstruction   f-AnoGAN's izi_f: an encoder E trained after the GAN, scoring
///                           ||x - G(E(x))||^2 / n + kappa ||f(x) - f(G(E(x)))||^2 / n_f
///   score::Weighted         a weighted sum of standardised scores of other scorers
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <numeric>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ganad/core/bytes.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/random.hpp"
#include "ganad/gan/discriminator.hpp"
#include "ganad/gan/input.hpp"
#include "ganad/gan/metrics.hpp"
#include "ganad/kernels/gemm.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/layers/activations.hpp"
#include "ganad/layers/dense.hpp"
#include "ganad/nn/optim.hpp"
#include "ganad/nn/sequential.hpp"

namespace ganad {

namespace detail {
/// Index of D's last hidden layer: the one before the final Dense<1>.
template <class D>
inline constexpr std::size_t feature_layer = D::depth - 2;
template <class D>
using feature_shape = typename D::template layer_type<feature_layer<D>>::out_shape;

template <class S, class Gan>
concept FittableScorer = requires(S& s, Gan& g, ConstBatchView<typename Gan::T, typename Gan::image_shape> x) {
  s.fit(g, x);
};

/// Sequential<T, In, Specs[0..n-2]..., Extra...>: a network with its last layer replaced.
template <class Net, class... Extra>
struct replace_last;
template <class T, class In, class... Specs, class... Extra>
struct replace_last<Sequential<T, In, Specs...>, Extra...> {
  template <std::size_t... I>
  static auto make(std::index_sequence<I...>)
      -> Sequential<T, In, std::tuple_element_t<I, std::tuple<Specs...>>..., Extra...>;
  using type = decltype(make(std::make_index_sequence<sizeof...(Specs) - 1>{}));
};
}  // namespace detail

namespace score {

/// The seed's score, 1 - D(x) = sigmoid(-logit), from the averaged discriminator unless
/// averaged = false; raw = true gives -logit (same order, no ties from float saturation).
struct Discriminator {
  bool raw = false;
  bool averaged = true;  ///< score with Gan::averaged_discriminator() (false: the trained D's last weights)
  static constexpr std::string_view name() { return "discriminator"; }
  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    auto& d = averaged ? gan.averaged_discriminator() : gan.discriminator();
    if (raw) d.negative_logit(x, out);
    else d.anomaly_score(x, out);
  }
};

/// Diagonal Mahalanobis distance of D's last hidden features (eval mode) to their mean over
/// the normal data: mean_d (f_d - mu_d)^2 / (var_d + eps).
struct FeatureMatching {
  double eps = 1e-3;
  static constexpr std::string_view name() { return "feature_matching"; }

  template <class Gan>
  void fit(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> normal) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    std::vector<double> sum(F, 0.0), sum2(F, 0.0);
    auto& d = gan.discriminator().net();
    detail::EvalScope<D> eval(d);
    Batch<typename Gan::T, typename Gan::image_shape> staging;
    detail::scan_in_chunks(detail::rows_of(normal), staging, "FeatureMatching::fit", [&](auto chunk, int) {
      d.forward(chunk);
      const auto f = d.template layer_output<detail::feature_layer<D>>();
      for (int n = 0; n < chunk.batch; ++n)
        for (std::size_t k = 0; k < F; ++k) {
          const double v = f.data[std::size_t(n) * F + k];
          sum[k] += v;
          sum2[k] += v * v;
        }
    });
    mean_.resize(F);
    inv_var_.resize(F);
    for (std::size_t k = 0; k < F; ++k) {
      mean_[k] = sum[k] / normal.batch;
      inv_var_[k] = 1.0 / (std::max(sum2[k] / normal.batch - mean_[k] * mean_[k], 0.0) + eps);
    }
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    if (mean_.size() != F) throw Error("score::FeatureMatching: call fit() (or Detector::fit) on normal data first");
    auto& d = gan.discriminator().net();
    detail::EvalScope<D> eval(d);
    d.forward(x);
    const auto f = d.template layer_output<detail::feature_layer<D>>();
    for (int n = 0; n < x.batch; ++n) {
      double s = 0;
      for (std::size_t k = 0; k < F; ++k) {
        const double dv = f.data[std::size_t(n) * F + k] - mean_[k];
        s += dv * dv * inv_var_[k];
      }
      out[std::size_t(n)] = typename Gan::T(s / F);
    }
  }

  std::vector<double> mean_, inv_var_;
};

/// Settings of NearestNeighbours.
struct NearestNeighboursOptions {
  int k = 5;                  ///< neighbours averaged
  int max_references = 0;     ///< keep at most this many normal images (a seeded random subset); 0: all
  std::uint64_t seed = 0;     ///< chooses that subset
};

/// kNN in the discriminator's feature space: D's last hidden features (eval mode) of every
/// normal image given to fit() are kept, normalised to unit length; a sample's score is the
/// mean Euclidean distance of its unit feature vector to the k nearest of them
/// (sqrt(2 - 2 cos), so the neighbours are those of cosine similarity). On MNIST 0-4 vs 5-9
/// this beats every other scorer here (docs/mnist.md); the price is memory, features x
/// references floats (6272 x 27,537 = 690 MB for that split: see max_references), and a
/// product with all references per scored batch. Scores of the fit() data themselves find
/// each image at distance 0 as one of its neighbours. It is not saved with the model: after
/// load(), fit() it again on the same normal data (one forward pass of D over it) and it
/// scores exactly as before.
class NearestNeighbours {
 public:
  static constexpr std::string_view name() { return "nearest_neighbours"; }
  explicit NearestNeighbours(NearestNeighboursOptions options = {}) : options_(options) {
    if (options_.k < 1) throw ValueError("score::NearestNeighbours: k must be at least 1, not " + std::to_string(options_.k));
    if (options_.max_references < 0) throw ValueError("score::NearestNeighbours: max_references must be 0 (all) or positive");
  }
  [[nodiscard]] const NearestNeighboursOptions& options() const { return options_; }
  /// Number of reference feature vectors kept by fit(), and their length.
  [[nodiscard]] int references() const { return references_; }
  [[nodiscard]] std::size_t feature_size() const { return features_; }

  template <class Gan>
  void fit(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> normal) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    if (normal.batch < options_.k)
      throw ValueError("score::NearestNeighbours::fit: " + std::to_string(normal.batch) + " normal images are fewer than k = " +
                       std::to_string(options_.k));
    // The subset: a seeded shuffle of the row indices, first max_references kept, in order.
    std::vector<int> rows(std::size_t(normal.batch));
    std::iota(rows.begin(), rows.end(), 0);
    if (options_.max_references > 0 && options_.max_references < normal.batch) {
      Rng rng(options_.seed);
      rng.shuffle(rows.begin(), rows.end());
      rows.resize(std::size_t(options_.max_references));
      std::sort(rows.begin(), rows.end());
    }
    const int r_count = int(rows.size());
    using Image = typename Gan::image_shape;
    Batch<typename Gan::T, Image> picked, staging;
    ConstBatchView<typename Gan::T, Image> source = normal;
    if (r_count < normal.batch) {
      picked.resize(r_count);
      for (int i = 0; i < r_count; ++i)
        kernels::copy(Image::size, normal.sample(rows[std::size_t(i)]), picked.data() + std::size_t(i) * Image::size);
      source = picked.view();
    }
    std::vector<float> refs(std::size_t(r_count) * F);  // swapped in at the end: a failed fit changes nothing
    detail::scan_in_chunks(detail::rows_of(source), staging,
                           r_count < normal.batch ? "score::NearestNeighbours::fit (the chosen subset)" : "score::NearestNeighbours::fit",
                           [&](ConstBatchView<typename Gan::T, Image> chunk, int r0) {
                             unit_features(gan, chunk, refs.data() + std::size_t(r0) * F);
                           });
    refs_ = std::move(refs);
    references_ = r_count;
    features_ = F;
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    if (references_ == 0 || features_ != F)
      throw Error("score::NearestNeighbours: call fit() (or Detector::fit) on normal data first");
    const int n = x.batch, k = std::min(options_.k, references_);
    if (query_.size() < std::size_t(n) * F) query_.resize(std::size_t(n) * F);
    unit_features(gan, x, query_.data());
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

 private:
  /// D's last hidden features of x in eval mode, each row scaled to unit length, as float.
  template <class Gan>
  static void unit_features(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, float* out) {
    using D = typename Gan::discriminator_type::net_type;
    constexpr std::size_t F = detail::feature_shape<D>::size;
    auto& d = gan.discriminator().net();
    detail::EvalScope<D> eval(d);
    d.forward(x);
    const auto f = d.template layer_output<detail::feature_layer<D>>();
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

/// Encoder training settings (f-AnoGAN trains izi_f with Adam, lr 2e-4, beta1 0.5).
struct ReconstructionOptions {
  double kappa = 1.0;  ///< weight of the feature residual
  int epochs = 10;
  int batch = 64;
  AdamOptions adam{};
  std::uint64_t seed = 1;
  Init init = Init::pytorch;
};

/// What Reconstruction::fit reports after each epoch.
struct EncoderProgress {
  int epoch = 0, epochs = 0;
  double loss = 0;          ///< mean training loss over the epoch
  double seconds = 0;
};

/// The encoder Reconstruction uses unless told otherwise: D's body (every layer but the last)
/// followed by Dense<latent> and Tanh.
template <class Gan>
using DefaultEncoder = typename detail::replace_last<typename Gan::discriminator_type::net_type,
                                                     Dense<int(Gan::latent_shape::size)>, Tanh>::type;

/// f-AnoGAN's izi_f: E maps x to z; loss and score are
/// ||x - G(E(x))||^2 / n + kappa ||f(x) - f(G(E(x)))||^2 / n_f, f = D's last hidden layer,
/// with G and D frozen (eval mode). Scoring is one pass of E, G and D: no latent search.
template <class Gan, class Encoder = DefaultEncoder<Gan>>
class Reconstruction {
  using T = typename Gan::T;
  using Image = typename Gan::image_shape;
  using Latent = typename Gan::latent_shape;
  using D = typename Gan::discriminator_type::net_type;
  using G = typename Gan::generator_type;
  using Feature = detail::feature_shape<D>;
  static_assert(std::is_same_v<typename Encoder::in_shape, Image> && std::is_same_v<typename Encoder::out_shape, Latent>,
                "score::Reconstruction: the encoder must map the GAN's images to its latent shape");

 public:
  using scalar_type = T;
  static constexpr std::string_view name() { return "reconstruction"; }
  explicit Reconstruction(ReconstructionOptions options = {})
      : options_(options), encoder_({options.seed, options.init}), adam_(Encoder::param_count, options.adam) {}

  [[nodiscard]] Encoder& encoder() { return encoder_; }
  [[nodiscard]] const ReconstructionOptions& options() const { return options_; }

  /// Trains the encoder on normal data; calls on_epoch(const EncoderProgress&) after each epoch.
  template <class Callback>
  void fit(Gan& gan, ConstBatchView<T, Image> normal, Callback&& on_epoch) {
    if (normal.batch < 1) throw ShapeError("Reconstruction::fit: no training data");
    Rng rng(options_.seed ^ 0x5bd1e995ULL);
    std::vector<int> order(std::size_t(normal.batch));
    const auto start = std::chrono::steady_clock::now();
    batch_.resize(std::min(options_.batch, normal.batch));
    for (int epoch = 1; epoch <= options_.epochs; ++epoch) {
      std::iota(order.begin(), order.end(), 0);
      rng.shuffle(order.begin(), order.end());
      double total = 0;
      for (int b0 = 0; b0 < normal.batch; b0 += options_.batch) {
        const int nb = std::min(options_.batch, normal.batch - b0);
        for (int i = 0; i < nb; ++i)
          std::copy_n(normal.sample(order[std::size_t(b0 + i)]), Image::size, batch_.data() + std::size_t(i) * Image::size);
        total += train_step(gan, ConstBatchView<T, Image>{batch_.data(), nb}) * nb;
      }
      on_epoch(EncoderProgress{epoch, options_.epochs, total / normal.batch,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
  }
  void fit(Gan& gan, ConstBatchView<T, Image> normal) {
    fit(gan, normal, [](const EncoderProgress&) {});
  }

  /// One Adam step of E on a batch; returns the batch's mean loss.
  double train_step(Gan& gan, ConstBatchView<T, Image> x) {
    auto& g = gan.generator();
    auto& d = gan.discriminator().net();
    detail::EvalScope<G> g_eval(g);
    detail::EvalScope<D> d_eval(d);
    const int n = x.batch;
    encoder_.train();
    const auto z = encoder_.forward(x);
    const auto xr = g.forward(z);
    const double loss = residuals(d, x, xr, n, true);
    // d(loss)/d(xr): pixel part, plus the feature part backpropagated through D (frozen).
    dxr_.resize(n);
    d.template backward_from<detail::feature_layer<D>>(xr, dfeat_.view(), dxr_.view(), ParamGrads::skip);
    kernels::axpy<T>(std::size_t(n) * Image::size, T(1), dpix_.data(), dxr_.data());
    dz_.resize(n);
    g.backward(z, dxr_.view(), dz_.view(), ParamGrads::skip);
    encoder_.zero_grads();
    encoder_.backward(x, dz_.view(), {});
    adam_.step(encoder_.params(), encoder_.grads());
    return loss;
  }

  template <class GanT>
  void score(GanT& gan, ConstBatchView<T, Image> x, std::span<T> out) {
    auto& g = gan.generator();
    auto& d = gan.discriminator().net();
    detail::EvalScope<G> g_eval(g);
    detail::EvalScope<D> d_eval(d);
    detail::EvalScope<Encoder> e_eval(encoder_);
    const auto xr = g.forward(encoder_.forward(x));
    residuals(d, x, xr, x.batch, false, out);
  }

  /// |x - G(E(x))| per pixel, same shape as x (one row per sample).
  RowMatrix<T> anomaly_map(Gan& gan, const RowsRef<T>& rows) {
    const auto src = detail::rows_of<T, Image>(rows, "anomaly_map");
    RowMatrix<T> out(src.rows, Eigen::Index(Image::size));
    auto& g = gan.generator();
    detail::EvalScope<G> g_eval(g);
    detail::EvalScope<Encoder> e_eval(encoder_);
    detail::scan_in_chunks(src, staging_, "anomaly_map", [&](ConstBatchView<T, Image> chunk, int r0) {
      const auto xr = g.forward(encoder_.forward(chunk));
      for (std::size_t i = 0; i < chunk.size(); ++i) out.data()[std::size_t(r0) * Image::size + i] = std::abs(chunk.data[i] - xr.data[i]);
    });
    return out;
  }
  /// G(E(x)) for one chunk (eval mode); a view into G's buffer.
  ConstBatchView<T, Image> reconstruct(Gan& gan, ConstBatchView<T, Image> x) {
    auto& g = gan.generator();
    detail::EvalScope<G> g_eval(g);
    detail::EvalScope<Encoder> e_eval(encoder_);
    return g.forward(encoder_.forward(x));
  }

  /// Saved with the GAN through save(bundle(gan, scorer), path).
  [[nodiscard]] std::string describe() const { return "Reconstruction encoder: " + Encoder::describe(); }
  void save_state(ByteWriter& w) const {
    encoder_.save_state(w);
    auto& a = const_cast<Adam<T>&>(adam_);
    w.put(std::int64_t(a.steps()));
    w.put_floats<T>(a.first_moment());
    w.put_floats<T>(a.second_moment());
  }
  void load_state(ByteReader& r) {
    encoder_.load_state(r);
    adam_.step_count() = r.get<std::int64_t>();
    r.get_floats<T>(adam_.first_moment());
    r.get_floats<T>(adam_.second_moment());
  }

 private:
  /// Per-sample loss into out (if given); with gradients, fills dpix_ and dfeat_ for the
  /// batch-mean loss. Leaves D's last forward on xr (backward_from needs it).
  double residuals(D& d, ConstBatchView<T, Image> x, ConstBatchView<T, Image> xr, int n, bool gradients,
                   std::span<T> out = {}) {
    constexpr std::size_t P = Image::size, F = Feature::size;
    fx_.resize(n);
    d.forward(x);
    kernels::copy(std::size_t(n) * F, d.template layer_output<detail::feature_layer<D>>().data, fx_.data());
    d.forward(xr);
    const auto fxr = d.template layer_output<detail::feature_layer<D>>();
    if (gradients) {
      dpix_.resize(n);
      dfeat_.resize(n);
    }
    const double kappa = options_.kappa;
    double total = 0;
    for (int s = 0; s < n; ++s) {
      double pix = 0, feat = 0;
      for (std::size_t i = 0; i < P; ++i) {
        const double r = double(xr.data[std::size_t(s) * P + i]) - x.data[std::size_t(s) * P + i];
        pix += r * r;
        if (gradients) dpix_.data()[std::size_t(s) * P + i] = T(2.0 * r / (double(P) * n));
      }
      for (std::size_t k = 0; k < F; ++k) {
        const double r = double(fxr.data[std::size_t(s) * F + k]) - fx_.data()[std::size_t(s) * F + k];
        feat += r * r;
        if (gradients) dfeat_.data()[std::size_t(s) * F + k] = T(2.0 * kappa * r / (double(F) * n));
      }
      const double l = pix / P + kappa * feat / F;
      if (!out.empty()) out[std::size_t(s)] = T(l);
      total += l;
    }
    return total / n;
  }

  ReconstructionOptions options_;
  Encoder encoder_;
  Adam<T> adam_;
  Batch<T, Image> batch_, dxr_, dpix_, staging_;
  Batch<T, Latent> dz_;
  Batch<T, Feature> fx_, dfeat_;
};

/// A weighted sum of standardised scores: sum_i w_i (s_i - mean_i) / sd_i, with mean_i and
/// sd_i taken on the normal data given to fit(). Weights are set by the user, or fitted on a
/// labelled validation set by fit_weights (a grid over the simplex, maximising AUROC).
template <class... Scorers>
class Weighted {
  static constexpr std::size_t N = sizeof...(Scorers);

 public:
  static constexpr std::string_view name() { return "weighted"; }
  explicit Weighted(Scorers... s) : scorers_(std::move(s)...) {
    weights_.fill(1.0 / N);
    sd_.fill(1.0);
  }

  void set_weights(std::array<double, N> w) { weights_ = w; }
  [[nodiscard]] const std::array<double, N>& weights() const { return weights_; }
  template <std::size_t I>
  auto& scorer() { return std::get<I>(scorers_); }

  template <class Gan>
  void fit(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> normal) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((fit_one<I>(gan, normal)), ...);
    }(std::make_index_sequence<N>{});
  }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    const auto parts = components(gan, x);
    for (int n = 0; n < x.batch; ++n) {
      double s = 0;
      for (std::size_t i = 0; i < N; ++i) s += weights_[i] * parts[i][std::size_t(n)];
      out[std::size_t(n)] = typename Gan::T(s);
    }
  }

  /// Chooses weights on a grid over the simplex (step 1/steps) maximising AUROC on labelled
  /// validation data (labels 1 = anomaly); returns that AUROC.
  template <class Gan>
  double fit_weights(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<const int> labels,
                     int steps = 10) {
    std::array<std::vector<double>, N> parts;
    for (auto& p : parts) p.clear();
    Batch<typename Gan::T, typename Gan::image_shape> staging;
    detail::scan_in_chunks(detail::rows_of(x), staging, "Weighted::fit_weights", [&](auto chunk, int) {
      const auto c = components(gan, chunk);
      for (std::size_t i = 0; i < N; ++i) parts[i].insert(parts[i].end(), c[i].begin(), c[i].end());
    });
    double best = -1;
    std::array<double, N> w{}, best_w = weights_;
    std::vector<double> s(labels.size());
    auto search = [&](auto&& self, std::size_t i, int left) -> void {
      if (i + 1 == N) {
        w[i] = double(left) / steps;
        for (std::size_t n = 0; n < s.size(); ++n) {
          s[n] = 0;
          for (std::size_t k = 0; k < N; ++k) s[n] += w[k] * parts[k][n];
        }
        const double a = metrics::auroc<double>(s, labels);
        if (a > best) best = a, best_w = w;
        return;
      }
      for (int k = 0; k <= left; ++k) {
        w[i] = double(k) / steps;
        self(self, i + 1, left - k);
      }
    };
    search(search, 0, steps);
    weights_ = best_w;
    return best;
  }

 private:
  template <std::size_t I, class Gan>
  void fit_one(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> normal) {
    auto& s = std::get<I>(scorers_);
    if constexpr (detail::FittableScorer<std::remove_cvref_t<decltype(s)>, Gan>) s.fit(gan, normal);
    std::vector<typename Gan::T> out(std::size_t(normal.batch));
    Batch<typename Gan::T, typename Gan::image_shape> staging;
    detail::scan_in_chunks(detail::rows_of(normal), staging, "Weighted::fit", [&](auto chunk, int r0) {
      s.score(gan, chunk, std::span(out).subspan(std::size_t(r0), std::size_t(chunk.batch)));
    });
    double m = 0, m2 = 0;
    for (auto v : out) m += v, m2 += double(v) * v;
    m /= out.size();
    mean_[I] = m;
    sd_[I] = std::sqrt(std::max(m2 / out.size() - m * m, 1e-24));
  }
  template <class Gan>
  std::array<std::vector<double>, N> components(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x) {
    std::array<std::vector<double>, N> parts;
    std::vector<typename Gan::T> out(std::size_t(x.batch));
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((std::get<I>(scorers_).score(gan, x, std::span(out)),
        parts[I].assign(out.begin(), out.end()),
        std::for_each(parts[I].begin(), parts[I].end(), [&](double& v) { v = (v - mean_[I]) / sd_[I]; })),
       ...);
    }(std::make_index_sequence<N>{});
    return parts;
  }

  std::tuple<Scorers...> scorers_;
  std::array<double, N> weights_{}, mean_{}, sd_{};
};

}  // namespace score
}  // namespace ganad
