/// Compile-time per-sample shapes. A batch is N samples of one Shape, stored NCHW; the
/// batch size is the only run-time extent anywhere in ganad.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <type_traits>

namespace ganad {

/// Shape of one sample: C channels of H x W. Vectors are Flat<N> = Shape<N, 1, 1>.
template <int C, int H, int W>
struct Shape {
  static_assert(C > 0 && H > 0 && W > 0, "Shape<C, H, W>: every extent must be positive");
  static constexpr int channels = C, height = H, width = W;
  static constexpr std::size_t size = std::size_t(C) * H * W;
  static constexpr bool is_flat = H == 1 && W == 1;
};
template <int N>
using Flat = Shape<N, 1, 1>;

template <class S>
struct is_shape : std::false_type {};
template <int C, int H, int W>
struct is_shape<Shape<C, H, W>> : std::true_type {};
template <class S>
concept ShapeType = is_shape<S>::value;

/// "(64, 14, 14)" for images, "(100)" for vectors, as a summary prints them.
template <ShapeType S>
std::string shape_string() {
  // snprintf rather than operator+ chains: g++ 12 -O3 warns falsely (-Wrestrict) on those.
  char buf[48];
  if constexpr (S::is_flat) std::snprintf(buf, sizeof buf, "(%d)", S::channels);
  else std::snprintf(buf, sizeof buf, "(%d, %d, %d)", S::channels, S::height, S::width);
  return buf;
}

/// static_assert text must be a literal, so the two shapes travel in this type's name:
/// the compiler prints "In instantiation of assert_same_shape<Shape<...>, Shape<...>>".
template <class Expected, class Actual>
struct assert_same_shape {
  static_assert(std::is_same_v<Expected, Actual>,
                "shape mismatch: the expected and the actual shape are the two arguments of "
                "assert_same_shape<Expected, Actual> named above");
  static constexpr bool value = true;
};

/// Same, for reshapes: only the element counts must agree.
template <class From, class To>
struct assert_same_size {
  static_assert(From::size == To::size,
                "Reshape: the target shape must hold as many elements as the input shape "
                "(C*H*W must agree); the input and the target are the two arguments of "
                "assert_same_size<From, To> named above");
  static constexpr bool value = true;
};

}  // namespace ganad
