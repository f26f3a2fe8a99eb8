/// What every scorer shares: the scorer protocol Detector drives, the discriminator a scorer
/// reads (the averaged one by default), and D's "features", the output of its last hidden
/// layer. A scorer is a class built from its options struct, score::X({.field = value}).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <utility>

#include "ganad/core/bytes.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/samples.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/gan/discriminator.hpp"
#include "ganad/nn/sequential.hpp"

namespace ganad {

/// The scorer protocol (Detector's side of it; docs/scoring.md, "Writing a scorer"):
///   s.score(gan, chunk, out)   one score per sample of a checked chunk (higher = more anomalous)
///   s.fitted()                 whether it can score (scorers that learn nothing: always)
///   s.describe(), s.save_state(w), s.load_state(r)   for model files
/// and, for scorers that learn from normal data, s.fit(gan, samples).
template <class S, class Gan>
concept Scorer = requires(S& s, const S& cs, Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> chunk,
                          std::span<typename Gan::T> out, ByteWriter& w, ByteReader& r) {
  s.score(gan, chunk, out);
  { cs.fitted() } -> std::convertible_to<bool>;
  { cs.describe() } -> std::convertible_to<std::string>;
  cs.save_state(w);
  s.load_state(r);
};
template <class S, class Gan>
concept FittableScorer = requires(S& s, Gan& gan, const Samples<typename Gan::T>& x) { s.fit(gan, x); };

namespace detail {

/// Index of D's last hidden layer, the one before the final Dense<1>: its output is what the
/// scorers call D's features (for the seed's D, the flattened 128 x 7 x 7 maps after the
/// second LeakyReLU).
template <class D>
inline constexpr std::size_t feature_layer = D::depth - 2;
template <class D>
using feature_shape = typename D::template layer_type<feature_layer<D>>::out_shape;

/// The discriminator a scorer reads: the moving average of D's weights (averaged = true,
/// every scorer's default) or the trained D's last weights.
template <class Gan>
auto& scoring_discriminator(Gan& gan, bool averaged) {
  return averaged ? gan.averaged_discriminator() : gan.discriminator();
}

/// D's features of a chunk, computed in eval mode; a view into D's buffer, valid until D runs again.
template <class Net>
ConstBatchView<typename Net::scalar_type, feature_shape<Net>> features(Net& d, ConstBatchView<typename Net::scalar_type, typename Net::in_shape> x) {
  EvalScope<Net> eval(d);
  d.forward(x);
  return d.template layer_output<feature_layer<Net>>();
}

/// NotFittedError for `who` unless fitted (a C string: scoring calls this every chunk, and
/// must not allocate).
inline void require_fitted(bool fitted, const char* who) {
  if (!fitted) throw NotFittedError(std::string(who) + ": not fitted; call fit() (or Detector::fit) on normal data first");
}

/// Sequential<T, In, Specs[0..n-2]..., Extra...>: a network with its last layer replaced.
template <class Net, class... Extra>
struct replace_last;
template <class T, class In, class... Specs, class... Extra>
struct replace_last<Sequential<T, In, Specs...>, Extra...> {
  template <std::size_t... I>
  static auto make(std::index_sequence<I...>) -> Sequential<T, In, std::tuple_element_t<I, std::tuple<Specs...>>..., Extra...>;
  using type = decltype(make(std::make_index_sequence<sizeof...(Specs) - 1>{}));
};

/// A scorer's per-call buffer: a copy of the scorer (Detector::replica) starts it empty
/// instead of copying what the original last scored; moves keep it.
template <class Buffer>
struct Scratch : Buffer {
  Scratch() = default;
  Scratch(const Scratch&) : Buffer() {}
  Scratch(Scratch&&) noexcept = default;
  Scratch& operator=(const Scratch&) { return *this; }
  Scratch& operator=(Scratch&&) noexcept = default;
  ~Scratch() = default;
};

/// A count read from a model file, refused when its elements cannot fit in what is left.
inline std::size_t get_count(ByteReader& r, std::size_t element_bytes, const char* what) {
  const auto n = r.get<std::uint64_t>();
  if (element_bytes && n > r.remaining() / element_bytes)
    throw FormatError(std::string(what) + ": " + std::to_string(n) + " elements do not fit in the " + std::to_string(r.remaining()) +
                      " bytes left");
  return std::size_t(n);
}

}  // namespace detail
}  // namespace ganad
