/// Plain scalar loops: the oracle that tests and benchmarks compare the kernels against.
/// Never used by layers.
#pragma once

#include <cmath>
#include <cstddef>

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
