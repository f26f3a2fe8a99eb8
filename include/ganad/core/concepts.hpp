/// The Layer concept every bound layer (and Sequential itself) satisfies, the LayerSpec
/// tag that user-facing specs carry, and ParamBlock, the view a layer keeps of its
/// parameters inside its network's one contiguous parameter buffer.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>

#include "ganad/core/tensor.hpp"

namespace ganad {

/// Whether backward accumulates parameter gradients (train a layer) or skips them
/// (propagate through a frozen network, as G's update does through D).
enum class ParamGrads { accumulate, skip };

/// A layer bound to a scalar type and an input shape. Contract: docs/layer_contract.md.
template <class L>
concept Layer = requires(L& l, ConstBatchView<typename L::scalar_type, typename L::in_shape> x,
                         ConstBatchView<typename L::scalar_type, typename L::out_shape> y,
                         ConstBatchView<typename L::scalar_type, typename L::out_shape> dy,
                         BatchView<typename L::scalar_type, typename L::in_shape> dx,
                         BatchView<typename L::scalar_type, typename L::out_shape> y_out) {
  typename L::scalar_type;
  requires ShapeType<typename L::in_shape> && ShapeType<typename L::out_shape>;
  { L::param_count } -> std::convertible_to<std::size_t>;
  { l.forward(x, y_out) } -> std::same_as<void>;
  { l.backward(x, y, dy, dx) } -> std::same_as<void>;
  { l.params() } -> std::same_as<std::span<typename L::scalar_type>>;
  { l.grads() } -> std::same_as<std::span<typename L::scalar_type>>;
  { L::name() } -> std::convertible_to<std::string_view>;
};

/// Base of every spec a user writes (Dense<128>, ReLU, ...): Sequential checks for it.
struct layer_spec_tag {};
template <class S>
concept LayerSpec = std::derived_from<S, layer_spec_tag>;

/// A layer's window on its network's parameter and gradient buffers. Sequential owns one
/// contiguous buffer of each for the whole network (so Adam, saving and gradient checks see
/// one span) and attaches every layer to its slice.
template <class T, std::size_t Count>
class ParamBlock {
 public:
  static constexpr std::size_t param_count = Count;
  void attach(T* params, T* grads) {
    params_ = params;
    grads_ = grads;
  }
  [[nodiscard]] std::span<T> params() const { return {params_, Count}; }
  [[nodiscard]] std::span<T> grads() const { return {grads_, Count}; }

 protected:
  T* params_ = nullptr;
  T* grads_ = nullptr;
};

}  // namespace ganad
