#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/random.hpp"

using namespace ganad;

namespace {

using ImgG = Sequential<float, Flat<4>, Dense<2 * 3 * 3>, LeakyReLU<>, Reshape<Shape<2, 3, 3>>,
                        ConvTranspose2D<4, 4, Stride<2>, Same>, LeakyReLU<>, ConvTranspose2D<1, 3, Stride<1>, Same>, Tanh>;
using ImgD = Sequential<float, Shape<1, 6, 6>, Conv2D<8, 3, Stride<2>, Same>, LeakyReLU<>, Flatten, Dense<1>>;
using ImgGan = Gan<ImgG, ImgD>;
constexpr int P = 36;

// Normal: a bright 3x3 square on a dark 6x6 image; anomalies: a bright cross / noise.
RowMatrix<float> squares(int n, std::uint64_t seed) {
  RowMatrix<float> m(n, P);
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int r = int(rng.below(4)), c = int(rng.below(4));
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x)
        m(i, y * 6 + x) = (y >= r && y < r + 3 && x >= c && x < c + 3 ? 0.8f : -0.8f) + float(rng.normal(0, 0.05));
  }
  return m;
}
RowMatrix<float> anomalies(int n, std::uint64_t seed) {
  RowMatrix<float> m(n, P);
  Rng rng(seed);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < P; ++j) m(i, j) = float(rng.uniform(-1, 1));
  return m;
}
ConstBatchView<float, Shape<1, 6, 6>> view(const RowMatrix<float>& m) { return {m.data(), int(m.rows())}; }

ImgGan& trained_gan() {  // trained once, shared by the tests below (they only read it)
  static ImgGan gan = [] {
    // 30 epochs leave G blurry (nothing to reconstruct with); 200 at 5e-4 make squares.
    ImgGan g({.seed = 3, .g_optimizer = {.lr = 5e-4}, .d_optimizer = {.lr = 5e-4}});
    const auto data = squares(512, 1);
    g.fit(view(data), {.epochs = 200, .batch = 64});
    return g;
  }();
  return gan;
}

template <class Scorer>
std::pair<double, double> mean_scores(Detector<ImgGan, Scorer>& det) {
  const auto normal = squares(200, 77), odd = anomalies(200, 78);
  return {double(det.scores(normal).mean()), double(det.scores(odd).mean())};
}

}  // namespace

TEST_CASE("metrics: AUROC and average precision on cases worked out by hand, with ties", "[scoring][metrics]") {
  const std::vector<double> s = {0.1, 0.4, 0.35, 0.8};
  const std::vector<int> y = {0, 0, 1, 1};
  CHECK(metrics::auroc<double>(s, y) == Approx(0.75));              // 3 of 4 pairs ordered
  CHECK(metrics::average_precision<double>(s, y) == Approx(5.0 / 6));  // 0.5 * 1 + 0.5 * 2/3
  const std::vector<double> tied = {0.5, 0.5, 0.5, 0.9};
  const std::vector<int> ty = {0, 1, 0, 1};
  CHECK(metrics::auroc<double>(tied, ty) == Approx(0.75));  // ties count half: (0.5 + 0.5 + 1 + 1) / 4
  CHECK(metrics::average_precision<double>(tied, ty) == Approx(0.75));
  const std::vector<double> all_tied = {1, 1, 1, 1};
  CHECK(metrics::auroc<double>(all_tied, ty) == Approx(0.5));
  const auto roc = metrics::roc_curve<double>(s, y);
  REQUIRE(roc.size() == 5);
  CHECK((roc[1].threshold == 0.8 && roc[1].fpr == 0.0 && roc[1].tpr == 0.5));
  CHECK((roc[2].threshold == 0.4 && roc[2].fpr == 0.5 && roc[2].tpr == 0.5));
  CHECK((roc[4].fpr == 1.0 && roc[4].tpr == 1.0));
  CHECK(metrics::tpr_at_fpr<double>(s, y, 0.0) == 0.5);
  CHECK(metrics::tpr_at_fpr<double>(s, y, 0.5) == 1.0);
  const auto c = metrics::confusion_at<double>(s, y, 0.38);
  CHECK((c.tp == 1 && c.fp == 1 && c.tn == 1 && c.fn == 1));
  CHECK(c.precision() == 0.5);
  CHECK(c.recall() == 0.5);
  CHECK(c.f1() == 0.5);
}

TEST_CASE("metrics: reversed scores give 1 - AUROC; monotone transforms change nothing", "[scoring][metrics]") {
  auto s = test::uniform_vector<double>(300, 5);
  std::vector<int> y(300);
  Rng rng(6);
  for (auto& v : y) v = int(rng.below(2));
  for (std::size_t i = 0; i < s.size(); ++i) s[i] += 0.3 * y[i];  // informative
  const double a = metrics::auroc<double>(s, y), ap = metrics::average_precision<double>(s, y);
  std::vector<double> neg(s.size()), mono(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) neg[i] = -s[i], mono[i] = std::exp(3 * s[i]) + 7;
  CHECK(metrics::auroc<double>(neg, y) == Approx(1 - a));
  CHECK(metrics::auroc<double>(mono, y) == Approx(a));
  CHECK(metrics::average_precision<double>(mono, y) == Approx(ap));
  CHECK(a > 0.6);
}

TEST_CASE("metrics: empty input, one class, mismatched sizes are errors", "[scoring][metrics]") {
  const std::vector<double> s = {1, 2};
  CHECK_THROWS_WITH(metrics::auroc<double>(std::vector<double>{}, std::vector<int>{}), Catch::Contains("no scores"));
  CHECK_THROWS_WITH(metrics::auroc<double>(s, std::vector<int>{0, 0}), Catch::Contains("needs both classes"));
  CHECK_THROWS_WITH(metrics::average_precision<double>(s, std::vector<int>{1}), Catch::Contains("2 scores but 1 labels"));
  CHECK_THROWS_WITH(metrics::auroc<double>(s, std::vector<int>{0, 2}), Catch::Contains("0 (normal) or 1"));
}

TEST_CASE("anomaly_score: 1 - D(x) from the logit, stable, with -logit alongside", "[scoring]") {
  auto& gan = trained_gan();
  const auto x = squares(5, 9);
  const auto score = gan.discriminator().anomaly_score(x);
  const auto logit = gan.discriminator().logits(x);
  const auto neg = gan.discriminator().negative_logit(x);
  for (int i = 0; i < 5; ++i) {
    CHECK(score[i] == Approx(1.0 / (1.0 + std::exp(double(logit[i])))).epsilon(1e-6));
    CHECK(neg[i] == -logit[i]);
  }
  CHECK(gan.discriminator().net().training());  // scoring ran in eval mode and restored the mode
}

TEST_CASE("Scorers: anomalies score higher than normal data, for every scorer", "[scoring][scorers]") {
  auto& gan = trained_gan();
  const auto train = squares(512, 1);
  Detector d1{gan, score::Discriminator{}};
  Detector d2{gan, score::Discriminator{.raw = true}};
  Detector d3{gan, score::FeatureMatching{}};
  Detector d4{gan, score::Reconstruction<ImgGan>({.epochs = 30, .batch = 32, .adam = {.lr = 1e-3}})};
  std::vector<double> losses;
  d4.scorer().fit(gan, view(train), [&](const score::EncoderProgress& p) { losses.push_back(p.loss); });
  d3.fit(view(train));
  for (auto [name, m] : {std::pair{"discriminator", mean_scores(d1)}, std::pair{"-logit", mean_scores(d2)},
                         std::pair{"feature matching", mean_scores(d3)}, std::pair{"reconstruction", mean_scores(d4)}}) {
    INFO(name << ": normal " << m.first << ", anomalies " << m.second);
    CHECK(m.second > m.first);
  }
  INFO("encoder loss first epoch " << losses.front() << ", last " << losses.back());
  REQUIRE(losses.size() == 30);
  CHECK(losses.back() < 0.8 * losses.front());  // the reconstruction error falls while E trains
}

TEST_CASE("Scores do not depend on batch composition, chunking or the thread count", "[scoring][parity]") {
  auto& gan = trained_gan();
  const auto x = squares(600, 12);  // more than one 256-row chunk
  const int saved = num_threads();
  set_num_threads(1);
  const ScoreVector<float> all = gan.discriminator().anomaly_score(x);
  set_num_threads(3);
  const ScoreVector<float> all3 = gan.discriminator().anomaly_score(x);
  set_num_threads(saved);
  CHECK(all == all3);
  for (int i : {0, 255, 256, 599}) {  // one row alone, in its own batch
    const ScoreVector<float> one = gan.discriminator().anomaly_score(x.row(i));
    CHECK(one[0] == all[i]);
  }
  RowMatrix<float> shuffled = x;
  shuffled.row(0).swap(shuffled.row(400));
  const ScoreVector<float> s2 = gan.discriminator().anomaly_score(shuffled);
  CHECK(s2[400] == all[0]);
  CHECK(s2[0] == all[400]);
}

TEST_CASE("Scoring input: wrong columns, NaN, infinity and empty input are named errors", "[scoring][input]") {
  auto& gan = trained_gan();
  RowMatrix<float> x = squares(4, 1);
  RowMatrix<float> narrow(3, 35);
  narrow.setZero();
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(narrow), Catch::Contains("36 values") && Catch::Contains("35 columns"));
  x(2, 7) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(x), Catch::Contains("row 2, column 7 is NaN"));
  x(2, 7) = 0;
  x(3, 0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(x), Catch::Contains("row 3, column 0 is infinite"));
  CHECK_THROWS_WITH(gan.discriminator().anomaly_score(RowMatrix<float>(0, 36)), Catch::Contains("empty input"));
  Detector det{gan, score::Discriminator{}};
  CHECK_THROWS_AS(det.scores(narrow), ShapeError);
  CHECK_THROWS_AS(det.predict(squares(3, 1)), Error);  // no threshold yet
  const std::vector<float> partial(40, 0.f);
  CHECK_THROWS_AS(gan.discriminator().anomaly_score(std::span<const float>(partial)), ShapeError);
}

TEST_CASE("Detector: calibration to a false-positive rate, predict, decision function, scaling", "[scoring][detector]") {
  auto& gan = trained_gan();
  Detector det{gan, score::Discriminator{.raw = true}};
  det.fit(squares(300, 1));
  CHECK(det.decision_scores().size() == 300);
  const auto validation = squares(400, 21);
  det.calibrate(validation, {.false_positive_rate = 0.05});
  const auto flags = det.predict(validation);
  CHECK(flags.sum() <= 20);  // at most 5% of the validation normals
  CHECK(flags.sum() >= 15);  // and not far below: the threshold is tight
  const auto s = det.scores(validation);
  const auto dec = det.decision_function(validation);
  for (int i = 0; i < 400; ++i) {
    CHECK(dec[i] == Approx(s[i] - det.threshold()));
    CHECK(flags[i] == (s[i] > det.threshold() ? 1 : 0));
  }
  const auto scaled = det.scaled_scores(anomalies(50, 4));
  CHECK((scaled.minCoeff() >= 0.0 && scaled.maxCoeff() <= 1.0));
  det.set_threshold(1e9);
  CHECK(det.predict(validation).sum() == 0);
  CHECK_THROWS_WITH(det.calibrate(squares(10, 3), {.false_positive_rate = 0.05}), Catch::Contains("at least 20"));
  CHECK_NOTHROW(det.calibrate(squares(10, 3), {.quantile = 0.9}));
}

TEST_CASE("score::Weighted: fitted weights do at least as well as the best single scorer", "[scoring][scorers]") {
  auto& gan = trained_gan();
  using W = score::Weighted<score::Discriminator, score::FeatureMatching>;
  Detector det{gan, W{score::Discriminator{.raw = true}, score::FeatureMatching{}}};
  det.fit(squares(256, 1));
  RowMatrix<float> val(200, P);
  val << squares(100, 31), anomalies(100, 32);
  std::vector<int> labels(200, 0);
  std::fill(labels.begin() + 100, labels.end(), 1);
  std::vector<float> s1(200), s2(200);
  det.scorer().scorer<0>().score(gan, view(val), s1);
  det.scorer().scorer<1>().score(gan, view(val), s2);
  const double best_single = std::max(metrics::auroc<float>(s1, labels), metrics::auroc<float>(s2, labels));
  const double fitted = det.scorer().fit_weights(gan, view(val), labels);
  CHECK(fitted >= best_single - 1e-12);
  const auto w = det.scorer().weights();
  CHECK(w[0] + w[1] == Approx(1.0));
}

TEST_CASE("Reconstruction: the encoder is saved and loaded with the GAN; anomaly maps", "[scoring][serialize]") {
  auto& gan = trained_gan();
  score::Reconstruction<ImgGan> rec({.epochs = 2, .batch = 32});
  rec.fit(gan, view(squares(128, 1)));
  const std::string path = (std::filesystem::temp_directory_path() / "ganad_test_bundle.ganad").string();
  save(bundle(gan, rec), path);
  ImgGan gan2({.seed = 99});
  score::Reconstruction<ImgGan> rec2({.seed = 5});
  load(bundle(gan2, rec2), path);
  const auto x = squares(7, 3);
  std::vector<float> a(7), b(7);
  rec.score(gan, view(x), a);
  rec2.score(gan2, view(x), b);
  CHECK(a == b);
  const auto map = rec.anomaly_map(gan, x);
  CHECK((map.rows() == 7 && map.cols() == P));
  CHECK(map.minCoeff() >= 0.f);
  std::remove(path.c_str());
}

TEST_CASE("Scoring a steady stream allocates nothing after the first call", "[scoring][alloc]") {
  auto& gan = trained_gan();
  const auto x = squares(300, 5);
  std::vector<float> out(300);
  gan.discriminator().anomaly_score(view(x), out);
  const auto before = test::all_allocations();
  gan.discriminator().anomaly_score(view(x), out);
  CHECK(test::all_allocations() == before);
}

namespace {
// D's last hidden features of x (eval mode), in double.
std::vector<std::vector<double>> features_of(ImgGan& gan, const RowMatrix<float>& x) {
  auto& d = gan.discriminator().net();
  detail::EvalScope<ImgD> eval(d);  // the shared GAN's mode is restored afterwards
  d.forward(view(x));
  const auto f = d.layer_output<ImgD::depth - 2>();
  const std::size_t F = decltype(f)::shape::size;
  std::vector<std::vector<double>> out(std::size_t(x.rows()), std::vector<double>(F));
  for (std::size_t i = 0; i < out.size(); ++i)
    for (std::size_t c = 0; c < F; ++c) out[i][c] = f.data[i * F + c];
  return out;
}
// Mean distance of unit vectors to the k nearest references, by brute force.
double knn_reference(const std::vector<double>& q, const std::vector<std::vector<double>>& refs, int k) {
  auto unit = [](std::vector<double> v) {
    double n = 0;
    for (double a : v) n += a * a;
    for (double& a : v) a /= std::sqrt(n);
    return v;
  };
  const auto uq = unit(q);
  std::vector<double> d;
  for (const auto& r : refs) {
    const auto ur = unit(r);
    double s = 0;
    for (std::size_t c = 0; c < ur.size(); ++c) s += (uq[c] - ur[c]) * (uq[c] - ur[c]);
    d.push_back(std::sqrt(s));
  }
  std::sort(d.begin(), d.end());
  return std::accumulate(d.begin(), d.begin() + k, 0.0) / k;
}
}  // namespace

TEST_CASE("NearestNeighbours: scores equal a brute-force kNN in D's feature space", "[scoring][scorers][knn]") {
  auto& gan = trained_gan();
  const auto train = squares(300, 21), x = squares(20, 22);
  const auto ref_features = features_of(gan, train);
  const auto x_features = features_of(gan, x);
  for (int k : {1, 3, 7}) {
    score::NearestNeighbours knn({.k = k});
    knn.fit(gan, view(train));
    REQUIRE(knn.references() == 300);
    std::vector<float> s(20);
    knn.score(gan, view(x), s);
    for (int i = 0; i < 20; ++i) {
      INFO("k " << k << ", row " << i);
      CHECK(s[std::size_t(i)] == Approx(knn_reference(x_features[std::size_t(i)], ref_features, k)).margin(2e-4));
    }
  }
  // A training image is its own nearest neighbour.
  score::NearestNeighbours knn1({.k = 1});
  knn1.fit(gan, view(train));
  std::vector<float> self(300);
  knn1.score(gan, view(train), self);
  CHECK(*std::max_element(self.begin(), self.end()) < 2e-3f);
}

TEST_CASE("NearestNeighbours: anomalies score higher; a subset of references; threads; no allocation", "[scoring][scorers][knn]") {
  auto& gan = trained_gan();
  const auto train = squares(512, 1);
  Detector det{gan, score::NearestNeighbours{{.k = 5}}};
  det.fit(view(train));
  const auto [normal, odd] = mean_scores(det);
  INFO("normal " << normal << ", anomalies " << odd);
  CHECK(odd > 2 * normal);

  score::NearestNeighbours subset({.k = 5, .max_references = 100, .seed = 4});
  subset.fit(gan, view(train));
  CHECK(subset.references() == 100);
  // The subset is the seed's: refitting gives the same scores; another seed other ones.
  score::NearestNeighbours again({.k = 5, .max_references = 100, .seed = 4}), other({.k = 5, .max_references = 100, .seed = 5});
  again.fit(gan, view(train));
  other.fit(gan, view(train));
  const auto x = squares(300, 9);
  std::vector<float> a(300), b(300), c(300);
  subset.score(gan, view(x), a);
  again.score(gan, view(x), b);
  other.score(gan, view(x), c);
  CHECK(a == b);
  CHECK(a != c);

  const int saved = num_threads();
  set_num_threads(1);
  std::vector<float> one(300), three(300);
  det.scorer().score(gan, view(x), one);
  set_num_threads(3);
  det.scorer().score(gan, view(x), three);
  set_num_threads(saved);
  CHECK(one == three);

  const auto before = test::all_allocations();
  det.scorer().score(gan, view(x), one);
  CHECK(test::all_allocations() == before);
}

TEST_CASE("NearestNeighbours: bad settings, no fit, too little data; refitted after a load", "[scoring][knn][serialize]") {
  auto& gan = trained_gan();
  CHECK_THROWS_AS(score::NearestNeighbours({.k = 0}), ValueError);
  CHECK_THROWS_AS(score::NearestNeighbours({.max_references = -1}), ValueError);
  score::NearestNeighbours knn({.k = 5});
  std::vector<float> out(3);
  CHECK_THROWS_WITH(knn.score(gan, view(squares(3, 1)), out), Catch::Contains("fit()"));
  CHECK_THROWS_WITH(knn.fit(gan, view(squares(4, 1))), Catch::Contains("fewer than k = 5"));
  RowMatrix<float> bad = squares(10, 1);
  bad(7, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(knn.fit(gan, view(bad)), Catch::Contains("row 7"));

  // Not saved with the model: refitted on the same data after loading the GAN, it scores the same.
  knn.fit(gan, view(squares(64, 2)));
  const std::string path = (std::filesystem::temp_directory_path() / "ganad_test_knn.ganad").string();
  save(gan, path);
  ImgGan gan2({.seed = 99});
  load(gan2, path);
  score::NearestNeighbours knn2({.k = 5});
  knn2.fit(gan2, view(squares(64, 2)));
  const auto x = squares(9, 3);
  std::vector<float> a(9), b(9);
  knn.score(gan, view(x), a);
  knn2.score(gan2, view(x), b);
  CHECK(a == b);
  std::remove(path.c_str());
}
