#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/image_gan.hpp"
#include "support/threads.hpp"

using namespace ganad;
using test::anomalies;
using test::ImgD;
using test::ImgGan;
using test::mean_scores;
using test::squares;
using test::trained_gan;
using test::view;

TEST_CASE("anomaly_score: 1 - D(x) from the logit, stable, with -logit alongside", "[detect][scoring]") {
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

TEST_CASE("Scorers: anomalies score higher than normal data, for every scorer", "[detect][scorers]") {
  auto& gan = trained_gan();
  const auto train = squares(512, 1);
  Detector d1{gan, score::Discriminator()};
  Detector d2{gan, score::Discriminator({.output = DiscriminatorOutput::negative_logit})};
  Detector d3{gan, score::FeatureMatching()};
  Detector d4{gan, score::Reconstruction<ImgGan>({.epochs = 30, .batch = 32, .adam = {.lr = 1e-3}})};
  std::vector<double> losses;
  d4.scorer().fit(gan, train, [&](const score::EncoderProgress& p) { losses.push_back(p.loss); });
  d3.fit(train);
  for (auto [name, m] : {std::pair{"discriminator", mean_scores(d1)}, std::pair{"-logit", mean_scores(d2)},
                         std::pair{"feature matching", mean_scores(d3)}, std::pair{"reconstruction", mean_scores(d4)}}) {
    INFO(name << ": normal " << m.first << ", anomalies " << m.second);
    CHECK(m.second > m.first);
  }
  INFO("encoder loss first epoch " << losses.front() << ", last " << losses.back());
  REQUIRE(losses.size() == 30);
  CHECK(losses.back() < 0.8 * losses.front());  // the reconstruction error falls while E trains
}

TEST_CASE("Scorers that read D use the averaged D by default, the trained D when told", "[detect][scorers][average]") {
  auto& gan = trained_gan();
  const auto train = squares(128, 1), x = squares(40, 7);
  REQUIRE(!std::ranges::equal(gan.averaged_discriminator().net().params(), gan.discriminator().net().params()));
  CHECK(Detector{gan, score::Discriminator()}.decision_function(x) == gan.averaged_discriminator().anomaly_score(x));
  CHECK(Detector{gan, score::Discriminator({.averaged = false})}.decision_function(x) == gan.discriminator().anomaly_score(x));
  auto both = [&](auto make) {
    Detector avg{gan, make(true)}, last{gan, make(false)};
    avg.fit(train);
    last.fit(train);
    return avg.decision_function(x) != last.decision_function(x);
  };
  CHECK(both([](bool a) { return score::FeatureMatching({.averaged = a}); }));
  CHECK(both([](bool a) { return score::NearestNeighbours({.averaged = a}); }));
  CHECK(both([](bool a) { return score::Reconstruction<ImgGan>({.epochs = 1, .averaged = a}); }));
  CHECK(score::FeatureMatching().options().averaged);
  CHECK(score::NearestNeighbours().options().averaged);
  CHECK(score::Reconstruction<ImgGan>().options().averaged);
  CHECK(score::Discriminator().options().averaged);
  CHECK_THROWS_AS(score::Discriminator({.output = DiscriminatorOutput::logit}), ValueError);
}

TEST_CASE("Scores do not depend on batch composition, chunking or the thread count", "[detect][scoring][parity]") {
  auto& gan = trained_gan();
  const auto x = squares(600, 12);  // more than one 256-row chunk
  test::ThreadCount threads(1);
  const ScoreVector<float> all = gan.discriminator().anomaly_score(x);
  threads.set(3);
  const ScoreVector<float> all3 = gan.discriminator().anomaly_score(x);
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
  // A block of rows is viewed in place and scores as its rows do.
  CHECK(gan.discriminator().anomaly_score(x.middleRows(100, 50)) == all.segment(100, 50));
}

TEST_CASE("score::Weighted: fitted weights do at least as well as the best single scorer", "[detect][scorers]") {
  auto& gan = trained_gan();
  Detector det{gan, score::Weighted(score::Discriminator({.output = DiscriminatorOutput::negative_logit}), score::FeatureMatching())};
  det.fit(squares(256, 1));
  RowMatrix<float> val(200, test::image_size);
  val << squares(100, 31), anomalies(100, 32);
  std::vector<int> labels(200, 0);
  std::fill(labels.begin() + 100, labels.end(), 1);
  std::vector<float> s1(200), s2(200);
  det.scorer().scorer<0>().score(gan, view(val), s1);
  det.scorer().scorer<1>().score(gan, view(val), s2);
  const double best_single = std::max(metrics::auroc(s1, labels), metrics::auroc(s2, labels));
  const double fitted = det.scorer().fit_weights(gan, val, labels);
  CHECK(fitted >= best_single - 1e-12);
  const auto w = det.scorer().weights();
  CHECK(w[0] + w[1] == Approx(1.0));
  CHECK(metrics::auroc(det.decision_function(val), labels) == Approx(fitted));
}

TEST_CASE("score::Weighted: standardize_on keeps fitted components and takes their scale on the given data", "[detect][scorers]") {
  auto& gan = trained_gan();
  score::FeatureMatching fm;
  fm.fit(gan, squares(128, 1));
  Detector det{gan, score::Weighted(score::Discriminator(), fm)};
  CHECK(!det.fitted());
  const auto normal = squares(300, 2);
  det.scorer().standardize_on(gan, normal);
  CHECK(det.fitted());
  const auto s = det.decision_function(normal);
  CHECK(s.mean() == Approx(0.0).margin(1e-4));  // equal weights 1/2 of two z-scores: mean 0 on the same data
  std::vector<float> alone(300);
  fm.score(gan, view(normal), alone);
  std::vector<float> kept(300);
  det.scorer().scorer<1>().score(gan, view(normal), kept);
  CHECK(alone == kept);  // the component was not refitted
}

TEST_CASE("Reconstruction: reconstructions and anomaly maps", "[detect][scorers]") {
  auto& gan = trained_gan();
  score::Reconstruction<ImgGan> rec({.epochs = 2, .batch = 32});
  rec.fit(gan, squares(128, 1));
  const auto x = squares(7, 3);
  const auto map = rec.anomaly_map(gan, x);
  const auto back = rec.reconstruct(gan, x);
  REQUIRE((map.rows() == 7 && map.cols() == test::image_size && back.rows() == 7));
  CHECK(map.minCoeff() >= 0.f);
  CHECK(map == (x - back).cwiseAbs());
  CHECK_THROWS_AS(score::Reconstruction<ImgGan>({.batch = 0}), ValueError);
}

TEST_CASE("Scoring a steady stream allocates nothing after the first call", "[detect][scoring][alloc]") {
  auto& gan = trained_gan();
  const auto x = squares(300, 5);
  std::vector<float> out(300);
  auto& d = gan.discriminator();
  d.score_batch(view(x), DiscriminatorOutput::anomaly_score, out);
  const auto before = test::all_allocations();
  d.score_batch(view(x), DiscriminatorOutput::anomaly_score, out);
  CHECK(test::all_allocations() == before);
  // The row form: its result comes from Eigen's malloc, which this counter does not see;
  // nothing else allocates.
  (void)d.anomaly_score(x);
  const auto before_rows = test::all_allocations();
  (void)d.anomaly_score(x);
  CHECK(test::all_allocations() == before_rows);
}

namespace {
using score::FeatureScaling;
using score::FeatureSpace;
using Rows = std::vector<std::vector<double>>;

// The parts of each row's embedding before scaling, in double: the input and/or D's features
// (the averaged D, eval mode).
std::vector<Rows> raw_parts(ImgGan& gan, const RowMatrix<float>& x, FeatureSpace space) {
  std::vector<Rows> parts;
  if (space != FeatureSpace::discriminator) {
    Rows in(std::size_t(x.rows()));
    for (std::size_t i = 0; i < in.size(); ++i) in[i].assign(x.row(Eigen::Index(i)).data(), x.row(Eigen::Index(i)).data() + x.cols());
    parts.push_back(in);
  }
  if (space != FeatureSpace::input) {
    auto& d = gan.averaged_discriminator().net();
    d.eval();
    d.forward(view(x));
    const auto f = d.layer_output<ImgD::depth - 2>();
    const std::size_t F = decltype(f)::shape::size;
    Rows feat(std::size_t(x.rows()), std::vector<double>(F));
    for (std::size_t i = 0; i < feat.size(); ++i)
      for (std::size_t c = 0; c < F; ++c) feat[i][c] = f.data[i * F + c];
    d.train();
    parts.push_back(feat);
  }
  return parts;
}

// kNN by brute force, written from the documentation: each part scaled with statistics of the
// references, parts weighted by their shares, mean Euclidean distance to the k nearest.
std::vector<double> knn_reference(ImgGan& gan, const RowMatrix<float>& refs, const RowMatrix<float>& x, const score::NearestNeighboursOptions& o) {
  auto r_parts = raw_parts(gan, refs, o.space), x_parts = raw_parts(gan, x, o.space);
  const bool both = r_parts.size() == 2;
  std::vector<Rows> r_emb, x_emb;
  for (std::size_t p = 0; p < r_parts.size(); ++p) {
    const FeatureScaling scaling = (p == 0 && o.space != FeatureSpace::discriminator) ? o.input_scaling : o.discriminator_scaling.value_or(FeatureScaling::unit_length);
    const std::size_t F = r_parts[p][0].size();
    const double n = double(r_parts[p].size());
    std::vector<double> mean(F, 0.0), var(F, 0.0), shift(F, 0.0), scale(F, 1.0);
    for (const auto& row : r_parts[p])
      for (std::size_t c = 0; c < F; ++c) mean[c] += row[c] / n;
    for (const auto& row : r_parts[p])
      for (std::size_t c = 0; c < F; ++c) var[c] += (row[c] - mean[c]) * (row[c] - mean[c]) / n;
    double len2 = 1.0;  // the mean squared length of the scaled part over the references
    if (scaling == FeatureScaling::standardize) {
      const double floor = 0.1 * std::sqrt(std::accumulate(var.begin(), var.end(), 0.0) / double(F));
      len2 = 0;
      for (std::size_t c = 0; c < F; ++c) {
        shift[c] = mean[c];
        scale[c] = 1.0 / std::max(std::sqrt(var[c]), floor);
        len2 += var[c] * scale[c] * scale[c];
      }
    } else if (scaling == FeatureScaling::none) {
      len2 = 0;
      for (std::size_t c = 0; c < F; ++c) len2 += var[c] + mean[c] * mean[c];
    }
    const double share = !both ? 1.0 : p == 0 ? o.input_share : 1.0 - o.input_share;
    const double part_scale = both ? std::sqrt(share / len2) : 1.0;
    auto embed = [&](const Rows& rows) {
      Rows out = rows;
      for (auto& v : out) {
        double norm = 1.0;
        if (scaling == FeatureScaling::unit_length) norm = std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
        for (std::size_t c = 0; c < F; ++c) v[c] = (v[c] / norm - shift[c]) * scale[c] * part_scale;
      }
      return out;
    };
    r_emb.push_back(embed(r_parts[p]));
    x_emb.push_back(embed(x_parts[p]));
  }
  std::vector<double> scores;
  for (std::size_t i = 0; i < std::size_t(x.rows()); ++i) {
    std::vector<double> d;
    for (std::size_t j = 0; j < std::size_t(refs.rows()); ++j) {
      double s = 0;
      for (std::size_t p = 0; p < r_emb.size(); ++p)
        for (std::size_t c = 0; c < r_emb[p][j].size(); ++c) s += (x_emb[p][i][c] - r_emb[p][j][c]) * (x_emb[p][i][c] - r_emb[p][j][c]);
      d.push_back(std::sqrt(s));
    }
    std::sort(d.begin(), d.end());
    scores.push_back(std::accumulate(d.begin(), d.begin() + o.k, 0.0) / o.k);
  }
  return scores;
}
}  // namespace

TEST_CASE("NearestNeighbours: scores equal a brute-force kNN, in every feature space and scaling", "[detect][scorers][knn]") {
  auto& gan = trained_gan();
  const auto train = squares(300, 21);
  RowMatrix<float> x(24, test::image_size);
  x << squares(12, 22), anomalies(12, 23);
  const score::NearestNeighboursOptions cases[] = {
      {},  // the default: the input as it is beside unit-length D features
      {.k = 1},
      {.k = 3, .space = FeatureSpace::input},
      {.k = 3, .space = FeatureSpace::input, .input_scaling = FeatureScaling::standardize},
      {.k = 7, .space = FeatureSpace::discriminator},  // version 0.2's kNN
      {.space = FeatureSpace::discriminator, .discriminator_scaling = FeatureScaling::standardize},
      {.space = FeatureSpace::discriminator, .discriminator_scaling = FeatureScaling::none},
      {.input_scaling = FeatureScaling::standardize, .discriminator_scaling = FeatureScaling::none, .input_share = 0.7},
      {.input_scaling = FeatureScaling::unit_length, .discriminator_scaling = FeatureScaling::standardize, .input_share = 1.0},
  };
  for (const auto& o : cases) {
    score::NearestNeighbours knn(o);
    knn.fit(gan, train);
    REQUIRE(knn.references() == 300);
    std::vector<float> s(24);
    knn.score(gan, view(x), s);
    const auto want = knn_reference(gan, train, x, o);
    for (int i = 0; i < 24; ++i) {
      INFO("space " << int(o.space) << ", scalings " << int(o.input_scaling) << "/" << int(o.discriminator_scaling.value_or(FeatureScaling::unit_length)) << ", share "
                    << o.input_share << ", k " << o.k << ", row " << i);
      // Float embeddings and |q|^2 + |r|^2 - 2 q.r in float against double: near distance 0
      // an error of 1e-7 in a squared distance moves the distance most.
      CHECK(s[std::size_t(i)] == Approx(want[std::size_t(i)]).epsilon(1e-4).margin(2e-4));
    }
  }
  // A training image is its own nearest neighbour.
  score::NearestNeighbours knn1({.k = 1});
  knn1.fit(gan, train);
  std::vector<float> self(300);
  knn1.score(gan, view(train), self);
  CHECK(*std::max_element(self.begin(), self.end()) < 2e-3f);
}

TEST_CASE("NearestNeighbours: anomalies score higher; a subset of references; threads; no allocation", "[detect][scorers][knn]") {
  auto& gan = trained_gan();
  const auto train = squares(512, 1);
  Detector det{gan, score::NearestNeighbours({.k = 5})};
  det.fit(train);
  const auto [normal, odd] = mean_scores(det);
  INFO("normal " << normal << ", anomalies " << odd);
  CHECK(odd > 2 * normal);

  score::NearestNeighbours subset({.k = 5, .max_references = 100, .seed = 4});
  subset.fit(gan, train);
  CHECK(subset.references() == 100);
  // The subset is the seed's: refitting gives the same scores; another seed other ones.
  score::NearestNeighbours again({.k = 5, .max_references = 100, .seed = 4}), other({.k = 5, .max_references = 100, .seed = 5});
  again.fit(gan, train);
  other.fit(gan, train);
  const auto x = squares(300, 9);
  std::vector<float> a(300), b(300), c(300);
  subset.score(gan, view(x), a);
  again.score(gan, view(x), b);
  other.score(gan, view(x), c);
  CHECK(a == b);
  CHECK(a != c);

  test::ThreadCount threads(1);
  std::vector<float> one(300), three(300);
  det.scorer().score(gan, view(x), one);
  threads.set(3);
  det.scorer().score(gan, view(x), three);
  CHECK(one == three);

  const auto before = test::all_allocations();
  det.scorer().score(gan, view(x), one);
  CHECK(test::all_allocations() == before);
}

TEST_CASE("NearestNeighbours: a row's score does not depend on its batch, the chunking or the thread count", "[detect][scorers][knn][parity]") {
  auto& gan = trained_gan();
  Detector det{gan};  // the default: input and D's features
  det.fit(squares(300, 1));
  RowMatrix<float> x(600, test::image_size);  // three chunks of 256 rows or fewer
  x << squares(300, 12), anomalies(300, 13);
  test::ThreadCount threads(1);
  const ScoreVector<float> all = det.decision_function(x);
  threads.set(3);
  CHECK(det.decision_function(x) == all);
  for (int i : {0, 255, 256, 599}) CHECK(det.decision_function(x.row(i))[0] == all[i]);  // alone, in a batch of one
  CHECK(det.decision_function(x.middleRows(100, 50)) == all.segment(100, 50));
  RowMatrix<float> swapped = x;
  swapped.row(0).swap(swapped.row(400));
  const ScoreVector<float> s2 = det.decision_function(swapped);
  CHECK(s2[400] == all[0]);
  CHECK(s2[0] == all[400]);
}

TEST_CASE("NearestNeighbours: a memory budget keeps a greedy k-center coreset, the same on any thread count", "[detect][scorers][knn]") {
  auto& gan = trained_gan();
  const auto train = squares(512, 1);
  score::NearestNeighbours all({.k = 1});
  all.fit(gan, train);
  const std::size_t per_reference = (all.feature_size() + 1) * sizeof(float);
  test::ThreadCount threads(1);
  score::NearestNeighbours coreset({.k = 1, .memory_budget = 40 * per_reference + per_reference / 2});
  coreset.fit(gan, train);
  CHECK(coreset.references() == 40);
  CHECK(coreset.options().subset == score::ReferenceSubset::coreset);  // the default
  score::NearestNeighbours random({.k = 1, .max_references = 40, .subset = score::ReferenceSubset::random});
  random.fit(gan, train);
  // k-center keeps every training sample near a reference: the largest distance from a
  // training sample to its nearest reference (the covering radius) is smaller than a random
  // subset's of the same size.
  std::vector<float> near_coreset(512), near_random(512);
  coreset.score(gan, view(train), near_coreset);
  random.score(gan, view(train), near_random);
  const float radius_coreset = *std::max_element(near_coreset.begin(), near_coreset.end());
  const float radius_random = *std::max_element(near_random.begin(), near_random.end());
  INFO("covering radius: coreset " << radius_coreset << ", random " << radius_random);
  CHECK(radius_coreset < 0.8f * radius_random);
  // The same references on any thread count.
  threads.set(3);
  score::NearestNeighbours again({.k = 1, .memory_budget = 40 * per_reference + per_reference / 2});
  again.fit(gan, train);
  std::vector<float> near_again(512);
  again.score(gan, view(train), near_again);
  CHECK(near_again == near_coreset);
  // Both limits: the smaller count. A budget below k references is refused by name.
  score::NearestNeighbours both({.k = 1, .max_references = 30, .memory_budget = 40 * per_reference});
  both.fit(gan, train);
  CHECK(both.references() == 30);
  score::NearestNeighbours tiny({.k = 5, .memory_budget = 3 * per_reference});
  CHECK_THROWS_WITH(tiny.fit(gan, train), Catch::Contains("holds 3 references") && Catch::Contains("fewer than k = 5"));
  CHECK(!tiny.fitted());
}

TEST_CASE("NearestNeighbours: bad settings, too little data, NaN in the references", "[detect][scorers][knn]") {
  auto& gan = trained_gan();
  CHECK_THROWS_AS(score::NearestNeighbours({.k = 0}), ValueError);
  CHECK_THROWS_AS(score::NearestNeighbours({.max_references = -1}), ValueError);
  CHECK_THROWS_WITH(score::NearestNeighbours({.input_share = 1.5}), Catch::Contains("input_share must be in [0, 1]"));
  CHECK_THROWS_AS(score::NearestNeighbours({.space = score::FeatureSpace(7)}), ValueError);
  CHECK_THROWS_AS(score::NearestNeighbours({.subset = score::ReferenceSubset(9)}), ValueError);
  score::NearestNeighbours knn({.k = 5});
  CHECK_THROWS_WITH(knn.fit(gan, squares(4, 1)), Catch::Contains("fewer than k = 5"));
  RowMatrix<float> bad = squares(10, 1);
  bad(7, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(knn.fit(gan, bad), Catch::Contains("row 7"));
  CHECK(!knn.fitted());  // a failed fit changes nothing
}
