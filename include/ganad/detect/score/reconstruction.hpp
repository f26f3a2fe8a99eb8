/// score::Reconstruction: f-AnoGAN's izi_f. An encoder E, trained after the GAN on normal
/// data with G and D frozen, maps x to z; the score is how far G(E(x)) lies from x, in pixels
/// and in D's features. Also gives reconstructions and per-pixel anomaly maps.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ganad/core/random.hpp"
#include "ganad/detect/scorer.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/layers/activations.hpp"
#include "ganad/layers/dense.hpp"
#include "ganad/nn/optim.hpp"

namespace ganad::score {

/// Encoder training settings (f-AnoGAN trains izi_f with Adam, lr 2e-4, beta1 0.5).
struct ReconstructionOptions {
  double kappa = 1.0;         ///< weight of the feature residual
  int epochs = 10;            ///< encoder training epochs over the normal data
  int batch = 64;             ///< encoder training batch size
  AdamOptions adam{};         ///< the encoder's optimizer
  std::uint64_t seed = 1;     ///< the encoder's initial weights and shuffling
  Init init = Init::pytorch;  ///< the encoder's weight initialisation
  bool averaged = true;       ///< G with the averaged D's features (false: the trained D's last weights)
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
/// ||x - G(E(x))||^2 / n + kappa ||f(x) - f(G(E(x)))||^2 / n_f, f = D's features, with G and
/// D frozen (eval mode). Scoring is one pass of E, G and D: no latent search.
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
      : options_(validated(options)), encoder_({options.seed, options.init}), adam_(Encoder::param_count, options.adam) {}

  [[nodiscard]] Encoder& encoder() { return encoder_; }
  [[nodiscard]] const ReconstructionOptions& options() const { return options_; }
  [[nodiscard]] bool fitted() const { return fitted_; }

  /// Trains the encoder on normal data; calls on_epoch(const EncoderProgress&) after each epoch.
  template <class Callback>
  void fit(Gan& gan, const Samples<T>& samples, Callback&& on_epoch) {
    const auto normal = samples.template as<Image>("score::Reconstruction::fit");
    if (normal.rows < 1) throw ShapeError("score::Reconstruction::fit: no training data");
    detail::check_finite(normal, 0, normal.rows, "score::Reconstruction::fit");
    Rng rng(options_.seed ^ 0x5bd1e995ULL);
    std::vector<int> order(std::size_t(normal.rows));
    const auto start = std::chrono::steady_clock::now();
    batch_.resize(std::min(options_.batch, normal.rows));
    for (int epoch = 1; epoch <= options_.epochs; ++epoch) {
      std::iota(order.begin(), order.end(), 0);
      rng.shuffle(order.begin(), order.end());
      double total = 0;
      for (int b0 = 0; b0 < normal.rows; b0 += options_.batch) {
        const int nb = std::min(options_.batch, normal.rows - b0);
        for (int i = 0; i < nb; ++i)
          std::copy_n(normal.row(order[std::size_t(b0 + i)]), Image::size, batch_.data() + std::size_t(i) * Image::size);
        total += train_step(gan, ConstBatchView<T, Image>{batch_.data(), nb}) * nb;
      }
      on_epoch(EncoderProgress{epoch, options_.epochs, total / normal.rows,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
    fitted_ = true;  // epochs = 0 asks for the untrained encoder, and gets it
  }
  void fit(Gan& gan, const Samples<T>& normal) {
    fit(gan, normal, [](const EncoderProgress&) {});
  }

  /// One Adam step of E on a batch; returns the batch's mean loss.
  double train_step(Gan& gan, ConstBatchView<T, Image> x) {
    auto& g = gan.generator();
    auto& d = detail::scoring_discriminator(gan, options_.averaged).net();
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

  void score(Gan& gan, ConstBatchView<T, Image> x, std::span<T> out) {
    detail::require_fitted(fitted_, "score::Reconstruction");
    auto& g = gan.generator();
    auto& d = detail::scoring_discriminator(gan, options_.averaged).net();
    detail::EvalScope<G> g_eval(g);
    detail::EvalScope<D> d_eval(d);
    detail::EvalScope<Encoder> e_eval(encoder_);
    const auto xr = g.forward(encoder_.forward(x));
    residuals(d, x, xr, x.batch, false, out);
  }

  /// G(E(x)) per row (eval mode), same shape as x.
  RowMatrix<T> reconstruct(Gan& gan, const Samples<T>& x) { return map_rows(gan, x, "score::Reconstruction::reconstruct", false); }
  /// |x - G(E(x))| per pixel (an anomaly map), same shape as x.
  RowMatrix<T> anomaly_map(Gan& gan, const Samples<T>& x) { return map_rows(gan, x, "score::Reconstruction::anomaly_map", true); }

  [[nodiscard]] std::string describe() const { return "score::Reconstruction, encoder " + Encoder::describe(); }
  void save_state(ByteWriter& w) const {
    w.put_float(options_.kappa);
    w.put(std::int64_t(options_.epochs));
    w.put(std::int64_t(options_.batch));
    for (double v : {options_.adam.lr, options_.adam.beta1, options_.adam.beta2, options_.adam.eps, options_.adam.weight_decay}) w.put_float(v);
    w.put(options_.seed);
    w.put(std::uint8_t(options_.init));
    w.put(std::uint8_t(options_.averaged));
    w.put(std::uint8_t(fitted_));
    encoder_.save_state(w);
    adam_.save_state(w);
  }
  void load_state(ByteReader& r) {
    ReconstructionOptions o;
    o.kappa = r.get_float<double>();
    o.epochs = int(r.get<std::int64_t>());
    o.batch = int(r.get<std::int64_t>());
    for (double* v : {&o.adam.lr, &o.adam.beta1, &o.adam.beta2, &o.adam.eps, &o.adam.weight_decay}) *v = r.get_float<double>();
    o.seed = r.get<std::uint64_t>();
    o.init = Init(r.get<std::uint8_t>());
    o.averaged = r.get<std::uint8_t>() != 0;
    const bool fitted = r.get<std::uint8_t>() != 0;
    Adam<T> adam(Encoder::param_count, o.adam);
    encoder_.load_state(r);
    adam.load_state(r);
    options_ = validated(o);
    adam_ = std::move(adam);
    fitted_ = fitted;
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

  static ReconstructionOptions validated(ReconstructionOptions o) {
    if (!(o.kappa >= 0) || o.epochs < 0 || o.batch < 1)
      throw ValueError("score::Reconstruction: need kappa >= 0, epochs >= 0 and batch >= 1");
    return o;
  }
  RowMatrix<T> map_rows(Gan& gan, const Samples<T>& x, const char* who, bool residual) {
    detail::require_fitted(fitted_, "score::Reconstruction");
    const auto src = x.template as<Image>(who);
    RowMatrix<T> out(src.rows, Eigen::Index(Image::size));
    auto& g = gan.generator();
    detail::EvalScope<G> g_eval(g);
    detail::EvalScope<Encoder> e_eval(encoder_);
    detail::scan_in_chunks(src, staging_, who, [&](ConstBatchView<T, Image> chunk, int r0) {
      const auto xr = g.forward(encoder_.forward(chunk));
      T* o = out.data() + std::size_t(r0) * Image::size;
      for (std::size_t i = 0; i < chunk.size(); ++i) o[i] = residual ? std::abs(chunk.data[i] - xr.data[i]) : xr.data[i];
    });
    return out;
  }

  ReconstructionOptions options_;
  Encoder encoder_;
  Adam<T> adam_;
  bool fitted_ = false;
  Batch<T, Image> batch_, dxr_, dpix_, staging_;
  Batch<T, Latent> dz_;
  Batch<T, Feature> fx_, dfeat_;
};

}  // namespace ganad::score
