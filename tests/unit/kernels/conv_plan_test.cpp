#include "ganad/ganad.hpp"  // first: see kernels/simd.hpp on <immintrin.h>
#include "ganad/kernels/conv_engine.hpp"

#include <catch2/catch.hpp>

using namespace ganad;
using kernels::ConvMethod;

TEST_CASE("ConvPlan: the batch-minor kernels run when a batch fills 85% of its 32-lane passes", "[kernel][conv][plan]") {
  using P = kernels::ConvPlan;
  CHECK(P::fills_passes(64));
  CHECK(P::fills_passes(256));
  CHECK(P::fills_passes(28));   // 28 of 32 lanes: 87.5%
  CHECK_FALSE(P::fills_passes(27));  // 84.4%
  CHECK_FALSE(P::fills_passes(33));  // 33 of 64 lanes
  CHECK_FALSE(P::fills_passes(1));
}

TEST_CASE("ConvPlan: the seed's DCGAN layers, and the plan in summary()", "[kernel][conv][plan]") {
  using D = models::DcganDiscriminator<float>;
  using G = models::DcganGenerator<float>;
  const auto& conv2 = D::layer_type<2>::geometry;  // Conv 64->128 k5 s2, 14 x 14 -> 7 x 7
  kernels::ConvEngine<float> e(conv2, 128);
  const auto& plan = e.plan();
  CHECK_FALSE(plan.per_sample);
  // Whatever this machine's kernels can do, one batch of 1 never takes a batch-minor kernel,
  // and what the plan says is what runs (the layers' bit-parity tests check the outputs).
  CHECK(plan.lowered(1) != ConvMethod::indirect_convolution);
  CHECK(plan.raised(1) != ConvMethod::phase_decomposition);
  if (plan.indirect_usable) CHECK(plan.lowered(64) == ConvMethod::indirect_convolution);
  if (plan.phased_usable) CHECK(plan.raised(64) == ConvMethod::phase_decomposition);
  CHECK(plan.lowered(64, true) == (plan.indirect_usable ? ConvMethod::indirect_convolution : ConvMethod::im2col_gemm));
  if constexpr (kernels::has_stride2_rows<float>) {  // AVX-512: the machines these figures come from
    CHECK(plan.implicit_usable);
    CHECK(plan.indirect_usable);
    CHECK(plan.phased_usable);
    CHECK(plan.weight_gradient(128, false) == ConvMethod::implicit_gemm);
    CHECK(plan.lowered(1) == ConvMethod::implicit_gemm);
  }
  // The generator's last layer, ConvT 64->1 k7 on 28 x 28: one GEMM per sample.
  const auto& last = G::layer_type<7>::geometry;
  kernels::ConvEngine<float> e2(last, 64);
  CHECK(e2.plan().per_sample);
  CHECK(e2.plan().raised(64) == ConvMethod::gemm_col2im_per_sample);
  CHECK(e2.plan().weight_gradient(64, true) == ConvMethod::im2col_gemm_per_sample);

  const std::string s = D().summary(64);
  CHECK_THAT(s, Catch::Contains("plan at batch 64: forward "));
  CHECK_THAT(s, Catch::Contains("weight gradient "));
  CHECK_THAT(G().summary(1), Catch::Contains("forward GEMM + col2im"));
}
