/// Element-wise and reduction kernels: activations and their derivatives, bias gradients,
/// copy/axpy/scale, the Adam and SGD updates, and the finiteness check. Layout: plain arrays, no aliasing
/// unless stated. Tails run the same SIMD code on a zero-padded local copy, so an element's
/// result never depends on where it sits in the array or on how the loop was split.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

/// The activations layers and the GEMM epilogue apply.
enum class Activation { identity, relu, leaky_relu, tanh, sigmoid };

namespace detail {

/// Runs body(in, out) over n elements, L = simd width at a time. body reads L values from
/// each pointer in `in`, may read and must write L values at each pointer in `out`.
template <class T, std::size_t NIn, std::size_t NOut, class Body>
inline void simd_for(std::size_t n, std::array<const T*, NIn> in, std::array<T*, NOut> out,
                     Body&& body) {
  constexpr std::size_t L = simd_width<T>;
  std::size_t i = 0;
  for (; i + L <= n; i += L) {
    std::array<const T*, NIn> pin;
    std::array<T*, NOut> pout;
    for (std::size_t k = 0; k < NIn; ++k) pin[k] = in[k] + i;
    for (std::size_t k = 0; k < NOut; ++k) pout[k] = out[k] + i;
    body(pin, pout);
  }
  if (i == n) return;
  const std::size_t rest = n - i;
  alignas(64) T tin[NIn > 0 ? NIn : 1][L] = {};
  alignas(64) T tout[NOut > 0 ? NOut : 1][L] = {};
  std::array<const T*, NIn> pin;
  std::array<T*, NOut> pout;
  for (std::size_t k = 0; k < NIn; ++k) {
    std::copy_n(in[k] + i, rest, tin[k]);
    pin[k] = tin[k];
  }
  for (std::size_t k = 0; k < NOut; ++k) {
    std::copy_n(out[k] + i, rest, tout[k]);
    pout[k] = tout[k];
  }
  body(pin, pout);
  for (std::size_t k = 0; k < NOut; ++k) std::copy_n(tout[k], rest, out[k] + i);
}

/// Same, split into chunks of a fixed size (a multiple of L) over the threads.
template <class T, std::size_t NIn, std::size_t NOut, class Body>
inline void parallel_simd_for(std::size_t n, double flops_per_element, std::array<const T*, NIn> in,
                              std::array<T*, NOut> out, Body&& body) {
  constexpr std::size_t chunk = 16384;
  const std::size_t chunks = (n + chunk - 1) / chunk;
  parallel_for(std::ptrdiff_t(chunks), double(n) * flops_per_element, [&](std::ptrdiff_t c) {
    const std::size_t begin = std::size_t(c) * chunk, len = std::min(chunk, n - begin);
    std::array<const T*, NIn> pin;
    std::array<T*, NOut> pout;
    for (std::size_t k = 0; k < NIn; ++k) pin[k] = in[k] + begin;
    for (std::size_t k = 0; k < NOut; ++k) pout[k] = out[k] + begin;
    simd_for<T>(len, pin, pout, body);
  });
}

}  // namespace detail

/// f(x) on one SIMD register (shared by the activation kernels and the GEMM epilogue).
template <class T>
inline simd<T> activate(Activation kind, T slope, const simd<T>& x) {
  using B = simd<T>;
  switch (kind) {
    case Activation::identity: return x;
    case Activation::relu: return max(x, B(T(0)));
    case Activation::leaky_relu: return select_positive(x, x, x * B(slope));
    case Activation::tanh: return kernels::tanh(x);
    case Activation::sigmoid: return B(T(1)) / (B(T(1)) + kernels::exp(-x));
  }
  return x;
}

/// y = f(x). In place (y == x) is allowed.
template <class T>
void activation_forward(Activation kind, T slope, std::size_t n, const T* x, T* y) {
  if (kind == Activation::identity) {
    if (x != y) std::memmove(y, x, n * sizeof(T));
    return;
  }
  detail::parallel_simd_for<T, 1, 1>(n, 20.0, {x}, {y}, [&](auto in, auto out) {
    store(out[0], activate<T>(kind, slope, load(in[0])));
  });
}

/// dx = dy * f'(x), with f' computed from the output y = f(x) (every activation here allows
/// that; LeakyReLU needs slope > 0). In place (dx == dy) is allowed.
template <class T>
void activation_backward(Activation kind, T slope, std::size_t n, const T* y, const T* dy, T* dx) {
  using B = simd<T>;
  detail::parallel_simd_for<T, 2, 1>(n, 4.0, {y, dy}, {dx}, [&](auto in, auto out) {
    const B vy = load(in[0]), vdy = load(in[1]);
    B d;
    switch (kind) {
      case Activation::identity: d = vdy; break;
      case Activation::relu: d = select_positive(vy, vdy, B(T(0))); break;
      case Activation::leaky_relu: d = select_positive(vy, vdy, vdy * B(slope)); break;
      case Activation::tanh: d = vdy * (B(T(1)) - vy * vy); break;
      case Activation::sigmoid: d = vdy * vy * (B(T(1)) - vy); break;
    }
    store(out[0], d);
  });
}

/// out[c] += sum_r x[r, c] (Dense bias gradient). Rows are added in order, so the result
/// does not depend on the thread count.
template <class T>
void accumulate_column_sums(int rows, int cols, const T* x, T* out) {
  for (int r = 0; r < rows; ++r)
    detail::simd_for<T, 1, 1>(std::size_t(cols), {x + std::size_t(r) * cols}, {out},
                              [](auto in, auto o) { store(o[0], load(o[0]) + load(in[0])); });
}

/// out[c] += sum_{n, s} x[n, c, s] (convolution bias gradient). Per channel the planes are
/// summed in batch order, lanes reduced in a fixed order: independent of the thread count.
template <class T>
void accumulate_channel_sums(int batch, int channels, int spatial, const T* x, T* out) {
  parallel_for(channels, double(batch) * channels * spatial, [&](std::ptrdiff_t c) {
    simd<T> acc(T(0));
    T tail = 0;
    const std::size_t L = simd_width<T>, full = std::size_t(spatial) / L * L;
    for (int n = 0; n < batch; ++n) {
      const T* plane = x + (std::size_t(n) * channels + c) * spatial;
      for (std::size_t i = 0; i < full; i += L) acc += load(plane + i);
      for (std::size_t i = full; i < std::size_t(spatial); ++i) tail += plane[i];
    }
    out[c] += reduce_sum(acc) + tail;
  });
}

/// y (rows x cols) += x^T, x being cols x rows; parallel over 16-row blocks of y.
template <class T>
void add_transposed(int rows, int cols, const T* x, T* y) {
  // In 16 x 16 tiles, whose lines of x and y stay in L1: row by row, every read of x was a
  // new cache line (ConvTranspose 256->128's 2048 x 256 weight gradient: 764 -> 127 us).
  constexpr int tile = 16;
  parallel_for((rows + tile - 1) / tile, double(rows) * cols, [&](std::ptrdiff_t ib) {
    const int i0 = int(ib) * tile, i1 = std::min(rows, i0 + tile);
    for (int j0 = 0; j0 < cols; j0 += tile) {
      const int j1 = std::min(cols, j0 + tile);
      for (int i = i0; i < i1; ++i) {
        T* yi = y + std::size_t(i) * cols;
        for (int j = j0; j < j1; ++j) yi[j] += x[std::size_t(j) * rows + std::size_t(i)];
      }
    }
  });
}

/// y = x.
template <class T>
void copy(std::size_t n, const T* x, T* y) {
  if (n) std::memcpy(y, x, n * sizeof(T));
}

/// y += a * x.
template <class T>
void axpy(std::size_t n, T a, const T* x, T* y) {
  const simd<T> va(a);
  detail::parallel_simd_for<T, 1, 1>(n, 2.0, {x}, {y}, [&](auto in, auto out) {
    store(out[0], fmadd(va, load(in[0]), load(out[0])));
  });
}

/// avg += rate * (x - avg): one step of an exponential moving average of x.
template <class T>
void moving_average(std::size_t n, T rate, const T* x, T* avg) {
  const simd<T> vr(rate);
  detail::parallel_simd_for<T, 1, 1>(n, 2.0, {x}, {avg}, [&](auto in, auto out) {
    const auto a = load(out[0]);
    store(out[0], fmadd(vr, load(in[0]) - a, a));
  });
}

/// x *= a.
template <class T>
void scale(std::size_t n, T a, T* x) {
  const simd<T> va(a);
  detail::parallel_simd_for<T, 0, 1>(n, 1.0, {}, {x},
                                     [&](auto, auto out) { store(out[0], load(out[0]) * va); });
}

/// Settings of one Adam step, with the bias corrections folded in by the optimizer:
/// p -= step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps), as PyTorch computes it. The
/// optimizer computes 1 - beta in double (as PyTorch does), not in T.
template <class T>
struct AdamStep {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, inv_sqrt_bias2, eps, weight_decay;
};

/// One Adam update of n parameters p from gradients g, moments m and v updated in place.
template <class T>
void adam_update(std::size_t n, const AdamStep<T>& s, const T* g, T* p, T* m, T* v) {
  using B = simd<T>;
  const B b1(s.beta1), b2(s.beta2), one_b1(s.one_minus_beta1), one_b2(s.one_minus_beta2),
      lr(s.step_size), ib2(s.inv_sqrt_bias2), eps(s.eps), wd(s.weight_decay);
  detail::parallel_simd_for<T, 1, 3>(n, 12.0, {g}, {p, m, v}, [&](auto in, auto out) {
    B vg = load(in[0]);
    const B vp = load(out[0]);
    vg = fmadd(wd, vp, vg);
    const B vm = fmadd(b1, load(out[1]), one_b1 * vg);
    const B vv = fmadd(b2, load(out[2]), one_b2 * vg * vg);
    const B denom = fmadd(kernels::sqrt(vv), ib2, eps);
    store(out[0], vp - lr * vm / denom);
    store(out[1], vm);
    store(out[2], vv);
  });
}

/// One SGD step with momentum, as torch.optim.SGD: g += wd p; v = momentum v + g; p -= lr v.
template <class T>
void sgd_update(std::size_t n, T lr, T momentum, T weight_decay, const T* g, T* p, T* v) {
  using B = simd<T>;
  const B vlr(lr), vmom(momentum), vwd(weight_decay);
  detail::parallel_simd_for<T, 1, 2>(n, 6.0, {g}, {p, v}, [&](auto in, auto out) {
    const B vp = load(out[0]);
    const B vv = fmadd(vmom, load(out[1]), fmadd(vwd, vp, load(in[0])));
    store(out[0], vp - vlr * vv);
    store(out[1], vv);
  });
}

/// Whether all n values are finite: x * 0 is 0 for finite x and NaN for infinity or NaN, so
/// one sum tells (it reads the values once; training checks its gradients with it).
template <class T>
bool all_finite(std::size_t n, const T* x) {
  using B = simd<T>;
  B acc(T(0));
  detail::simd_for<T, 1, 0>(n, {x}, {}, [&](auto in, auto) { acc = fmadd(load(in[0]), B(T(0)), acc); });
  return reduce_sum(acc) == T(0);
}

}  // namespace ganad::kernels
