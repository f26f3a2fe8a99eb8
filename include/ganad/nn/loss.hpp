/// Binary cross-entropy on logits, the GAN's loss: stable for any logit (never log(sigmoid)).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

namespace ganad {

/// sigmoid(z) without overflow for any z.
template <class T>
T stable_sigmoid(T z) {
  if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
  const T e = std::exp(z);
  return e / (T(1) + e);
}

/// log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
template <class T>
T softplus(T z) {
  return std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)));
}

/// Mean binary cross-entropy of logits z against one target t for the whole batch:
///   loss = mean_n [ softplus(z_n) - t z_n ],  dz_n = (sigmoid(z_n) - t) / N (written to dlogits).
/// Also returns mean sigmoid(z), the mean D(x). One-sided label smoothing is t = 0.9 for reals.
struct BceResult {
  double loss;
  double mean_probability;
};
template <class T>
BceResult bce_with_logits(std::span<const T> logits, T target, std::span<T> dlogits) {
  const std::size_t n = logits.size();
  double loss = 0, prob = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T z = logits[i];
    const T p = stable_sigmoid(z);
    loss += double(softplus(z) - target * z);
    prob += double(p);
    if (!dlogits.empty()) dlogits[i] = (p - target) / T(n);
  }
  return {n ? loss / double(n) : 0.0, n ? prob / double(n) : 0.0};
}

}  // namespace ganad
