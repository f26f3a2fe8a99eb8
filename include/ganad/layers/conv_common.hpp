/// What Conv2D and ConvTranspose2D share: the padding and stride specs and the compile-time
/// output-size rules. Both layers compute with kernels::ConvEngine (one is the other's
/// adjoint, so each layer's forward is the other's data gradient).
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "ganad/kernels/conv_engine.hpp"

namespace ganad {

/// Stride of a convolution: Stride<2> halves (Conv2D) or doubles (ConvTranspose2D) H and W.
template <int S>
struct Stride {
  static_assert(S > 0, "Stride<S>: the stride must be positive");
  static constexpr int value = S;
};
/// Symmetric zero padding of P rows and columns, with PyTorch's output sizes:
/// Conv2D (H + 2P - K) / S + 1 (floor); ConvTranspose2D (H - 1) * S - 2P + K.
template <int P>
struct Pad {
  static_assert(P >= 0, "Pad<P>: the padding must be zero or positive");
  static constexpr int value = P;
};
/// Keras/TF 'same': Conv2D output ceil(H / S), ConvTranspose2D output H * S; the padding
/// that needs is split with the extra row/column at the bottom/right, as TF does.
struct Same {};
/// No padding: Pad<0>.
using Valid = Pad<0>;

namespace detail {

template <class P>
struct is_padding : std::false_type {};
template <int P>
struct is_padding<Pad<P>> : std::true_type {};
template <>
struct is_padding<Same> : std::true_type {};
template <class S>
struct is_stride : std::false_type {};
template <int S>
struct is_stride<Stride<S>> : std::true_type {};

/// A convolution from an image of extent H (one axis) to columns: their count and the
/// padding before the first row.
template <class Padding, int H, int K, int S>
struct conv_axis;
template <int P, int H, int K, int S>
struct conv_axis<Pad<P>, H, K, S> {
  static constexpr int out = (H + 2 * P - K) / S + 1;
  static constexpr int pad = P;
  static constexpr bool valid = H + 2 * P >= K && P < K;
};
template <int H, int K, int S>
struct conv_axis<Same, H, K, S> {
  static constexpr int out = (H + S - 1) / S;
  static constexpr int pad = std::max((out - 1) * S + K - H, 0) / 2;
  static constexpr bool valid = true;
};

/// The transposed direction: columns of extent H to an image; its extent and padding.
template <class Padding, int H, int K, int S>
struct conv_transpose_axis;
template <int P, int H, int K, int S>
struct conv_transpose_axis<Pad<P>, H, K, S> {
  static constexpr int out = (H - 1) * S - 2 * P + K;
  static constexpr int pad = P;
  static constexpr bool valid = out > 0 && P < K;
};
template <int H, int K, int S>
struct conv_transpose_axis<Same, H, K, S> {
  static constexpr int out = H * S;
  static constexpr int pad = std::max(K - S, 0) / 2;
  static constexpr bool valid = true;
};

}  // namespace detail
}  // namespace ganad
