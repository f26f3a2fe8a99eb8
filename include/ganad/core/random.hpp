/// ganad's own random numbers: xoshiro256** seeded through splitmix64, with uniform and
/// normal draws whose values are the same with any compiler and standard library (no
/// std::normal_distribution, no libm transcendental functions: see detail::log_unit).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <utility>

namespace ganad {

namespace detail {

/// splitmix64 (Vigna): turns one seed into well-mixed words for the generator state.
inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The two functions below use only +, -, *, / and std::fma, which IEEE 754 rounds exactly
// the same everywhere. Every product that feeds a sum is an explicit std::fma, so a compiler
// that contracts a*b+c on its own has nothing left to contract. That makes normal draws
// bit-identical across compilers and libms, which std::log / std::cos do not promise.

/// Natural log of x in (0, 1], to about 1 ulp.
inline double log_unit(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1); exact
  if (m < 0.70710678118654752440) {
    m *= 2.0;  // exact
    e -= 1;
  }
  const double s = (m - 1.0) / (m + 1.0);  // |s| <= 0.1716
  const double s2 = s * s;
  // log(m) = 2 s (1 + s^2/3 + s^4/5 + ...); the s^24 term is below 2^-60.
  double p = 1.0 / 27.0;
  for (int k = 12; k >= 0; --k) p = std::fma(p, s2, 1.0 / (2.0 * k + 1.0));
  const double log_m = (2.0 * s) * p;
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // ln 2 split so e*ln2_hi is exact
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  return std::fma(double(e), ln2_hi, std::fma(double(e), ln2_lo, log_m));
}

/// (-1)^k / (2k+1)! and (-1)^k / (2k)!, k = 0..12, folded at compile time.
inline constexpr auto taylor_sin = [] {
  std::array<double, 13> c{};
  double f = 1.0;
  for (int k = 0; k < 13; ++k) {
    if (k > 0) f = f / (2.0 * k) / (2.0 * k + 1.0);
    c[k] = k % 2 ? -f : f;
  }
  return c;
}();
inline constexpr auto taylor_cos = [] {
  std::array<double, 13> c{};
  double f = 1.0;
  for (int k = 0; k < 13; ++k) {
    if (k > 0) f = f / (2.0 * k - 1.0) / (2.0 * k);
    c[k] = k % 2 ? -f : f;
  }
  return c;
}();

/// sin and cos of 2*pi*u for u in [0, 1), to about 1 ulp.
inline std::pair<double, double> sincos_turn(double u) {
  const double t = u * 4.0;  // exact
  const int quadrant = int(t);
  const double r = t - quadrant;  // exact, in [0, 1)
  const double x = r * 1.57079632679489661923;
  const double x2 = x * x;
  // Taylor series on [0, pi/2): the x^26 term is below 1e-19.
  double ps = 0.0, pc = 0.0;
  for (int k = 12; k >= 0; --k) {
    ps = std::fma(ps, x2, taylor_sin[k]);
    pc = std::fma(pc, x2, taylor_cos[k]);
  }
  const double s = x * ps, c = pc;
  switch (quadrant) {
    case 0: return {s, c};
    case 1: return {c, -s};
    case 2: return {-s, -c};
    default: return {-c, s};
  }
}

}  // namespace detail

/// Seeded generator: xoshiro256** (Blackman & Vigna). Satisfies UniformRandomBitGenerator.
/// Copy it to fork a stream; state() / set_state() save and restore it exactly.
class Rng {
 public:
  using result_type = std::uint64_t;
  struct State {
    std::array<std::uint64_t, 4> words{};
    bool has_spare = false;  // Box-Muller makes normals in pairs; the second waits here
    double spare = 0.0;
    bool operator==(const State&) const = default;
  };

  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& w : state_.words) w = detail::splitmix64(x);
    state_.has_spare = false;
    state_.spare = 0.0;
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type(0); }
  result_type operator()() { return next_u64(); }

  std::uint64_t next_u64() {
    auto& s = state_.words;
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }

  /// Uniform in [0, 1), a multiple of 2^-53.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return std::fma(hi - lo, uniform(), lo); }

  /// Standard normal, Box-Muller on (0,1] x [0,1).
  double normal() {
    if (state_.has_spare) {
      state_.has_spare = false;
      return state_.spare;
    }
    const double u1 = double((next_u64() >> 11) + 1) * 0x1.0p-53;  // (0, 1]: log is finite
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * detail::log_unit(u1));
    const auto [s, c] = detail::sincos_turn(u2);
    state_.spare = radius * s;
    state_.has_spare = true;
    return radius * c;
  }
  double normal(double mean, double stddev) { return std::fma(stddev, normal(), mean); }

  /// Uniform integer in [0, n), unbiased (rejection), for n >= 1.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = next_u64();
      if (x >= threshold) return x % n;
    }
  }

  /// Fisher-Yates; std::shuffle's algorithm differs between standard libraries.
  template <std::random_access_iterator It>
  void shuffle(It first, It last) {
    const auto n = std::uint64_t(last - first);
    for (std::uint64_t i = n; i > 1; --i) {
      const auto j = below(i);
      using std::swap;
      swap(first[i - 1], first[j]);
    }
  }

  [[nodiscard]] const State& state() const { return state_; }
  void set_state(const State& s) { state_ = s; }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  State state_;
};

}  // namespace ganad
