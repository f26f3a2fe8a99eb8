/// AnomalyDiscriminator<Net>: the GAN's discriminator network (one logit per sample) and the
/// seed's anomaly score, 1 - D(x), computed from it.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"

namespace ganad {

namespace detail {
template <class Out>
struct assert_one_logit {
  static_assert(std::is_same_v<Out, Flat<1>>,
                "Gan: the discriminator must end in one logit per sample (for example Flatten, Dense<1>); "
                "its output shape is the argument of assert_one_logit named above");
  static constexpr bool value = true;
};
}  // namespace detail

/// Owns the discriminator network D (logits, no sigmoid) and scores inputs with it.
template <class Net>
class AnomalyDiscriminator {
  static_assert(detail::assert_one_logit<typename Net::out_shape>::value);

 public:
  using net_type = Net;
  using scalar_type = typename Net::scalar_type;
  using in_shape = typename Net::in_shape;

  explicit AnomalyDiscriminator(const InitOptions& init = {}) : net_(init) {}

  [[nodiscard]] Net& net() { return net_; }
  [[nodiscard]] const Net& net() const { return net_; }

 private:
  Net net_;
};

}  // namespace ganad
