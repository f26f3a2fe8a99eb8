// The model families: what GanFor picks, the seed's DCGAN as the family at 28 x 28, and a
// colour and a small family member that train a step and give the shapes they promise.
#include <ganad/ganad.hpp>

#include <catch2/catch.hpp>

#include <type_traits>

using namespace ganad;

static_assert(std::is_same_v<models::ImageGenerator<float, Shape<1, 28, 28>>, models::DcganGeneratorBN<float>>);
static_assert(std::is_same_v<models::ImageDiscriminator<float, Shape<1, 28, 28>>, models::DcganDiscriminator<float>>);
static_assert(std::is_same_v<models::GanFor<float, Flat<30>>, Gan<models::MlpGenerator<float, 30>, models::MlpDiscriminator<float, 30>>>);
static_assert(std::is_same_v<models::ImageGenerator<float, Shape<3, 64, 48>>::out_shape, Shape<3, 64, 48>>);
static_assert(std::is_same_v<models::ImageDiscriminator<double, Shape<3, 128, 128>>::in_shape, Shape<3, 128, 128>>);

TEST_CASE("models::GanFor: image family members train and keep their shapes", "[nn]") {
  models::GanFor<float, Shape<3, 16, 16>> colour({.seed = 3});
  models::GanFor<float, Shape<1, 8, 8>> small({.seed = 3});
  RowMatrix<float> x = RowMatrix<float>::Random(40, 3 * 16 * 16) * 0.5f;
  colour.fit(x, {.epochs = 1, .batch = 8});
  CHECK(colour.steps() == 5);
  CHECK(colour.fixed_samples().data != nullptr);
  const auto s = colour.averaged_discriminator().anomaly_score(x);
  CHECK((s.size() == 40 && s.allFinite()));
  // 8 x 8: one stride-2 stage to 64 x 4 x 4, then the logit.
  const std::string summary = small.discriminator().net().summary();
  CHECK(summary.find("(64, 4, 4)") != std::string::npos);
  CHECK(summary.find("(128, 2, 2)") == std::string::npos);
}
