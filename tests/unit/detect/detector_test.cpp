#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <type_traits>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/files.hpp"
#include "support/image_gan.hpp"

using namespace ganad;
using test::anomalies;
using test::ImgGan;
using test::squares;
using test::trained_gan;

TEST_CASE("Detector: calibration to a false-positive rate, predict, decision function, scaling", "[detect][detector]") {
  auto& gan = trained_gan();
  Detector det{gan, score::Discriminator({.output = DiscriminatorOutput::negative_logit})};
  det.fit(squares(300, 1));
  const auto validation = squares(400, 21);
  det.calibrate(validation, {.false_positive_rate = 0.05});
  const auto flags = det.predict(validation);
  CHECK(flags.sum() <= 20);  // at most 5% of the validation normals
  CHECK(flags.sum() >= 15);  // and not far below: the threshold is tight
  const auto s = det.decision_function(validation);
  CHECK(det.decisions(s) == flags);  // the same 0/1 from scores already computed
  for (int i = 0; i < 400; ++i) CHECK(flags[i] == (s[i] > det.threshold() ? 1 : 0));
  // decision_function is PyOD's: the raw anomaly score, here -logit of the averaged D.
  CHECK(s == -gan.averaged_discriminator().logits(validation));
  const auto odd = anomalies(50, 4);
  const auto scaled = det.scaled_scores(odd);
  CHECK((scaled.minCoeff() >= 0.0 && scaled.maxCoeff() <= 1.0));
  CHECK(scaled.mean() > 0.9);  // anomalies rank above nearly all validation normals
  CHECK(det.scaled_scores(validation).mean() == Approx(0.5).margin(0.05));
  det.set_threshold(1e9);
  CHECK(det.predict(validation).sum() == 0);
  CHECK_THROWS_WITH(det.calibrate(squares(10, 3), {.false_positive_rate = 0.05}), Catch::Contains("at least 20"));
  CHECK_NOTHROW(det.calibrate(squares(10, 3), {.quantile = 0.9}));
}

// Regression: CalibrationOptions{.quantile = 2} was silently ignored (a 5% rate was used).
TEST_CASE("Detector::calibrate: out-of-range or conflicting options are ValueErrors", "[detect][detector][regression]") {
  auto& gan = trained_gan();
  Detector det{gan, score::Discriminator()};
  const auto v = squares(100, 2);
  CHECK_THROWS_WITH(det.calibrate(v, {.quantile = 2}), Catch::Contains("quantile must be in (0, 1), not 2"));
  CHECK_THROWS_WITH(det.calibrate(v, {.false_positive_rate = 0}), Catch::Contains("false_positive_rate must be in (0, 1)"));
  CHECK_THROWS_WITH(det.calibrate(v, {.false_positive_rate = std::numeric_limits<double>::quiet_NaN()}), Catch::Contains("false_positive_rate"));
  CHECK_THROWS_WITH(det.calibrate(v, {.false_positive_rate = 0.1, .quantile = 0.9}), Catch::Contains("not both"));
  CHECK(!det.calibrated());
  CHECK_THROWS_AS(det.set_threshold(std::numeric_limits<double>::infinity()), ValueError);
  det.calibrate(v, {.quantile = 0.9});
  Detector by_rate{gan, score::Discriminator()};
  by_rate.calibrate(v, {.false_positive_rate = 0.1});
  CHECK(det.threshold() == by_rate.threshold());
}

TEST_CASE("Scoring input: wrong columns, NaN, infinity and empty input are named errors", "[detect][input]") {
  auto& gan = trained_gan();
  RowMatrix<float> x = squares(4, 1);
  RowMatrix<float> narrow(3, 35);
  narrow.setZero();
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(narrow), Catch::Contains("36 values") && Catch::Contains("35 columns"));
  x(2, 7) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(x), Catch::Contains("row 2, column 7 is NaN"));
  CHECK_THROWS_WITH(gan.discriminator().logits(x), Catch::Contains("AnomalyDiscriminator::logits: row 2"));
  x(2, 7) = 0;
  x(3, 0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(x), Catch::Contains("row 3, column 0 is infinite"));
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(RowMatrix<float>(0, 36)), Catch::Contains("empty input"));
  Detector det{gan, score::Discriminator()};
  CHECK_THROWS_AS(det.decision_function(narrow), ShapeError);
  CHECK_THROWS_AS(det.fit(narrow), ShapeError);
  const std::vector<float> partial(40, 0.f);
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(partial), Catch::Contains("40 values are not a whole number"));
  // A column-major matrix is read by rows, never misread.
  const RowMatrix<float> rows = squares(5, 8);
  const Eigen::MatrixXf cols = rows;
  CHECK(gan.discriminator().anomaly_score(cols) == gan.discriminator().anomaly_score(rows));
}

// Regression: scorers scored without complaint before fit (an untrained encoder).
TEST_CASE("NotFittedError: every scorer before fit, and decisions before a threshold", "[detect][detector][regression]") {
  auto& gan = trained_gan();
  const auto x = squares(8, 3);
  Detector fm{gan, score::FeatureMatching()};
  Detector knn{gan, score::NearestNeighbours()};
  Detector rec{gan, score::Reconstruction<ImgGan>()};
  Detector w{gan, score::Weighted(score::Discriminator(), score::FeatureMatching())};
  CHECK_THROWS_AS(fm.decision_function(x), NotFittedError);
  CHECK_THROWS_WITH(knn.decision_function(x), Catch::Contains("score::NearestNeighbours: not fitted"));
  CHECK_THROWS_WITH(rec.decision_function(x), Catch::Contains("score::Reconstruction: not fitted"));
  CHECK_THROWS_AS(rec.scorer().anomaly_map(gan, x), NotFittedError);
  CHECK_THROWS_AS(w.decision_function(x), NotFittedError);
  CHECK(!fm.fitted());
  Detector d{gan, score::Discriminator()};
  CHECK(d.fitted());  // learns nothing
  CHECK_THROWS_AS(d.predict(x), NotFittedError);
  CHECK_THROWS_AS(d.decisions(d.decision_function(x)), NotFittedError);
  CHECK_THROWS_AS(d.threshold(), NotFittedError);
  CHECK_THROWS_AS(d.scaled_scores(x), NotFittedError);
  CHECK_NOTHROW(d.decision_function(x));
  fm.fit(squares(64, 1));
  CHECK(fm.fitted());
  CHECK_NOTHROW(fm.decision_function(x));
}

namespace {
// Train/fit/calibrate det, save it, load it into a detector on another GAN; both must give
// the same bits for every output.
template <class MakeScorer>
void check_round_trip(MakeScorer make, const char* file) {
  auto& gan = trained_gan();
  Detector det{gan, make()};
  det.fit(squares(128, 1));
  det.calibrate(squares(100, 2), {.false_positive_rate = 0.05});
  const std::string path = test::temp_path(file);
  save(det, path);
  ImgGan other({.seed = 99});
  Detector back{other, make()};
  load(back, path);
  const RowMatrix<float> x = (RowMatrix<float>(60, 36) << squares(30, 5), test::anomalies(30, 6)).finished();
  CHECK(back.threshold() == det.threshold());
  CHECK(back.decision_function(x) == det.decision_function(x));
  CHECK(back.predict(x) == det.predict(x));
  CHECK(back.scaled_scores(x) == det.scaled_scores(x));
  CHECK(std::ranges::equal(other.generator().params(), gan.generator().params()));
  std::remove(path.c_str());
}
}  // namespace

TEST_CASE("Detector: saves and loads whole (GAN, scorer state, threshold); scores identical after load", "[detect][detector][serialize]") {
  check_round_trip([] { return score::Discriminator({.output = DiscriminatorOutput::negative_logit}); }, "det_d.ganad");
  check_round_trip([] { return score::FeatureMatching(); }, "det_fm.ganad");
  check_round_trip([] { return score::NearestNeighbours({.k = 3, .max_references = 100}); }, "det_knn.ganad");
  check_round_trip([] {
    return score::NearestNeighbours({.input_scaling = score::FeatureScaling::standardize, .discriminator_scaling = score::FeatureScaling::none, .input_share = 0.7});
  }, "det_knn2.ganad");
  check_round_trip([] { return score::Reconstruction<ImgGan>({.epochs = 2, .batch = 32}); }, "det_rec.ganad");
  check_round_trip([] { return score::Weighted(score::Discriminator(), score::FeatureMatching()); }, "det_w.ganad");
}

TEST_CASE("Detector files: options come from the file; another scorer or a bad count is refused, the detector untouched", "[detect][detector][serialize]") {
  auto& gan = trained_gan();
  Detector det{gan, score::NearestNeighbours({.k = 7})};
  det.fit(squares(64, 1));
  det.calibrate(squares(40, 2), {.false_positive_rate = 0.1});
  const std::string path = test::temp_path("det_opts.ganad");
  save(det, path);
  ImgGan other({.seed = 5});
  Detector back{other, score::NearestNeighbours({.k = 1})};
  load(back, path);
  CHECK(back.scorer().options().k == 7);
  CHECK(back.scorer().options().input_share == 0.35);
  CHECK(back.scorer().references() == 64);

  ImgGan g3({.seed = 6});
  Detector wrong{g3, score::FeatureMatching()};
  CHECK_THROWS_WITH(load(wrong, path), Catch::Contains("another architecture") && Catch::Contains("score::NearestNeighbours"));
  CHECK(!wrong.fitted());

  // A reference count that does not fit the file, with the checksum made valid again: refused,
  // and the target keeps its GAN and scorer as they were.
  auto bytes = test::read_all(path);
  ByteWriter gan_only;
  gan.save_state(gan_only);
  const std::size_t header = 8 + 4 + 4 + 8 + 4 + det.describe().size() + 8;
  // k, space and the two scalings, input_share, max_references, seed, averaged, the two part
  // sizes, then a double shift and scale per feature
  const std::size_t count_at = header + gan_only.bytes().size() + 8 + 3 + 8 + 8 + 8 + 1 + 8 + 8 + 2 * 8 * det.scorer().feature_size();
  for (int b = 0; b < 8; ++b) bytes[count_at + std::size_t(b)] = 0xff;
  const auto sum = fnv1a64(std::span<const unsigned char>(bytes).first(bytes.size() - 8));
  for (int b = 0; b < 8; ++b) bytes[bytes.size() - 8 + std::size_t(b)] = (unsigned char)(sum >> (8 * b));
  test::write_all(path, bytes);
  ImgGan g4({.seed = 7});
  Detector target{g4, score::NearestNeighbours()};
  target.fit(squares(32, 9));
  const auto before = target.decision_function(squares(10, 4));
  CHECK_THROWS_WITH(load(target, path), Catch::Contains("do not fit"));
  CHECK(target.decision_function(squares(10, 4)) == before);
  CHECK(target.scorer().references() == 32);
  std::remove(path.c_str());
}

TEST_CASE("Detector: without a scorer named, the default is score::NearestNeighbours with its defaults", "[detect][detector]") {
  auto& gan = trained_gan();
  Detector det{gan};
  static_assert(std::is_same_v<decltype(det), Detector<ImgGan, score::NearestNeighbours>>);
  const auto& o = det.scorer().options();
  CHECK((o.space == score::FeatureSpace::input_and_discriminator && o.input_scaling == score::FeatureScaling::none &&
         !o.discriminator_scaling && o.input_share == 0.35 && o.k == 5 && o.averaged));
  det.fit(squares(256, 1));
  CHECK(det.scorer().discriminator_scaling() == score::FeatureScaling::unit_length);  // the default for images
  const auto [normal, odd] = test::mean_scores(det);
  CHECK(odd > 2 * normal);
}

TEST_CASE("Detector: a steady stream of decision_function and predict calls allocates nothing after the first", "[detect][detector][alloc]") {
  auto& gan = trained_gan();
  Detector det{gan, score::NearestNeighbours({.k = 3})};
  det.fit(squares(128, 1));
  det.calibrate(squares(60, 2), {.false_positive_rate = 0.05});
  const auto x = squares(300, 3);  // two chunks
  (void)det.decision_function(x);
  (void)det.predict(x);
  // The results' storage comes from Eigen's malloc, which this counter does not see.
  const auto before = test::all_allocations();
  (void)det.decision_function(x);
  (void)det.predict(x);
  CHECK(test::all_allocations() == before);
}
