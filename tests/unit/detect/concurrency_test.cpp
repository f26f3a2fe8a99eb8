// Scoring from several threads at once: callers of one Detector or discriminator take turns,
// replicas run side by side, and every caller gets the bits a single caller gets. Also
// built alone with -fsanitize=thread by scripts/test (without OpenMP, whose runtime
// ThreadSanitizer cannot see into).
#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "support/image_gan.hpp"

using namespace ganad;
using test::anomalies;
using test::ImgGan;
using test::squares;
using test::trained_gan;

namespace {

constexpr int callers = 4, rounds = 20;

/// Input for caller c in round r: normal and anomalous rows mixed, a different batch each time.
RowMatrix<float> input(int c, int r) {
  RowMatrix<float> x(12, test::image_size);
  x << squares(6, std::uint64_t(100 + 7 * c + r)), anomalies(6, std::uint64_t(500 + 7 * c + r));
  return x;
}

/// Runs score(c, x) for callers x rounds inputs on `callers` threads at once (started
/// together) and counts the results that differ from `serial`, which holds them in order.
template <class Score>
int differing(const std::vector<Eigen::VectorXf>& serial, Score&& score) {
  std::vector<Eigen::VectorXf> got(serial.size());
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&, c] {
      for (int r = 0; r < rounds; ++r) got[std::size_t(c * rounds + r)] = score(c, input(c, r));
    });
  for (auto& t : threads) t.join();
  int bad = 0;
  for (std::size_t i = 0; i < serial.size(); ++i) bad += got[i] != serial[i];
  return bad;
}

template <class Score>
std::vector<Eigen::VectorXf> in_order(Score&& score) {
  std::vector<Eigen::VectorXf> out;
  for (int c = 0; c < callers; ++c)
    for (int r = 0; r < rounds; ++r) out.push_back(score(c, input(c, r)));
  return out;
}

template <class Det>
void check_detector(Det& det) {
  det.fit(squares(200, 1));
  det.calibrate(squares(100, 2));
  const auto serial = in_order([&](int, const RowMatrix<float>& x) { return Eigen::VectorXf(det.decision_function(x)); });
  // One Detector shared by every thread: its callers take turns.
  CHECK(differing(serial, [&](int, const RowMatrix<float>& x) { return Eigen::VectorXf(det.decision_function(x)); }) == 0);
  // A replica per thread: side by side, the same bits, the same decisions. Taken while
  // another thread scores with the original.
  std::vector<Det> replicas;
  {
    std::thread busy([&] {
      for (int r = 0; r < 5; ++r) (void)det.decision_function(input(0, r));
    });
    for (int c = 0; c < callers; ++c) replicas.push_back(det.replica());
    busy.join();
  }
  CHECK(differing(serial, [&](int c, const RowMatrix<float>& x) {
          return Eigen::VectorXf(replicas[std::size_t(c)].decision_function(x));
        }) == 0);
  const auto x = input(0, 0);
  CHECK(replicas[0].predict(x) == det.predict(x));
  CHECK(replicas[0].threshold() == det.threshold());
}

}  // namespace

TEST_CASE("Concurrent scoring: 4 threads on one Detector or its replicas give the serial bits, every scorer", "[detect][threads]") {
  ImgGan gan = trained_gan();  // a copy: other tests read the shared one
  SECTION("discriminator") {
    Detector det{gan, score::Discriminator({.output = DiscriminatorOutput::negative_logit})};
    check_detector(det);
  }
  SECTION("nearest neighbours") {
    Detector det{gan, score::NearestNeighbours()};
    check_detector(det);
  }
  SECTION("feature matching") {
    Detector det{gan, score::FeatureMatching()};
    check_detector(det);
  }
  SECTION("reconstruction") {
    Detector det{gan, score::Reconstruction<ImgGan>({.epochs = 2, .batch = 32})};
    check_detector(det);
  }
  SECTION("weighted") {
    Detector det{gan, score::Weighted(score::Discriminator({.output = DiscriminatorOutput::negative_logit}), score::NearestNeighbours())};
    check_detector(det);
  }
}

// Regression (issue 19): 4 threads calling anomaly_score on one GAN's discriminator got 80 of
// 80 score vectors wrong, silently (its network keeps its activations inside).
TEST_CASE("Concurrent scoring: the discriminator's scores from 4 threads equal the serial ones", "[detect][threads][regression]") {
  ImgGan gan = trained_gan();
  auto& d = gan.averaged_discriminator();
  const auto serial = in_order([&](int, const RowMatrix<float>& x) { return Eigen::VectorXf(d.anomaly_score(x)); });
  CHECK(differing(serial, [&](int, const RowMatrix<float>& x) { return Eigen::VectorXf(d.anomaly_score(x)); }) == 0);
  // A Detector and the discriminator itself, on one GAN, from two threads at once.
  Detector det{gan, score::Discriminator()};
  const auto serial_det = in_order([&](int, const RowMatrix<float>& x) { return Eigen::VectorXf(det.decision_function(x)); });
  CHECK(differing(serial_det, [&](int c, const RowMatrix<float>& x) {
          return c % 2 ? Eigen::VectorXf(det.decision_function(x)) : Eigen::VectorXf(d.anomaly_score(x));
        }) == 0);
}

TEST_CASE("Detector::replica: a snapshot that shares the kNN references and keeps them through a refit", "[detect][threads]") {
  ImgGan gan = trained_gan();
  Detector det{gan, score::NearestNeighbours()};
  det.fit(squares(200, 1));
  auto replica = det.replica();
  const auto x = input(1, 1);
  const Eigen::VectorXf before = det.decision_function(x);
  det.fit(squares(200, 9));  // new references for the original
  CHECK(Eigen::VectorXf(det.decision_function(x)) != before);
  CHECK(Eigen::VectorXf(replica.decision_function(x)) == before);
  CHECK(&replica.gan() != &det.gan());
}
