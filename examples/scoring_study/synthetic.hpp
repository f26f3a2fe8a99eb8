// A synthetic table with anomalies of known kinds, to show each scorer's blind spots on small
// data: normal rows lie near a 4-dimensional linear manifold in 16 features; anomalies are
// normal rows scaled up (same direction, larger magnitude), rows whose features come from
// different normal rows (every marginal normal, the correlations broken), and rows moved off
// the manifold by less than the spread along it.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>


#include <ganad/ganad.hpp>

namespace study {

inline constexpr int synthetic_features = 16;

enum class AnomalyKind { normal = 0, scale = 1, correlation_break = 2, off_manifold = 3 };
inline const char* kind_name(AnomalyKind k) {
  switch (k) {
    case AnomalyKind::scale: return "scale";
    case AnomalyKind::correlation_break: return "correlation_break";
    case AnomalyKind::off_manifold: return "off_manifold";
    default: return "normal";
  }
}

struct Table {
  ganad::RowMatrix<float> x;
  std::vector<int> label;          // 1 = anomaly
  std::vector<AnomalyKind> kind;
};

class Synthetic {
 public:
  static constexpr int N = synthetic_features, rank = 4;
  static constexpr double noise = 0.15;
  /// The manifold is the same for every seed; the rows drawn from it are the seed's.
  Synthetic() {
    ganad::Rng rng(20261205);
    for (auto& row : a_) {
      double len2 = 0;
      for (double& v : row) v = rng.normal(), len2 += v * v;
      for (double& v : row) v *= std::sqrt((1.0 - noise * noise) / len2);  // every feature has variance 1
    }
    for (int r = 0; r < rank; ++r) {  // an orthonormal basis of the manifold: Gram-Schmidt on a_'s columns
      auto& b = basis_[std::size_t(r)];
      for (int j = 0; j < N; ++j) b[std::size_t(j)] = a_[std::size_t(j)][std::size_t(r)];
      for (int q = 0; q < r; ++q) remove(b, basis_[std::size_t(q)]);
      normalize(b);
    }
  }

  /// `normal` normal rows, then `per_kind` anomalies of each kind, from `seed`.
  [[nodiscard]] Table draw(int normal, int per_kind, std::uint64_t seed) const {
    ganad::Rng rng(seed);
    Table t;
    const int n = normal + 3 * per_kind;
    t.x.resize(n, N);
    for (int i = 0; i < n; ++i) {
      const auto kind = i < normal ? AnomalyKind::normal : AnomalyKind(1 + (i - normal) / per_kind);
      t.kind.push_back(kind);
      t.label.push_back(kind == AnomalyKind::normal ? 0 : 1);
      std::array<double, N> row = sample(rng);
      if (kind == AnomalyKind::scale) {
        for (double& v : row) v *= 2.5;
      } else if (kind == AnomalyKind::correlation_break) {
        for (int j = 0; j < N; ++j) row[std::size_t(j)] = sample(rng)[std::size_t(j)];
      } else if (kind == AnomalyKind::off_manifold) {
        // A random direction with its part along the manifold removed, length 1.2: about
        // eight times the noise's spread in any one direction, less than the spread along it.
        std::array<double, N> u{};
        for (double& v : u) v = rng.normal();
        for (const auto& b : basis_) remove(u, b);
        normalize(u);
        for (int j = 0; j < N; ++j) row[std::size_t(j)] += 1.2 * u[std::size_t(j)];
      }
      for (int j = 0; j < N; ++j) t.x(i, j) = float(row[std::size_t(j)]);
    }
    return t;
  }

 private:
  std::array<double, N> sample(ganad::Rng& rng) const {
    double z[rank];
    for (double& v : z) v = rng.normal();
    std::array<double, N> row{};
    for (int j = 0; j < N; ++j) {
      double v = noise * rng.normal();
      for (int r = 0; r < rank; ++r) v += a_[std::size_t(j)][std::size_t(r)] * z[r];
      row[std::size_t(j)] = v;
    }
    return row;
  }
  static void remove(std::array<double, N>& u, const std::array<double, N>& b) {  // u -= (u.b) b, b of length 1
    double dot = 0;
    for (int j = 0; j < N; ++j) dot += u[std::size_t(j)] * b[std::size_t(j)];
    for (int j = 0; j < N; ++j) u[std::size_t(j)] -= dot * b[std::size_t(j)];
  }
  static void normalize(std::array<double, N>& u) {
    double len2 = 0;
    for (double v : u) len2 += v * v;
    for (double& v : u) v /= std::sqrt(len2);
  }

  std::array<std::array<double, rank>, N> a_{};
  std::array<std::array<double, N>, rank> basis_{};
};

}  // namespace study
