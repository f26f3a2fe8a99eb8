/// Batch-normalisation kernels over a batch x channels x spatial array: per-channel
/// statistics, the per-channel affine map, and the gradients. Every per-channel sum runs in a
/// fixed order (samples, then positions), so results do not depend on the thread count.
#pragma once

#include <cmath>
#include <cstddef>

#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/simd.hpp"

namespace ganad::kernels {

namespace detail {
/// Sum over n and s of f(plane pointer, s-range) for channel c, lanes reduced at the end.
template <class T, class F>
T channel_reduce(int batch, int channels, int spatial, int c, F&& f) {
  simd<T> acc(T(0));
  T tail = 0;
  const int L = int(simd_width<T>), full = spatial / L * L;
  for (int n = 0; n < batch; ++n) {
    const std::size_t base = (std::size_t(n) * channels + c) * spatial;
    for (int s = 0; s < full; s += L) acc += f.vec(base + s);
    for (int s = full; s < spatial; ++s) tail += f.scalar(base + s);
  }
  return reduce_sum(acc) + tail;
}
}  // namespace detail

/// mean[c] and biased variance var[c] of x over batch and spatial positions (two passes).
template <class T>
void channel_mean_var(int batch, int channels, int spatial, const T* x, T* mean, T* var) {
  const T count = T(batch) * spatial;
  parallel_for(channels, 3.0 * batch * channels * spatial, [&](std::ptrdiff_t c) {
    struct Sum {
      const T* x;
      simd<T> vec(std::size_t i) const { return load(x + i); }
      T scalar(std::size_t i) const { return x[i]; }
    };
    const T m = detail::channel_reduce<T>(batch, channels, spatial, int(c), Sum{x}) / count;
    struct Sq {
      const T* x;
      T m;
      simd<T> vec(std::size_t i) const {
        const simd<T> d = load(x + i) - simd<T>(m);
        return d * d;
      }
      T scalar(std::size_t i) const { return (x[i] - m) * (x[i] - m); }
    };
    mean[c] = m;
    var[c] = detail::channel_reduce<T>(batch, channels, spatial, int(c), Sq{x, m}) / count;
  });
}

/// y[n,c,s] = x[n,c,s] * scale[c] + shift[c]. In place allowed.
template <class T>
void channel_affine(int batch, int channels, int spatial, const T* x, const T* scale, const T* shift, T* y) {
  parallel_for(std::ptrdiff_t(batch) * channels, 2.0 * batch * channels * spatial, [&](std::ptrdiff_t nc) {
    const int c = int(nc % channels);
    const simd<T> a(scale[c]), b(shift[c]);
    const std::size_t base = std::size_t(nc) * spatial;
    ganad::kernels::detail::simd_for<T, 1, 1>(std::size_t(spatial), {x + base}, {y + base}, [&](auto in, auto out) {
      store(out[0], fmadd(load(in[0]), a, b));
    });
  });
}

/// sum_dy[c] = sum dy, sum_dy_xhat[c] = sum dy * (x - mean[c]) * inv_std[c].
template <class T>
void channel_grad_sums(int batch, int channels, int spatial, const T* x, const T* dy, const T* mean,
                       const T* inv_std, T* sum_dy, T* sum_dy_xhat) {
  parallel_for(channels, 4.0 * batch * channels * spatial, [&](std::ptrdiff_t c) {
    struct Dy {
      const T* dy;
      simd<T> vec(std::size_t i) const { return load(dy + i); }
      T scalar(std::size_t i) const { return dy[i]; }
    };
    struct DyX {
      const T *x, *dy;
      T m, s;
      simd<T> vec(std::size_t i) const { return load(dy + i) * ((load(x + i) - simd<T>(m)) * simd<T>(s)); }
      T scalar(std::size_t i) const { return dy[i] * ((x[i] - m) * s); }
    };
    sum_dy[c] = detail::channel_reduce<T>(batch, channels, spatial, int(c), Dy{dy});
    sum_dy_xhat[c] = detail::channel_reduce<T>(batch, channels, spatial, int(c), DyX{x, dy, mean[c], inv_std[c]});
  });
}

/// Training-mode data gradient: with xhat = (x - mean) inv_std and m = batch * spatial,
/// dx = gamma inv_std / m * (m dy - sum_dy - xhat sum_dy_xhat).
template <class T>
void batch_norm_backward_data(int batch, int channels, int spatial, const T* x, const T* dy, const T* mean,
                              const T* inv_std, const T* gamma, const T* sum_dy, const T* sum_dy_xhat, T* dx) {
  const T count = T(batch) * spatial;
  parallel_for(std::ptrdiff_t(batch) * channels, 6.0 * batch * channels * spatial, [&](std::ptrdiff_t nc) {
    const int c = int(nc % channels);
    const T k = gamma[c] * inv_std[c];
    const simd<T> vk(k), vm(mean[c]), vs(inv_std[c]), vmean_dy(sum_dy[c] / count), vmean_dyx(sum_dy_xhat[c] / count);
    const std::size_t base = std::size_t(nc) * spatial;
    ganad::kernels::detail::simd_for<T, 2, 1>(std::size_t(spatial), {x + base, dy + base}, {dx + base}, [&](auto in, auto out) {
      const simd<T> xhat = (load(in[0]) - vm) * vs;
      store(out[0], vk * (load(in[1]) - vmean_dy - xhat * vmean_dyx));
    });
  });
}

}  // namespace ganad::kernels
