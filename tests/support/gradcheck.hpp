// Finite-difference gradient check for anything satisfying ganad::Layer (single layers are
// checked inside a one-layer Sequential, which owns their parameters). style.md B9.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "ganad/core/concepts.hpp"
#include "ganad/core/tensor.hpp"
#include "support/random.hpp"

namespace ganad::test {

struct GradReport {
  double max_rel_error = 0;
  std::string worst;            // where the worst element was
  bool dx_fully_written = true;  // no NaN left in the pre-filled dx
  bool grads_accumulate = true;  // a second backward doubled grads
  bool dx_overwritten = true;    // a second backward left dx bit-identical
  bool forward_repeatable = true;
  bool params_only_match = true;  // backward without dx: the same parameter gradients
  bool skip_matches = true;       // backward with ParamGrads::skip: the same dx, grads untouched
  std::size_t checked = 0;
  std::string describe() const {
    std::ostringstream os;
    os << "max rel error " << max_rel_error << " at " << worst << " over " << checked
       << " elements; dx fully written " << dx_fully_written << ", grads accumulate "
       << grads_accumulate << ", dx overwritten " << dx_overwritten << ", forward repeatable "
       << forward_repeatable << ", params-only backward matches " << params_only_match
       << ", skip backward matches " << skip_matches;
    return os.str();
  }
};

struct GradcheckOptions {
  std::uint64_t seed = 7;
  double input_margin = 0.0;  // keep inputs this far from 0 (kinks of ReLU-like layers)
  double param_scale = 0.0;   // > 0: re-draw parameters uniform in [-scale, scale]
};

/// f = <r, forward(x)> with random r, so dy = r. Checks every input element and every
/// parameter against central differences with h = 1e-6 * max(1, |v|).
template <Layer Net>
GradReport gradcheck(Net& net, int batch, GradcheckOptions opt = {}) {
  using T = typename Net::scalar_type;
  using In = typename Net::in_shape;
  using Out = typename Net::out_shape;
  static_assert(std::is_same_v<T, double>, "gradcheck runs in double");
  GradReport rep;
  Batch<T, In> x(batch), dx(batch), dx2(batch);
  Batch<T, Out> y(batch), y2(batch), r(batch);
  fill_uniform<T>(x.flat(), opt.seed, -1.0, 1.0, opt.input_margin);
  fill_uniform<T>(r.flat(), opt.seed + 1);
  if (opt.param_scale > 0) fill_uniform<T>(net.params(), opt.seed + 2, -opt.param_scale, opt.param_scale);

  auto objective = [&]() {
    net.forward(x.view(), y.view());
    long double f = 0;
    for (std::size_t i = 0; i < y.flat().size(); ++i) f += (long double)r.flat()[i] * y.flat()[i];
    return double(f);
  };

  net.forward(x.view(), y.view());
  net.forward(x.view(), y2.view());
  rep.forward_repeatable = std::equal(y.flat().begin(), y.flat().end(), y2.flat().begin());

  std::ranges::fill(net.grads(), T(0));
  std::ranges::fill(dx.flat(), std::numeric_limits<T>::quiet_NaN());
  net.forward(x.view(), y.view());
  net.backward(x.view(), y.view(), r.view(), dx.view());
  rep.dx_fully_written = std::ranges::none_of(dx.flat(), [](T v) { return std::isnan(v); });
  const std::vector<T> g1(net.grads().begin(), net.grads().end());

  std::ranges::fill(dx2.flat(), std::numeric_limits<T>::quiet_NaN());
  net.backward(x.view(), y.view(), r.view(), dx2.view());
  rep.dx_overwritten = std::equal(dx.flat().begin(), dx.flat().end(), dx2.flat().begin());
  for (std::size_t i = 0; i < g1.size(); ++i) {
    const double want = 2.0 * g1[i], got = net.grads()[i];
    if (std::abs(got - want) > 1e-12 * std::max(1.0, std::abs(want))) rep.grads_accumulate = false;
  }

  // The other two forms of backward, which layers may compute along other paths.
  if constexpr (requires { net.backward(x.view(), y.view(), r.view(), dx.view(), ParamGrads::skip); }) {
    std::ranges::fill(net.grads(), T(0));
    net.backward(x.view(), y.view(), r.view(), BatchView<T, In>{});
    rep.params_only_match = std::equal(g1.begin(), g1.end(), net.grads().begin());
    std::ranges::fill(dx2.flat(), std::numeric_limits<T>::quiet_NaN());
    net.backward(x.view(), y.view(), r.view(), dx2.view(), ParamGrads::skip);
    rep.skip_matches = std::equal(dx.flat().begin(), dx.flat().end(), dx2.flat().begin()) &&
                       std::equal(g1.begin(), g1.end(), net.grads().begin());
  }

  auto check = [&](const char* what, std::size_t i, T& v, double analytic) {
    const T saved = v;
    const double h = 1e-6 * std::max(1.0, std::abs(double(saved)));
    v = T(saved + h);
    const double fp = objective();
    v = T(saved - h);
    const double fm = objective();
    v = saved;
    const double numeric = (fp - fm) / (2 * h);
    const double rel = std::abs(analytic - numeric) /
                       std::max({1.0, std::abs(analytic), std::abs(numeric)});
    ++rep.checked;
    if (!(rel <= rep.max_rel_error)) {  // also catches NaN
      rep.max_rel_error = std::isnan(rel) ? std::numeric_limits<double>::infinity() : rel;
      std::ostringstream os;
      os << what << "[" << i << "]: analytic " << analytic << ", numeric " << numeric;
      rep.worst = os.str();
    }
  };
  for (std::size_t i = 0; i < x.flat().size(); ++i) check("dx", i, x.flat()[i], dx.flat()[i]);
  auto p = net.params();
  for (std::size_t i = 0; i < p.size(); ++i) check("dparam", i, p[i], g1[i]);
  return rep;
}

/// The verdict every layer test asks for (call inside a Catch2 test case).
#define GANAD_REQUIRE_GRADCHECK(rep)                 \
  do {                                               \
    INFO((rep).describe());                          \
    REQUIRE((rep).max_rel_error <= 1e-6);            \
    REQUIRE((rep).dx_fully_written);                 \
    REQUIRE((rep).grads_accumulate);                 \
    REQUIRE((rep).dx_overwritten);                   \
    REQUIRE((rep).forward_repeatable);               \
    REQUIRE((rep).params_only_match);                \
    REQUIRE((rep).skip_matches);                     \
  } while (0)

}  // namespace ganad::test
