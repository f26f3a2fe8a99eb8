#include "ganad/detect/metrics.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "ganad/core/random.hpp"
#include "ganad/core/samples.hpp"
#include "support/random.hpp"

using namespace ganad;

TEST_CASE("metrics: AUROC and average precision on cases worked out by hand, with ties", "[detect][metrics]") {
  const std::vector<double> s = {0.1, 0.4, 0.35, 0.8};
  const std::vector<int> y = {0, 0, 1, 1};
  CHECK(metrics::auroc(s, y) == Approx(0.75));              // 3 of 4 pairs ordered
  CHECK(metrics::average_precision(s, y) == Approx(5.0 / 6));  // 0.5 * 1 + 0.5 * 2/3
  const std::vector<double> tied = {0.5, 0.5, 0.5, 0.9};
  const std::vector<int> ty = {0, 1, 0, 1};
  CHECK(metrics::auroc(tied, ty) == Approx(0.75));  // ties count half: (0.5 + 0.5 + 1 + 1) / 4
  CHECK(metrics::average_precision(tied, ty) == Approx(0.75));
  const std::vector<double> all_tied = {1, 1, 1, 1};
  CHECK(metrics::auroc(all_tied, ty) == Approx(0.5));
  const auto roc = metrics::roc_curve(s, y);
  REQUIRE(roc.size() == 5);
  CHECK((roc[1].threshold == 0.8 && roc[1].fpr == 0.0 && roc[1].tpr == 0.5));
  CHECK((roc[2].threshold == 0.4 && roc[2].fpr == 0.5 && roc[2].tpr == 0.5));
  CHECK((roc[4].fpr == 1.0 && roc[4].tpr == 1.0));
  CHECK(metrics::tpr_at_fpr(s, y, 0.0) == 0.5);
  CHECK(metrics::tpr_at_fpr(s, y, 0.5) == 1.0);
  const auto c = metrics::confusion_at(s, y, 0.38);
  CHECK((c.tp == 1 && c.fp == 1 && c.tn == 1 && c.fn == 1));
  CHECK(c.precision() == 0.5);
  CHECK(c.recall() == 0.5);
  CHECK(c.f1() == 0.5);
}

TEST_CASE("metrics: reversed scores give 1 - AUROC; monotone transforms change nothing", "[detect][metrics]") {
  auto s = test::uniform_vector<double>(300, 5);
  std::vector<int> y(300);
  Rng rng(6);
  for (auto& v : y) v = int(rng.below(2));
  for (std::size_t i = 0; i < s.size(); ++i) s[i] += 0.3 * y[i];  // informative
  const double a = metrics::auroc(s, y), ap = metrics::average_precision(s, y);
  std::vector<double> neg(s.size()), mono(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) neg[i] = -s[i], mono[i] = std::exp(3 * s[i]) + 7;
  CHECK(metrics::auroc(neg, y) == Approx(1 - a));
  CHECK(metrics::auroc(mono, y) == Approx(a));
  CHECK(metrics::average_precision(mono, y) == Approx(ap));
  CHECK(a > 0.6);
}

TEST_CASE("metrics: take ScoreVector, std::vector and span of float or double, and VectorXi labels alike", "[detect][metrics]") {
  const std::vector<float> f = {0.1f, 0.4f, 0.35f, 0.8f};
  const std::vector<int> y = {0, 0, 1, 1};
  ScoreVector<float> sv(4);
  sv << 0.1f, 0.4f, 0.35f, 0.8f;
  Eigen::VectorXi yi(4);
  yi << 0, 0, 1, 1;
  const double a = metrics::auroc(f, y);
  CHECK(a == Approx(0.75));
  CHECK(metrics::auroc(sv, y) == a);
  CHECK(metrics::auroc(sv, yi) == a);
  CHECK(metrics::auroc(std::span<const float>(f), std::span<const int>(y)) == a);
  CHECK(metrics::average_precision(ScoreVector<double>(sv.cast<double>()), yi) == metrics::average_precision(f, y));
}

TEST_CASE("metrics: empty input, one class, mismatched sizes are errors", "[detect][metrics]") {
  const std::vector<double> s = {1, 2};
  CHECK_THROWS_WITH(metrics::auroc(std::vector<double>{}, std::vector<int>{}), Catch::Contains("no scores"));
  CHECK_THROWS_WITH(metrics::auroc(s, std::vector<int>{0, 0}), Catch::Contains("needs both classes"));
  CHECK_THROWS_WITH(metrics::average_precision(s, std::vector<int>{1}), Catch::Contains("2 scores but 1 labels"));
  CHECK_THROWS_WITH(metrics::auroc(s, std::vector<int>{0, 2}), Catch::Contains("0 (normal) or 1"));
}

// Regression: auroc never returned when a score was NaN (its tie loop made no progress).
TEST_CASE("metrics: a NaN score is a ValueError naming its index, in every metric", "[detect][metrics][regression]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> s = {0.1, 0.4, nan, 0.8};
  const std::vector<int> y = {0, 1, 0, 1};
  CHECK_THROWS_WITH(metrics::auroc(s, y), Catch::Contains("auroc: score 2 is NaN"));
  CHECK_THROWS_WITH(metrics::average_precision(s, y), Catch::Contains("score 2 is NaN"));
  CHECK_THROWS_WITH(metrics::roc_curve(s, y), Catch::Contains("score 2 is NaN"));
  CHECK_THROWS_WITH(metrics::tpr_at_fpr(s, y, 0.1), Catch::Contains("score 2 is NaN"));
  CHECK_THROWS_WITH(metrics::confusion_at(s, y, 0.5), Catch::Contains("score 2 is NaN"));
  const std::vector<float> fs = {std::numeric_limits<float>::quiet_NaN(), 1.f};
  CHECK_THROWS_AS(metrics::auroc(fs, std::vector<int>{0, 1}), ValueError);
  // Infinite scores are ordered and allowed.
  CHECK(metrics::auroc(std::vector<double>{-INFINITY, INFINITY}, std::vector<int>{0, 1}) == 1.0);
}
