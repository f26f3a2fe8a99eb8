/// Sequential: a flat, compile-time chain of layers. Each spec is bound to the shape that
/// flows into it; the network owns one contiguous parameter buffer (and its gradient), the
/// activations of the last forward (a tape for backward) and two gradient buffers, all
/// grown only when a larger batch arrives.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "ganad/core/bytes.hpp"
#include "ganad/core/concepts.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/core/random.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/kernels/eltwise.hpp"

namespace ganad {

namespace detail {

/// Stands in for a non-spec argument so that only Sequential's static_assert is reported.
template <class In>
struct InvalidLayer {
  using out_shape = In;
};
template <class S, class T, class In>
struct bind_one {
  using type = InvalidLayer<In>;
};
template <LayerSpec S, class T, class In>
struct bind_one<S, T, In> {
  using type = typename S::template bind<T, In>;
};

template <class H, class Tuple>
struct prepend;
template <class H, class... Ts>
struct prepend<H, std::tuple<Ts...>> {
  using type = std::tuple<H, Ts...>;
};
/// Binds specs left to right: the only recursion allowed, depth = number of layers.
template <class T, class In, class... Specs>
struct bind_chain {
  using type = std::tuple<>;
};
template <class T, class In, class S0, class... Rest>
struct bind_chain<T, In, S0, Rest...> {
  using head = typename bind_one<S0, T, In>::type;
  using type = typename prepend<head, typename bind_chain<T, typename head::out_shape, Rest...>::type>::type;
};

template <class Tuple>
struct batches_of;
template <class... Ls>
struct batches_of<std::tuple<Ls...>> {
  using type = std::tuple<Batch<typename Ls::scalar_type, typename Ls::out_shape>...>;
};

template <class L>
concept HasTrainingMode = requires(L& l) { l.set_training(true); };
template <class L>
concept HasState = requires(L& l) { { l.state() } -> std::convertible_to<std::span<typename L::scalar_type>>; };
template <class L>
constexpr std::size_t state_count_of() {
  if constexpr (HasState<L>) return L::state_count;
  else return 0;
}
template <class L>
concept HasInitialize = requires(L& l, Rng& rng) { l.initialize(Init::pytorch, rng); };

}  // namespace detail

/// A chain of layers, e.g. Sequential<float, Flat<100>, Dense<256>, LeakyReLU<>, Dense<1>>.
/// Satisfies Layer itself, so it can be gradient-checked and trained like one layer.
template <class T, ShapeType In, class... Specs>
class Sequential {
  static_assert(sizeof...(Specs) > 0,
                "Sequential: needs at least one layer after the input shape, e.g. "
                "Sequential<float, Flat<4>, Dense<1>>");
  static_assert((LayerSpec<Specs> && ...),
                "Sequential: every argument after the input shape must be a layer spec such as "
                "Dense<N>, ReLU or Reshape<Shape<C, H, W>>");

 public:
  using layers_type = typename detail::bind_chain<T, In, Specs...>::type;
  static constexpr std::size_t depth = sizeof...(Specs);
  using scalar_type = T;
  using in_shape = In;
  using out_shape = typename std::tuple_element_t<depth - 1, layers_type>::out_shape;

  template <std::size_t I>
  using layer_type = std::tuple_element_t<I, layers_type>;

 private:
  static constexpr auto param_offsets = []<std::size_t... I>(std::index_sequence<I...>) {
    std::array<std::size_t, depth + 1> off{};
    std::size_t counts[] = {layer_type<I>::param_count...};
    for (std::size_t i = 0; i < depth; ++i) off[i + 1] = off[i] + counts[i];
    return off;
  }(std::make_index_sequence<depth>{});
  static constexpr std::size_t max_inner_size = []<std::size_t... I>(std::index_sequence<I...>) {
    std::size_t m = 1;
    ((m = I + 1 < depth ? std::max(m, layer_type<I>::out_shape::size) : m), ...);
    return m;
  }(std::make_index_sequence<depth>{});

 public:
  static constexpr std::size_t param_count = param_offsets[depth];
  /// Values that are saved but not trained (BatchNorm's running statistics).
  static constexpr std::size_t state_count = []<std::size_t... I>(std::index_sequence<I...>) {
    return (std::size_t(0) + ... + detail::state_count_of<layer_type<I>>());
  }(std::make_index_sequence<depth>{});
  static constexpr std::string_view name() { return "Sequential"; }

  /// Parameters drawn from `init.seed` by `init.scheme` (PyTorch's defaults unless told).
  explicit Sequential(const InitOptions& init = {})
      : params_(std::max<std::size_t>(param_count, 1)), grads_(std::max<std::size_t>(param_count, 1)) {
    attach();
    Rng rng(init.seed);
    initialize(init.scheme, rng);
  }
  // Copies and moves take every buffer together with the capacity that describes them, then
  // re-attach the layers to the new parameter buffers.
  Sequential(const Sequential& o)
      : layers_(o.layers_), params_(o.params_), grads_(o.grads_), acts_(o.acts_), grad_buf_(o.grad_buf_),
        capacity_(o.capacity_), batch_(o.batch_), training_(o.training_) {
    attach();
  }
  Sequential(Sequential&& o) noexcept
      : layers_(std::move(o.layers_)), params_(std::move(o.params_)), grads_(std::move(o.grads_)),
        acts_(std::move(o.acts_)), grad_buf_(std::move(o.grad_buf_)), capacity_(o.capacity_), batch_(o.batch_),
        training_(o.training_) {
    o.capacity_ = o.batch_ = 0;  // o's buffers are gone: its next forward allocates again
    attach();
  }
  Sequential& operator=(const Sequential& o) {
    if (this != &o) *this = Sequential(o);
    return *this;
  }
  Sequential& operator=(Sequential&& o) noexcept {
    if (this == &o) return *this;
    layers_ = std::move(o.layers_);
    params_ = std::move(o.params_);
    grads_ = std::move(o.grads_);
    acts_ = std::move(o.acts_);
    grad_buf_ = std::move(o.grad_buf_);
    capacity_ = o.capacity_;
    batch_ = o.batch_;
    training_ = o.training_;
    o.capacity_ = o.batch_ = 0;
    attach();
    return *this;
  }
  ~Sequential() = default;

  /// Re-draws every layer's parameters from rng.
  void initialize(Init scheme, Rng& rng) {
    for_each_layer([&](auto& l) {
      if constexpr (detail::HasInitialize<std::remove_cvref_t<decltype(l)>>) l.initialize(scheme, rng);
    });
  }

  /// Runs the network on x and returns its output, a view into the network's own buffer,
  /// valid until the next forward. No allocation once this batch size has been seen.
  ConstBatchView<T, out_shape> forward(ConstBatchView<T, In> x) {
    if (x.batch < 0) throw ShapeError("Sequential::forward: negative batch size");
    reserve(x.batch);
    batch_ = x.batch;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(layers_).forward(layer_input<I>(x), activation<I>()), ...);
    }(std::make_index_sequence<depth>{});
    return activation<depth - 1>();
  }
  /// Same, writing the output into y (y.batch must equal x.batch).
  void forward(ConstBatchView<T, In> x, BatchView<T, out_shape> y) {
    if (y.batch != x.batch)
      throw ShapeError("Sequential::forward: the output view holds " + std::to_string(y.batch) +
                       " samples but the input holds " + std::to_string(x.batch));
    const auto out = forward(x);
    kernels::copy(out.size(), out.data, y.data);
  }

  /// Backpropagates dy (gradient w.r.t. the last forward's output) through the network:
  /// overwrites dx (skipped when dx.data is null) and, unless mode is skip, adds the
  /// parameter gradients to grads(). x must be the input of the last forward.
  void backward(ConstBatchView<T, In> x, ConstBatchView<T, out_shape> dy, BatchView<T, In> dx,
                ParamGrads mode = ParamGrads::accumulate) {
    if (x.batch != batch_ || dy.batch != batch_ || (dx.data && dx.batch != batch_))
      throw ShapeError("Sequential::backward: x, dy and dx must hold the batch of the last forward (" +
                       std::to_string(batch_) + " samples); got x " + std::to_string(x.batch) +
                       ", dy " + std::to_string(dy.batch) + ", dx " + std::to_string(dx.batch));
    if (mode == ParamGrads::skip && !dx.data) return;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (backward_step<depth - 1 - I, depth - 1>(x, dy, dx, mode), ...);
    }(std::make_index_sequence<depth>{});
  }

  /// Backpropagates from the output of layer Top instead of the network's output: dy is the
  /// gradient with respect to layer_output<Top>() of the last forward; layers above Top are
  /// not involved. (Feature-matching losses on a hidden layer of D use it.)
  template <std::size_t Top>
  void backward_from(ConstBatchView<T, In> x, ConstBatchView<T, typename layer_type<Top>::out_shape> dy,
                     BatchView<T, In> dx, ParamGrads mode = ParamGrads::accumulate) {
    static_assert(Top < depth, "Sequential::backward_from: Top must name a layer");
    if (x.batch != batch_ || dy.batch != batch_ || (dx.data && dx.batch != batch_))
      throw ShapeError("Sequential::backward_from: x, dy and dx must hold the batch of the last forward (" +
                       std::to_string(batch_) + " samples)");
    if (mode == ParamGrads::skip && !dx.data) return;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (backward_step<Top - I, Top>(x, dy, dx, mode), ...);
    }(std::make_index_sequence<Top + 1>{});
  }
  /// The Layer-concept form (y, the output, is the network's own tape and is not read).
  void backward(ConstBatchView<T, In> x, ConstBatchView<T, out_shape>, ConstBatchView<T, out_shape> dy,
                BatchView<T, In> dx, ParamGrads mode = ParamGrads::accumulate) {
    backward(x, dy, dx, mode);
  }

  void zero_grads() { std::fill(grads_.begin(), grads_.end(), T(0)); }
  [[nodiscard]] std::span<T> params() { return {params_.data(), param_count}; }
  [[nodiscard]] std::span<T> grads() { return {grads_.data(), param_count}; }
  [[nodiscard]] std::span<const T> params() const { return {params_.data(), param_count}; }

  /// Training mode (batch statistics in BatchNorm) or evaluation mode (running statistics).
  void train() { set_training(true); }
  void eval() { set_training(false); }
  [[nodiscard]] bool training() const { return training_; }

  template <std::size_t I>
  [[nodiscard]] auto& layer() { return std::get<I>(layers_); }
  /// Calls f(std::span<T>) on the state of every layer that has some, in layer order.
  template <class F>
  void for_each_state(F&& f) const {
    const_cast<Sequential*>(this)->for_each_state([&](std::span<T> s) { f(std::span<const T>(s)); });
  }
  /// Same, mutable.
  template <class F>
  void for_each_state(F&& f) {
    for_each_layer([&](auto& l) {
      if constexpr (detail::HasState<std::remove_cvref_t<decltype(l)>>) f(l.state());
    });
  }
  template <class F>
  void for_each_layer(F&& f) {
    std::apply([&](auto&... l) { (f(l), ...); }, layers_);
  }

  /// Output of the last forward.
  [[nodiscard]] ConstBatchView<T, out_shape> output() const { return activation_c<depth - 1>(); }
  /// Output of layer I in the last forward (for feature-based scorers).
  template <std::size_t I>
  [[nodiscard]] ConstBatchView<T, typename layer_type<I>::out_shape> layer_output() const {
    return activation_c<I>();
  }

  /// The architecture in one line: scalar size, input shape, then each layer's name, output
  /// shape and parameter count. Model files store it and refuse a file whose line differs.
  [[nodiscard]] static std::string describe() {
    std::string s = "Sequential<" + std::to_string(sizeof(T) * 8) + "-bit> " + shape_string<In>();
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((s += std::string(" | ") + std::string(layer_type<I>::name()) + " " +
             shape_string<typename layer_type<I>::out_shape>() + " " + std::to_string(layer_type<I>::param_count)),
       ...);
    }(std::make_index_sequence<depth>{});
    return s;
  }

  /// Model-file payload: the parameters, then every layer's state (BatchNorm statistics).
  void save_state(ByteWriter& w) const {
    w.put_floats<T>(params());
    for_each_state([&](std::span<const T> s) { w.put_floats<T>(s); });
  }
  void load_state(ByteReader& r) {
    r.get_floats<T>(params());
    for_each_state([&](std::span<T> s) { r.get_floats<T>(s); });
  }

  /// One line per layer: name, output shape, parameter count, as Keras' summary(); under each
  /// convolution, the kernels that compute it at batch `batch` (its ConvPlan).
  [[nodiscard]] std::string summary(int batch = 64) const {
    std::ostringstream os;
    auto row = [&](std::string_view a, const std::string& b, const std::string& c) {
      os << a << std::string(a.size() < 18 ? 18 - a.size() : 1, ' ') << b
         << std::string(b.size() < 20 ? 20 - b.size() : 1, ' ') << c << '\n';
    };
    row("Layer", "Output shape", "Params");
    row("input", shape_string<In>(), "");
    auto plan = [&](const auto& l) {
      if constexpr (requires { l.plan_summary(batch); }) os << "  plan at batch " << batch << ": " << l.plan_summary(batch) << '\n';
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((row(layer_type<I>::name(), shape_string<typename layer_type<I>::out_shape>(), std::to_string(layer_type<I>::param_count)),
        plan(std::get<I>(layers_))),
       ...);
    }(std::make_index_sequence<depth>{});
    os << "Total params: " << param_count << '\n';
    return os.str();
  }

 private:
  void attach() {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(layers_).attach(params_.data() + param_offsets[I], grads_.data() + param_offsets[I]), ...);
    }(std::make_index_sequence<depth>{});
  }
  void set_training(bool on) {
    training_ = on;
    for_each_layer([&](auto& l) {
      if constexpr (detail::HasTrainingMode<std::remove_cvref_t<decltype(l)>>) l.set_training(on);
    });
  }
  void reserve(int n) {
    GANAD_ASSERT(std::get<depth - 1>(acts_).capacity() >= capacity_, "Sequential: capacity_ exceeds the buffers");
    if (n <= capacity_) return;
    std::apply([&](auto&... b) { (b.resize(n), ...); }, acts_);
    for (auto& g : grad_buf_) g.resize(max_inner_size * std::size_t(n));
    capacity_ = n;
  }
  template <std::size_t I>
  BatchView<T, typename layer_type<I>::out_shape> activation() {
    return {std::get<I>(acts_).data(), batch_};
  }
  template <std::size_t I>
  ConstBatchView<T, typename layer_type<I>::out_shape> activation_c() const {
    return {std::get<I>(acts_).data(), batch_};
  }
  template <std::size_t I>
  ConstBatchView<T, typename layer_type<I>::in_shape> layer_input(ConstBatchView<T, In> x) const {
    if constexpr (I == 0) return x;
    else return activation_c<I - 1>();
  }
  template <std::size_t I, std::size_t Top, class DyShape>
  void backward_step(ConstBatchView<T, In> x, ConstBatchView<T, DyShape> dy, BatchView<T, In> dx,
                     ParamGrads mode) {
    using L = layer_type<I>;
    using LIn = typename L::in_shape;
    using LOut = typename L::out_shape;
    ConstBatchView<T, LOut> ldy;
    if constexpr (I == Top) ldy = dy;
    else ldy = {grad_buf_[I % 2].data(), batch_};
    BatchView<T, LIn> ldx;
    if constexpr (I == 0) ldx = dx;
    else ldx = {grad_buf_[(I + 1) % 2].data(), batch_};
    if constexpr (I == 0)
      if (!dx.data && (mode == ParamGrads::skip || L::param_count == 0)) return;
    std::get<I>(layers_).backward(layer_input<I>(x), activation_c<I>(), ldy, ldx, mode);
  }

  layers_type layers_;
  aligned_vector<T> params_, grads_;
  typename detail::batches_of<layers_type>::type acts_;
  std::array<aligned_vector<T>, 2> grad_buf_;
  int capacity_ = 0;
  int batch_ = 0;
  bool training_ = true;
};

}  // namespace ganad
