/// Plain scalar loops: the oracle that tests and benchmarks compare the kernels against.
/// Never used by layers.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "ganad/kernels/eltwise.hpp"
#include "ganad/kernels/gemm.hpp"

namespace ganad::kernels::reference {

/// C = alpha * op(A) * op(B) + beta * C, summed in long double.
template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      long double s = 0;
      for (int k = 0; k < K; ++k) {
        const T a = ta == Trans::no ? A[std::size_t(i) * lda + k] : A[std::size_t(k) * lda + i];
        const T b = tb == Trans::no ? B[std::size_t(k) * ldb + j] : B[std::size_t(j) * ldb + k];
        s += (long double)a * b;
      }
      T& c = C[std::size_t(i) * ldc + j];
      c = T(alpha * s + (beta == T(0) ? 0.0L : (long double)beta * c));
    }
}

template <class T>
T activate(Activation kind, T slope, T x) {
  switch (kind) {
    case Activation::identity: return x;
    case Activation::relu: return x > 0 ? x : T(0);
    case Activation::leaky_relu: return x > 0 ? x : slope * x;
    case Activation::tanh: return std::tanh(x);
    case Activation::sigmoid: return T(1) / (T(1) + std::exp(-x));
  }
  return x;
}

/// dx = dy * f'(x), from y = f(x).
template <class T>
T activation_derivative(Activation kind, T slope, T y) {
  switch (kind) {
    case Activation::identity: return T(1);
    case Activation::relu: return y > 0 ? T(1) : T(0);
    case Activation::leaky_relu: return y > 0 ? T(1) : slope;
    case Activation::tanh: return T(1) - y * y;
    case Activation::sigmoid: return y * (T(1) - y);
  }
  return T(1);
}

}  // namespace ganad::kernels::reference

namespace ganad::kernels::reference {

/// Direct convolution (the 7-loop definition), in long double:
/// y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] x[n,c, i*S+u-pt, j*S+v-pl], x = 0 outside.
template <class T>
void conv2d(int batch, int C, int H, int W, int O, int K, int S, int pt, int pl, int OH, int OW,
            const T* x, const T* w, const T* b, T* y) {
  for (int n = 0; n < batch; ++n)
    for (int o = 0; o < O; ++o)
      for (int i = 0; i < OH; ++i)
        for (int j = 0; j < OW; ++j) {
          long double s = b ? b[o] : T(0);
          for (int c = 0; c < C; ++c)
            for (int u = 0; u < K; ++u)
              for (int v = 0; v < K; ++v) {
                const int p = i * S + u - pt, q = j * S + v - pl;
                if (p < 0 || p >= H || q < 0 || q >= W) continue;
                s += (long double)w[((std::size_t(o) * C + c) * K + u) * K + v] *
                     x[((std::size_t(n) * C + c) * H + p) * W + q];
              }
          y[((std::size_t(n) * O + o) * OH + i) * OW + j] = T(s);
        }
}

/// Direct transposed convolution: the scatter form of Conv2D's data gradient,
/// y[n,o,p,q] = b[o] + sum over (c,u,v,i,j) with i*S+u-pt = p, j*S+v-pl = q of w[c,o,u,v] x[n,c,i,j].
template <class T>
void conv_transpose2d(int batch, int C, int H, int W, int O, int K, int S, int pt, int pl, int OH,
                      int OW, const T* x, const T* w, const T* b, T* y) {
  std::vector<long double> acc(std::size_t(batch) * O * OH * OW, 0.0L);
  for (int n = 0; n < batch; ++n)
    for (int o = 0; o < O; ++o)
      for (int p = 0; p < OH * OW; ++p) acc[(std::size_t(n) * O + o) * OH * OW + p] = b ? b[o] : T(0);
  for (int n = 0; n < batch; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j)
          for (int o = 0; o < O; ++o)
            for (int u = 0; u < K; ++u)
              for (int v = 0; v < K; ++v) {
                const int p = i * S + u - pt, q = j * S + v - pl;
                if (p < 0 || p >= OH || q < 0 || q >= OW) continue;
                acc[((std::size_t(n) * O + o) * OH + p) * OW + q] +=
                    (long double)w[((std::size_t(c) * O + o) * K + u) * K + v] * x[((std::size_t(n) * C + c) * H + i) * W + j];
              }
  for (std::size_t i = 0; i < acc.size(); ++i) y[i] = T(acc[i]);
}

}  // namespace ganad::kernels::reference
