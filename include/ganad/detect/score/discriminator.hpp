/// score::Discriminator: the seed's score, 1 - D(x), or -logit, which ranks the same without
/// the ties float saturation makes. Learns nothing: it scores as soon as the GAN is trained.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ganad/detect/scorer.hpp"

namespace ganad::score {

struct DiscriminatorOptions {
  /// anomaly_score (1 - D(x)) or negative_logit; logit would rank normal data highest and is refused.
  DiscriminatorOutput output = DiscriminatorOutput::anomaly_score;
  bool averaged = true;  ///< score with Gan::averaged_discriminator() (false: the trained D's last weights)
};

class Discriminator {
 public:
  static constexpr std::string_view name() { return "discriminator"; }
  explicit Discriminator(DiscriminatorOptions options = {}) : options_(validated(options)) {}
  [[nodiscard]] const DiscriminatorOptions& options() const { return options_; }
  [[nodiscard]] bool fitted() const { return true; }

  template <class Gan>
  void score(Gan& gan, ConstBatchView<typename Gan::T, typename Gan::image_shape> x, std::span<typename Gan::T> out) {
    detail::scoring_discriminator(gan, options_.averaged).score_batch(x, options_.output, out);
  }

  [[nodiscard]] std::string describe() const { return "score::Discriminator"; }
  void save_state(ByteWriter& w) const {
    w.put(std::uint8_t(options_.output));
    w.put(std::uint8_t(options_.averaged));
  }
  void load_state(ByteReader& r) {
    DiscriminatorOptions o;
    const auto output = r.get<std::uint8_t>();
    if (output > std::uint8_t(DiscriminatorOutput::logit)) throw FormatError("score::Discriminator: unknown output kind");
    o.output = DiscriminatorOutput(output);
    o.averaged = r.get<std::uint8_t>() != 0;
    options_ = validated(o);
  }

 private:
  static DiscriminatorOptions validated(DiscriminatorOptions o) {
    if (o.output == DiscriminatorOutput::logit)
      throw ValueError("score::Discriminator: output = logit ranks normal data highest; use anomaly_score or negative_logit");
    return o;
  }
  DiscriminatorOptions options_;
};

}  // namespace ganad::score
