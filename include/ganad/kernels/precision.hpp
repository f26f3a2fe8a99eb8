/// The precision of the products (GEMMs) a thread runs, set by a scope as PyTorch's autocast:
/// fp32 by default; bf16 rounds both operands of each tiled product to bfloat16 (round to
/// nearest even) and sums in fp32, on machines with AVX512_BF16, and stays fp32 elsewhere.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

#include "ganad/core/error.hpp"

namespace ganad {

/// The precision of a network's matrix products (docs/guide.md, "Precision").
enum class Precision : std::uint8_t {
  fp32,  ///< float products: the reference, and the default
  bf16   ///< operands rounded to bfloat16, products summed in fp32 (AVX512_BF16; fp32 without it)
};

[[nodiscard]] inline const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }
/// "fp32" or "bf16"; a ValueError naming `who` otherwise.
[[nodiscard]] inline Precision parse_precision(std::string_view s, const char* who) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  throw ValueError(std::string(who) + ": precision must be fp32 or bf16, not '" + std::string(s) + "'");
}

namespace kernels {

/// Whether this build has the bf16 kernels (compiled with AVX512_BF16, e.g. -march=native on
/// such a machine).
inline constexpr bool bf16_compiled =
#if defined(__AVX512BF16__) && defined(__AVX512F__)
    true;
#else
    false;
#endif

/// Whether bf16 products run here: compiled in and the CPU has AVX512_BF16. Where not,
/// Precision::bf16 runs the fp32 products (the same API, fp32's bits).
[[nodiscard]] inline bool bf16_supported() {
#if defined(__AVX512BF16__) && defined(__AVX512F__) && (defined(__x86_64__) || defined(__i386__))
  static const bool cpu = __builtin_cpu_supports("avx512bf16");
  return cpu;
#else
  return false;
#endif
}

/// The precision that runs when `p` is asked for: bf16 only where bf16_supported().
[[nodiscard]] inline Precision effective(Precision p) {
  return p == Precision::bf16 && bf16_supported() ? Precision::bf16 : Precision::fp32;
}

namespace detail {
inline thread_local Precision thread_precision = Precision::fp32;
}

/// The precision this thread's products run in now (already effective()).
[[nodiscard]] inline Precision product_precision() { return detail::thread_precision; }

/// Sets this thread's product precision for the scope's lifetime (parallel_for hands it to
/// its worker threads); nests, restoring the previous one.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p) : previous_(detail::thread_precision) { detail::thread_precision = effective(p); }
  ~PrecisionScope() { detail::thread_precision = previous_; }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

/// x rounded to bfloat16 (its upper 16 bits), round to nearest even, as VCVTNEPS2BF16 does:
/// subnormal inputs become a zero of their sign, NaNs stay quiet NaNs.
[[nodiscard]] inline std::uint16_t to_bf16_bits(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40u);  // NaN: quiet
  if ((u & 0x7f800000u) == 0) return std::uint16_t((u >> 16) & 0x8000u);        // zero or subnormal
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}
/// The float a bfloat16 stands for (exact).
[[nodiscard]] inline float from_bf16_bits(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }
/// x rounded to bfloat16 and back: the value a bf16 product uses for x.
[[nodiscard]] inline float round_to_bf16(float x) { return from_bf16_bits(to_bf16_bits(x)); }

}  // namespace kernels
}  // namespace ganad
