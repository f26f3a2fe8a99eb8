// The scorers on the synthetic table of the scoring study (examples/scoring_study): what each
// sees of anomalies that differ in scale, in correlation and off the data's manifold. The
// figures are bits of fixed seeds (the same on any thread count); the bounds leave room.
#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "scoring_study/synthetic.hpp"

using namespace ganad;

namespace {
using TableGan = Gan<models::MlpGenerator<float, study::synthetic_features>, models::MlpDiscriminator<float, study::synthetic_features>>;

struct Study {
  study::Table train = study::Synthetic().draw(1000, 0, 1), test = study::Synthetic().draw(300, 60, 3);
  /// AUROC of normal test rows against each anomaly kind (scale, correlation break, off-manifold).
  [[nodiscard]] std::array<double, 3> auroc_by_kind(const ScoreVector<float>& s) const {
    std::array<double, 3> out{};
    for (int k = 1; k <= 3; ++k) {
      std::vector<float> ks;
      std::vector<int> ky;
      for (std::size_t i = 0; i < test.kind.size(); ++i)
        if (int(test.kind[i]) == 0 || int(test.kind[i]) == k) ks.push_back(s[Eigen::Index(i)]), ky.push_back(test.label[i]);
      out[std::size_t(k - 1)] = metrics::auroc(ks, ky);
    }
    return out;
  }
};
}  // namespace

TEST_CASE("Synthetic table: the default scorer sees every kind; the blind spots of the others and of D without negatives",
          "[detect][scorers][synthetic]") {
  const Study st;
  TableGan gan({.seed = 0});
  gan.fit(st.train.x, {.epochs = 100, .batch = 64});
  auto by_kind = [&](auto scorer) {
    Detector det{gan, scorer};
    det.fit(st.train.x);
    return st.auroc_by_kind(det.decision_function(st.test.x));
  };
  score::NearestNeighbours knn;
  knn.fit(gan, st.train.x);
  CHECK(knn.discriminator_scaling() == score::FeatureScaling::none);  // the default for tables
  const auto def = by_kind(score::NearestNeighbours());
  const auto d = by_kind(score::Discriminator());
  const auto input_unit = by_kind(score::NearestNeighbours({.space = score::FeatureSpace::input, .input_scaling = score::FeatureScaling::unit_length}));
  INFO("AUROC scale / correlation break / off-manifold: default " << def[0] << " " << def[1] << " " << def[2] << "; 1 - D(x) " << d[0] << " "
                                                                  << d[1] << " " << d[2] << "; input kNN, unit length " << input_unit[0] << " "
                                                                  << input_unit[1] << " " << input_unit[2]);
  CHECK(def[0] > 0.9);
  CHECK(def[1] > 0.9);
  CHECK(def[2] > 0.8);
  for (double a : d) CHECK(a > 0.75);  // with the table default of negatives for D
  CHECK(input_unit[0] < 0.65);         // unit length throws away magnitude: blind to scale
  CHECK(input_unit[1] > 0.9);

  TableGan plain({.seed = 0, .negative_weight = 0.0});
  plain.fit(st.train.x, {.epochs = 100, .batch = 64});
  Detector det{plain, score::Discriminator()};
  const auto d0 = st.auroc_by_kind(det.decision_function(st.test.x));
  INFO("1 - D(x) without negatives: " << d0[0] << " " << d0[1] << " " << d0[2]);
  CHECK(d0[0] < 0.5);  // D's output away from the data is arbitrary: larger rows look more real
}
