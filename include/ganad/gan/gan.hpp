/// Gan<G, D>: trains a generator G and a discriminator D (binary cross-entropy on logits,
/// non-saturating generator loss, Adam for both), reproducibly: the same seed and data give
/// bit-identical weights on any number of threads. Keeps a moving average of D's weights,
/// the discriminator the anomaly scores use (its output does not swing with the game).
/// distribute() makes it data-parallel over a group of processes (docs/distributed.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ganad/core/bytes.hpp"
#include "ganad/core/collective.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/random.hpp"
#include "ganad/core/samples.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/gan/discriminator.hpp"
#include "ganad/kernels/eltwise.hpp"
#include "ganad/nn/loss.hpp"
#include "ganad/nn/optim.hpp"
#include "ganad/nn/sequential.hpp"

namespace ganad {

/// Construction settings of a Gan.
struct GanOptions {
  std::uint64_t seed = 0;       ///< everything random in the GAN derives from it
  Init init = Init::dcgan;      ///< weight initialisation of G and D
  AdamOptions g_optimizer{};    ///< Adam for G (DCGAN: lr 2e-4, beta1 0.5)
  AdamOptions d_optimizer{};    ///< Adam for D
  double real_label = 1.0;      ///< one-sided label smoothing: e.g. 0.9
  /// Decay of the exponential moving average of D's weights kept for scoring
  /// (averaged_discriminator()): after step t the average moves by max(1 - decay, 1 / t)
  /// towards D's new weights, a plain mean over the first 1 / (1 - decay) steps. 0.995
  /// averages over about 200 steps; 0 keeps a copy of the last weights.
  double discriminator_averaging = 0.995;
  int fixed_noise = 64;         ///< noise vectors kept fixed for sample grids
  /// Explicit off-distribution negatives for D: each step D also learns "fake" on the real
  /// batch plus Gaussian noise, its loss weighted by negative_weight. Each sample's noise has
  /// standard deviation negative_noise x s x 2^u, u uniform in [-2, 2] (near and far), s the
  /// batch's typical feature deviation (the root of its mean per-feature variance). Without
  /// them D's output away from the data is arbitrary (on tables 1 - D(x) ranked anomalies as
  /// the most normal); on images a noisy image is told apart trivially and they cost
  /// accuracy. Default (unset): 1 for tables (a Flat<N> input), 0 for images (docs/training.md).
  std::optional<double> negative_weight = std::nullopt;
  double negative_noise = 1.0;
  /// The precision of train_step's matrix products. bf16 is mixed-precision training: bf16
  /// products summed in fp32, with fp32 weights, gradients' sums, Adam state and BatchNorm
  /// statistics (docs/guide.md, "Precision"). A run-time choice: not saved in model files.
  Precision precision = Precision::fp32;
};

/// What one train_step did.
struct GanStepStats {
  double d_loss = 0;  ///< BCE of D on the real batch plus on the fake batch
  double g_loss = 0;  ///< non-saturating G loss: BCE of D(G(z)) against "real"
  double d_real = 0;  ///< mean D(x) on the real batch
  double d_fake = 0;  ///< mean D(G(z)) on the fake batch, before D's update
  double d_negative = 0;  ///< mean D on the off-distribution negatives (GanOptions::negative_weight), before D's update
};

/// How fit() walks the data.
struct FitOptions {
  int epochs = 1;
  int batch = 64;
  int report_every = 0;  ///< also call the callback every this many steps (0: only per epoch)
};

/// What fit() reports to its callback.
struct FitProgress {
  int epoch = 0;              ///< 1-based
  int epochs = 0;
  int step = 0;               ///< steps done in this epoch
  int steps_per_epoch = 0;
  std::int64_t total_steps = 0;  ///< train_step calls over the GAN's life
  bool epoch_end = false;     ///< the epoch just finished (else a periodic report)
  GanStepStats mean;          ///< means over the epoch's steps so far (weighted by batch size)
  double images_per_second = 0;
  double seconds = 0;         ///< since fit() started
};

namespace detail {
template <class GeneratorOut, class DiscriminatorIn>
struct assert_gan_shapes {
  static_assert(std::is_same_v<GeneratorOut, DiscriminatorIn>,
                "Gan: the generator's output shape must equal the discriminator's input shape; the "
                "two shapes are the arguments of assert_gan_shapes<GeneratorOut, DiscriminatorIn> "
                "named above");
  static constexpr bool value = true;
};
}  // namespace detail

template <class G, class D>
class Gan {
  static_assert(std::is_same_v<typename G::scalar_type, typename D::scalar_type>,
                "Gan: the generator and the discriminator must use the same scalar type");
  static_assert(detail::assert_gan_shapes<typename G::out_shape, typename D::in_shape>::value);

 public:
  using generator_type = G;
  using discriminator_type = AnomalyDiscriminator<D>;
  using scalar_type = typename G::scalar_type;
  using latent_shape = typename G::in_shape;
  using image_shape = typename D::in_shape;
  using T = scalar_type;

  explicit Gan(GanOptions options = {})
      : options_(validated(options)),
        g_(InitOptions{derive_seed(options.seed, 1), options.init}),
        d_(InitOptions{derive_seed(options.seed, 2), options.init}),
        d_average_(InitOptions{derive_seed(options.seed, 2), options.init}),
        g_opt_(G::param_count, options.g_optimizer),
        d_opt_(D::param_count, options.d_optimizer),
        rng_(derive_seed(options.seed, 3)) {
    Rng noise(derive_seed(options.seed, 4));  // its own stream: sample grids do not move training
    fixed_noise_.resize(options.fixed_noise);
    for (T& v : fixed_noise_.flat()) v = T(noise.normal());
  }

  [[nodiscard]] G& generator() { return g_; }
  [[nodiscard]] const G& generator() const { return g_; }
  [[nodiscard]] AnomalyDiscriminator<D>& discriminator() { return d_; }
  [[nodiscard]] const AnomalyDiscriminator<D>& discriminator() const { return d_; }
  /// D with the moving average of its weights over the last steps (GanOptions::
  /// discriminator_averaging) and the trained D's BatchNorm statistics. Its 1 - D(x) is the
  /// one to score with: the trained D follows the state of the game and its test AUROC
  /// moved by 0.1-0.2 between epochs on MNIST, the average's far less (docs/mnist.md).
  [[nodiscard]] AnomalyDiscriminator<D>& averaged_discriminator() { return d_average_; }
  [[nodiscard]] const AnomalyDiscriminator<D>& averaged_discriminator() const { return d_average_; }
  [[nodiscard]] const Adam<T>& generator_optimizer() const { return g_opt_; }
  [[nodiscard]] const Adam<T>& discriminator_optimizer() const { return d_opt_; }
  [[nodiscard]] const GanOptions& options() const { return options_; }
  /// The weight of D's loss on off-distribution negatives in use: GanOptions::negative_weight,
  /// or its default for this data (1 for tables, 0 for images).
  [[nodiscard]] double negative_weight() const { return negative_weight_; }
  /// train_step calls over the GAN's life (saved with it).
  [[nodiscard]] std::int64_t steps() const { return steps_; }
  [[nodiscard]] ConstBatchView<T, latent_shape> fixed_noise() const { return fixed_noise_.view(); }

  /// Makes training data-parallel over `group` (nullptr: back to one process). Every rank
  /// builds its Gan with the same options and calls this; it takes rank 0's state, so all
  /// ranks start from the same bits, and a rank whose training options differ from rank 0's
  /// gets a ValueError (the seed may differ: rank 0's RNG state is taken). Afterwards train_step's batch is this rank's part of a
  /// global batch (the ranks' parts, in rank order), fit's data is this rank's shard and its
  /// batch the global batch. Each step sums the ranks' gradients (Collective::sum, weighted
  /// by their share of the global batch) and every rank takes the same Adam step: weights,
  /// averaged D, optimizer state and RNG stay bit-identical on every rank. BatchNorm
  /// normalises with each rank's own batch statistics; the running statistics are averaged
  /// over the ranks after each step.
  void distribute(Collective* group) {
    group_ = group;
    if (!group_ || group_->size() == 1) return;
    ByteWriter w;
    save_state(w);
    std::vector<std::uint8_t> bytes(w.bytes().begin(), w.bytes().end());
    group_->broadcast(bytes);
    ByteReader r(bytes, "Gan::distribute");
    load_state(r);
    std::vector<std::uint8_t> options = training_options(), rank0 = options;
    group_->broadcast(rank0);
    if (options != rank0)
      throw ValueError("Gan::distribute: rank " + std::to_string(group_->rank()) +
                       "'s GanOptions differ from rank 0's (learning rates, Adam, real_label, averaging, negatives or precision); "
                       "every rank must build its Gan with the same options");
  }
  [[nodiscard]] Collective* group() const { return group_; }

  /// One D update on `real` and on as many generated samples (labels real_label and 0),
  /// then one G update through D with D's parameters frozen (only D's input gradient is
  /// computed), then one step of the averaged D. At least 2 samples when a network has BatchNorm.
  /// A loss or gradient that is not finite (training diverged) is a TrainingError naming the
  /// step, thrown before the update it would spoil: every weight stays finite and can be saved.
  GanStepStats train_step(ConstBatchView<T, image_shape> real) {
    const int n = real.batch;
    if (n < 1) throw ShapeError("Gan::train_step: the real batch is empty");
    const kernels::PrecisionScope precision(options_.precision);
    const auto part = batch_part(n);
    z_.resize(n);
    dlogits_.resize(n);
    dfake_.resize(n);
    draw_normals(part, z_.flat());  // the global batch's noise, this rank's part of it
    auto& dnet = d_.net();
    g_.train();
    dnet.train();
    const auto fake = g_.forward(z_.view());

    GanStepStats s;
    dnet.zero_grads();
    const auto real_logits = dnet.forward(real);
    const auto r = bce_with_logits<T>(real_logits.flat(), T(options_.real_label), dlogits_.flat());
    dnet.backward(real, dlogits_.view(), {});
    const auto fake_logits = dnet.forward(fake);
    const auto f = bce_with_logits<T>(fake_logits.flat(), T(0), dlogits_.flat());
    dnet.backward(fake, dlogits_.view(), {});
    double negative_loss = 0;
    if (negative_weight_ > 0) {
      const auto neg = make_negatives(real, part);
      const auto neg_logits = dnet.forward(neg);
      const auto q = bce_with_logits<T>(neg_logits.flat(), T(0), dlogits_.flat());
      kernels::scale<T>(std::size_t(n), T(negative_weight_), dlogits_.data());
      dnet.backward(neg, dlogits_.view(), {});
      negative_loss = negative_weight_ * q.loss;
      s.d_negative = q.mean_probability;
    }
    s.d_loss = r.loss + f.loss + negative_loss;
    s.d_real = r.mean_probability;
    s.d_fake = f.mean_probability;
    sum_over_ranks(part, dnet.grads(), {&s.d_loss, &s.d_real, &s.d_fake, &s.d_negative});
    require_finite(s.d_loss, dnet.grads(), "the discriminator's");
    d_opt_.step(dnet.params(), dnet.grads());

    g_.zero_grads();
    const auto logits = dnet.forward(fake);
    const auto gl = bce_with_logits<T>(logits.flat(), T(1), dlogits_.flat());
    dnet.backward(fake, dlogits_.view(), dfake_.view(), ParamGrads::skip);
    g_.backward(z_.view(), dfake_.view(), {});
    s.g_loss = gl.loss;
    sum_over_ranks(part, g_.grads(), {&s.g_loss});
    require_finite(s.g_loss, g_.grads(), "the generator's");
    g_opt_.step(g_.params(), g_.grads());
    average_statistics_over_ranks();
    update_averaged_discriminator();  // after G's pass through D, the last to move D's statistics

    ++steps_;
    return s;
  }

  /// Trains for options.epochs over `data` (one sample per row), shuffled each epoch with
  /// the GAN's RNG, in batches of options.batch; a last partial batch is used (one left-over
  /// sample joins the batch before it, since BatchNorm cannot train on one). Every value is
  /// checked before the first step: NaN or infinity is a ValueError naming row and column.
  /// Calls on_progress(const FitProgress&) after every epoch and every report_every steps;
  /// if it returns false, training stops after that step. Returns the progress of the last
  /// report. Divergence stops it with a TrainingError (see train_step).
  /// Data-parallel (distribute()): `samples` is this rank's shard and options.batch the global
  /// batch, split over the ranks (rank r takes batch / size, one more if r < batch % size).
  /// An epoch is ceil(total rows / batch) steps; each rank walks its shard in its own shuffled
  /// order, starting over where it runs out (shards of unequal size).
  template <class Callback>
  FitProgress fit(const Samples<T>& samples, const FitOptions& fo, Callback&& on_progress) {
    const auto data = samples.template as<image_shape>("Gan::fit");
    if (fo.batch < 1 || fo.epochs < 0 || fo.report_every < 0)
      throw ValueError("Gan::fit: need batch >= 1, epochs >= 0 and report_every >= 0");
    const bool parallel = group_ && group_->size() > 1;
    if (data.rows < 1) {
      if (parallel)  // the other ranks wait in their first step: end the job (docs/distributed.md, "Faults")
        throw ShapeError("Gan::fit: rank " + std::to_string(group_->rank()) + " has no training data (an empty shard)");
      throw ShapeError("Gan::fit: no training data");
    }
    detail::check_finite(data, 0, data.rows, "Gan::fit");
    const int n = data.rows;
    std::vector<int> order(n), pass;  // pass: one shuffled walk of this rank's shard (data-parallel)
    std::vector<std::pair<int, int>> batches;  // [begin, end) into order
    if (parallel) {
      const int ranks = group_->size(), rank = group_->rank();
      if (fo.batch < ranks)
        throw ValueError("Gan::fit: the global batch (" + std::to_string(fo.batch) + ") must be at least the number of ranks (" +
                         std::to_string(ranks) + ")");
      std::vector<double> rows{double(n)};
      group_->sum(rows);
      const int local = fo.batch / ranks + (rank < fo.batch % ranks ? 1 : 0);
      const int steps = int((std::int64_t(rows[0]) + fo.batch - 1) / fo.batch);
      order.resize(std::size_t(steps) * std::size_t(local));
      for (int b = 0; b < steps; ++b) batches.emplace_back(b * local, (b + 1) * local);
    } else {
      for (int b = 0; b < n; b += fo.batch) batches.emplace_back(b, std::min(n, b + fo.batch));
      if (batches.size() > 1 && batches.back().second - batches.back().first == 1) {
        batches.pop_back();
        batches.back().second = n;
      }
    }
    int max_batch = 0;
    for (const auto& [b0, b1] : batches) max_batch = std::max(max_batch, b1 - b0);
    real_.resize(max_batch);
    const auto start = std::chrono::steady_clock::now();
    FitProgress p;
    p.epochs = fo.epochs;
    p.steps_per_epoch = int(batches.size());
    for (int epoch = 1; epoch <= fo.epochs; ++epoch) {
      if (parallel) {  // the shard in an order of this rank's own, from one draw of the shared RNG
        Rng shard_rng(derive_seed(rng_.next_u64(), std::uint64_t(group_->rank()) + 1));
        pass.resize(std::size_t(n));
        for (std::size_t i = 0; i < order.size(); i += std::size_t(n)) {
          const auto m = std::min(order.size() - i, std::size_t(n));
          std::iota(pass.begin(), pass.end(), 0);
          shard_rng.shuffle(pass.begin(), pass.end());
          std::copy_n(pass.begin(), m, order.begin() + std::ptrdiff_t(i));
        }
      } else {
        std::iota(order.begin(), order.end(), 0);
        rng_.shuffle(order.begin(), order.end());
      }
      GanStepStats sum;
      long images = 0;
      const auto epoch_start = std::chrono::steady_clock::now();
      for (std::size_t bi = 0; bi < batches.size(); ++bi) {
        const auto [b0, b1] = batches[bi];
        for (int i = b0; i < b1; ++i)
          std::copy_n(data.row(order[i]), image_shape::size, real_.data() + std::size_t(i - b0) * image_shape::size);
        const int nb = b1 - b0;
        const auto s = train_step(ConstBatchView<T, image_shape>{real_.data(), nb});
        const int global = parallel ? fo.batch : nb;  // the statistics are the global batch's
        sum.d_loss += s.d_loss * global;
        sum.g_loss += s.g_loss * global;
        sum.d_real += s.d_real * global;
        sum.d_fake += s.d_fake * global;
        sum.d_negative += s.d_negative * global;
        images += global;
        const bool epoch_end = bi + 1 == batches.size();
        const bool periodic = fo.report_every > 0 && (bi + 1) % std::size_t(fo.report_every) == 0;
        if (epoch_end || periodic) {
          const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          const double in_epoch = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
          p.epoch = epoch;
          p.step = int(bi + 1);
          p.total_steps = steps_;
          p.epoch_end = epoch_end;
          p.mean = {sum.d_loss / images, sum.g_loss / images, sum.d_real / images, sum.d_fake / images, sum.d_negative / images};
          p.images_per_second = in_epoch > 0 ? images / in_epoch : 0.0;
          p.seconds = now;
          if constexpr (std::is_same_v<std::invoke_result_t<Callback&, const FitProgress&>, bool>) {
            if (!on_progress(static_cast<const FitProgress&>(p))) return p;
          } else {
            on_progress(static_cast<const FitProgress&>(p));
          }
        }
      }
    }
    return p;
  }
  FitProgress fit(const Samples<T>& data, const FitOptions& fo = {}) {
    return fit(data, fo, [](const FitProgress&) {});
  }

  /// The architecture and options a model file must match.
  [[nodiscard]] std::string describe() const {
    return "Gan | G: " + G::describe() + " | D: " + D::describe() + " | fixed_noise " +
           std::to_string(fixed_noise_.batch());
  }
  /// Model-file payload: both networks, the averaged D, both optimizers, the RNG, the step
  /// count and the fixed noise, so that training resumes exactly where it stopped.
  void save_state(ByteWriter& w) const {
    g_.save_state(w);
    d_.net().save_state(w);
    d_average_.net().save_state(w);
    g_opt_.save_state(w);
    d_opt_.save_state(w);
    const auto& st = rng_.state();
    for (auto word : st.words) w.put(word);
    w.put(std::uint8_t(st.has_spare));
    w.put_float(st.spare);
    w.put(std::int64_t(steps_));
    w.put_floats<T>(fixed_noise_.flat());
  }
  void load_state(ByteReader& r) {
    g_.load_state(r);
    d_.net().load_state(r);
    d_average_.net().load_state(r);
    g_opt_.load_state(r);
    d_opt_.load_state(r);
    Rng::State st;
    for (auto& word : st.words) word = r.get<std::uint64_t>();
    st.has_spare = r.get<std::uint8_t>() != 0;
    st.spare = r.get_float<double>();
    rng_.set_state(st);
    steps_ = r.get<std::int64_t>();
    r.get_floats<T>(fixed_noise_.flat());
  }

  /// G(z) in evaluation mode (BatchNorm uses running statistics); a view into G's buffer,
  /// valid until G runs again.
  ConstBatchView<T, image_shape> generate(ConstBatchView<T, latent_shape> z) {
    const bool was_training = g_.training();
    g_.eval();
    const auto out = g_.forward(z);
    if (was_training) g_.train();
    return out;
  }
  /// G(fixed noise): the same noise after every epoch, for sample grids.
  ConstBatchView<T, image_shape> fixed_samples() { return generate(fixed_noise_.view()); }

 private:
  static GanOptions validated(const GanOptions& o) {
    if (!(o.real_label > 0.0 && o.real_label <= 1.0))
      throw ValueError("Gan: real_label must be in (0, 1] (one-sided label smoothing uses 0.9)");
    if (o.fixed_noise < 0) throw ValueError("Gan: fixed_noise must be >= 0");
    const double w = o.negative_weight.value_or(0.0);
    if (!(w >= 0.0 && std::isfinite(w) && o.negative_noise > 0.0 && std::isfinite(o.negative_noise)))
      throw ValueError("Gan: negative_weight must be >= 0 and negative_noise > 0 (both finite)");
    if (!(o.discriminator_averaging >= 0.0 && o.discriminator_averaging < 1.0))
      throw ValueError("Gan: discriminator_averaging must be in [0, 1) (the decay of D's weight average; 0 = last weights)");
    return o;
  }
  /// TrainingError unless the loss and every gradient are finite.
  void require_finite(double loss, std::span<const T> grads, const char* whose) const {
    const bool loss_ok = std::isfinite(loss);
    if (loss_ok && kernels::all_finite(grads.size(), grads.data())) return;
    throw TrainingError("Gan::train_step: training diverged at step " + std::to_string(steps_ + 1) + ": " + whose + " " +
                        (loss_ok ? "gradient is not finite" : "loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite")) +
                        ". The GAN keeps its weights from before this update (all finite; save them to inspect). "
                        "Lower the learning rates, or check the data's scale (the DCGAN expects values in [-1, 1]).");
  }
  /// The options that shape every step, as bytes (distribute() compares them across ranks).
  [[nodiscard]] std::vector<std::uint8_t> training_options() const {
    ByteWriter w;
    for (const AdamOptions& a : {options_.g_optimizer, options_.d_optimizer})
      for (const double v : {a.lr, a.beta1, a.beta2, a.eps, a.weight_decay}) w.put_float(v);
    for (const double v : {options_.real_label, options_.discriminator_averaging, negative_weight_, options_.negative_noise}) w.put_float(v);
    w.put(std::uint8_t(options_.precision));
    return {w.bytes().begin(), w.bytes().end()};
  }
  /// Where this rank's batch lies in the global batch of a step: samples [offset, offset + n)
  /// of `global` (one process: all of it).
  struct BatchPart {
    int offset = 0, n = 0, global = 0;
  };
  BatchPart batch_part(int n) {
    if (!group_ || group_->size() == 1) return {0, n, n};
    const float mine = float(n);  // exact: batch sizes are far below 2^24
    part_sizes_.resize(std::size_t(group_->size()));
    group_->all_gather(std::span<const float>(&mine, 1), part_sizes_);
    BatchPart p{0, n, 0};
    for (int r = 0; r < group_->size(); ++r) {
      if (r < group_->rank()) p.offset += int(part_sizes_[std::size_t(r)]);
      p.global += int(part_sizes_[std::size_t(r)]);
    }
    return p;
  }
  /// Normals for the whole global batch from the GAN's RNG (the same stream on every rank),
  /// keeping this rank's part: the RNG stays identical across ranks, and one process with the
  /// global batch draws the same noise.
  void draw_normals(const BatchPart& part, std::span<T> out) {
    const std::size_t per = out.size() / std::size_t(part.n);
    const std::size_t begin = std::size_t(part.offset) * per, end = begin + out.size();
    for (std::size_t j = 0; j < std::size_t(part.global) * per; ++j) {
      const double v = rng_.normal();
      if (j >= begin && j < end) out[j - begin] = T(v);
    }
  }
  /// Turns this rank's gradients and statistics (means over its batch) into the global
  /// batch's: weighted by the rank's share, summed over the ranks. No-op for one process.
  void sum_over_ranks(const BatchPart& part, std::span<T> grads, std::initializer_list<double*> stats) {
    if (!group_ || group_->size() == 1) return;
    const double share = double(part.n) / double(part.global);
    kernels::scale<T>(grads.size(), T(share), grads.data());
    group_->sum(grads);
    stats_.clear();
    for (const double* v : stats) stats_.push_back(*v * share);
    group_->sum(stats_);
    std::size_t k = 0;
    for (double* v : stats) *v = stats_[k++];
  }
  /// BatchNorm's running statistics: the mean over the ranks, so that they stay identical.
  /// Every layer's in one sum (one message round, not one per layer).
  void average_statistics_over_ranks() {
    if (!group_ || group_->size() == 1 || G::state_count + D::state_count == 0) return;
    statistics_.resize(G::state_count + D::state_count);
    std::size_t k = 0;
    auto gather = [&](std::span<T> s) { k = std::copy(s.begin(), s.end(), statistics_.begin() + std::ptrdiff_t(k)) - statistics_.begin(); };
    g_.for_each_state(gather);
    d_.net().for_each_state(gather);
    group_->sum(statistics_);
    kernels::scale<T>(statistics_.size(), T(1) / T(group_->size()), statistics_.data());
    k = 0;
    auto scatter = [&](std::span<T> s) {
      std::copy_n(statistics_.begin() + std::ptrdiff_t(k), s.size(), s.begin());
      k += s.size();
    };
    g_.for_each_state(scatter);
    d_.net().for_each_state(scatter);
  }
  /// The real batch plus N(0, (negative_noise sigma)^2) noise, sigma^2 the global batch's mean
  /// per-feature variance (in double, in a fixed order: the same bits on any thread count).
  ConstBatchView<T, image_shape> make_negatives(ConstBatchView<T, image_shape> real, const BatchPart& part) {
    const int n = real.batch;
    constexpr std::size_t F = image_shape::size;
    negatives_.resize(n);
    moments_.assign(2 * F, 0.0);  // per feature: sum, sum of squares
    for (std::size_t c = 0; c < F; ++c)
      for (int i = 0; i < n; ++i) {
        const double v = real.data[std::size_t(i) * F + c];
        moments_[2 * c] += v, moments_[2 * c + 1] += v * v;
      }
    if (group_ && group_->size() > 1) group_->sum(moments_);
    const int m = part.global;
    double var = 0;
    if (m > 1) {
      for (std::size_t c = 0; c < F; ++c) var += std::max(moments_[2 * c + 1] / m - (moments_[2 * c] / m) * (moments_[2 * c] / m), 0.0);
      var /= double(F);
    }
    const double sigma = options_.negative_noise * (var > 0 ? std::sqrt(var) : 1.0);
    for (int g = 0; g < m; ++g) {  // every sample's draws, so the RNG stays the same on every rank
      const int i = g - part.offset;
      const bool mine = i >= 0 && i < n;
      const double si = sigma * std::exp2(rng_.uniform(-2.0, 2.0));  // log-uniform in [sigma / 4, 4 sigma]: near and far
      for (std::size_t c = 0; c < F; ++c) {
        const double e = rng_.normal();
        if (!mine) continue;
        const std::size_t j = std::size_t(i) * F + c;
        negatives_.data()[j] = T(double(real.data[j]) + si * e);
      }
    }
    return negatives_.view();
  }
  /// One step of the moving average of D's weights (steps_ counts the steps before this one).
  void update_averaged_discriminator() {
    const double t = double(steps_ + 1);
    const T rate = T(std::max(1.0 - options_.discriminator_averaging, 1.0 / t));
    auto& avg = d_average_.net();
    const auto w = d_.net().params();
    if (rate == T(1)) kernels::copy(w.size(), w.data(), avg.params().data());  // exact: a copy, not w - avg + avg
    else kernels::moving_average<T>(w.size(), rate, w.data(), avg.params().data());
    [&]<std::size_t... I>(std::index_sequence<I...>) {  // BatchNorm statistics: the trained D's
      ((copy_layer_state(d_.net().template layer<I>(), avg.template layer<I>())), ...);
    }(std::make_index_sequence<D::depth>{});
  }
  template <class L>
  static void copy_layer_state(L& from, L& to) {
    if constexpr (detail::HasState<L>) {
      const auto s = from.state();
      kernels::copy(s.size(), s.data(), to.state().data());
    }
  }
  static std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t x = seed ^ (0x9e3779b97f4a7c15ULL * stream);
    return detail::splitmix64(x);
  }

  GanOptions options_;
  double negative_weight_ = options_.negative_weight.value_or(image_shape::is_flat ? 1.0 : 0.0);
  G g_;
  AnomalyDiscriminator<D> d_, d_average_;
  Adam<T> g_opt_, d_opt_;
  Rng rng_;
  std::int64_t steps_ = 0;
  Collective* group_ = nullptr;
  std::vector<float> part_sizes_;
  std::vector<T> statistics_;
  std::vector<double> stats_, moments_;
  Batch<T, latent_shape> z_, fixed_noise_;
  Batch<T, Flat<1>> dlogits_;
  Batch<T, image_shape> dfake_, real_, negatives_;
};

}  // namespace ganad
