// Gan::distribute and ShardedNearestNeighbours with ranks that are threads of this process
// (support/thread_collective.hpp): the data-parallel code without MPI, so that the sanitizer
// builds run it too. tests/mpi/ runs the same checks, and more, on MPI ranks.
#include <catch2/catch.hpp>

#include <exception>
#include <string>
#include <vector>

#include "ganad/ganad.hpp"
#include "support/data_parallel.hpp"
#include "support/thread_collective.hpp"

using namespace ganad;
using namespace ganad::test;

namespace {
/// Runs body(group) -> R on `ranks` threads, one OpenMP thread each; the ranks' results in
/// rank order. An exception on a rank is rethrown here (Catch2's checks are not thread-safe:
/// the test checks the results on its own thread).
template <class R, class Body>
std::vector<R> on_ranks(int ranks, Body body) {
  ThreadGroup group(ranks);
  std::vector<R> results(std::size_t(ranks) + 0u);
  std::vector<std::exception_ptr> errors(std::size_t(ranks) + 0u);
  group.run([&](Collective& c) {
    set_num_threads(1);
    try {
      results[std::size_t(c.rank())] = body(c);
    } catch (...) {
      errors[std::size_t(c.rank())] = std::current_exception();
    }
  });
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return results;
}
}  // namespace

TEST_CASE("Gan::distribute on 2 ranks: the same bits on both, run after run; one process's weights within rounding", "[gan][distributed]") {
  auto train = [](auto make_gan, int global) {  // each rank makes its own GAN
    return on_ranks<std::vector<std::uint8_t>>(2, [&](Collective& group) {
      auto gan = make_gan();
      gan.distribute(&group);
      train_parts(gan, 3, global, group);
      return state_bytes(gan);
    });
  };
  for (int run = 0; run < 2; ++run) {
    const auto bn = train([] { return SmallGan({.seed = 5}); }, 8);  // BatchNorm in G
    CHECK(bn[0] == bn[1]);
    const auto table = train([] { return TableGan({.seed = 6}); }, 9);  // negatives
    CHECK(table[0] == table[1]);
    static std::vector<std::uint8_t> first;
    if (run == 0) first = bn[0];
    else CHECK(bn[0] == first);
  }
  // Without BatchNorm: one process on the global batch computes the same sums in another order.
  const auto ranks = on_ranks<std::vector<float>>(2, [](Collective& group) {
    PlainGan gan({.seed = 3});
    gan.distribute(&group);
    train_parts(gan, 3, 12, group);
    std::vector<float> w(gan.generator().params().begin(), gan.generator().params().end());
    w.insert(w.end(), gan.discriminator().net().params().begin(), gan.discriminator().net().params().end());
    return w;
  });
  PlainGan single({.seed = 3});
  for (int s = 0; s < 3; ++s) single.train_step(global_batch<Shape<1, 6, 6>>(12, s).view());
  std::vector<float> w(single.generator().params().begin(), single.generator().params().end());
  w.insert(w.end(), single.discriminator().net().params().begin(), single.discriminator().net().params().end());
  CHECK(ranks[0] == ranks[1]);
  CHECK(max_abs_difference(ranks[0], w) < 1e-5f);
  CHECK(ranks[0] != w);  // the sums' order differs: equal to rounding, not bits (the check above is not vacuous)
}

TEST_CASE("Gan::distribute: a rank whose training options differ from rank 0's gets a ValueError naming it", "[gan][distributed]") {
  const auto outcome = on_ranks<std::string>(2, [](Collective& group) {
    SmallGan gan({.seed = 1, .d_optimizer = {.lr = group.rank() == 0 ? 2e-4 : 1e-3}});
    try {
      gan.distribute(&group);
      return std::string("accepted");
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
  });
  CHECK(outcome[0] == "accepted");
  CHECK_THAT(outcome[1], Catch::Contains("rank 1's GanOptions differ from rank 0's"));
}

TEST_CASE("ShardedNearestNeighbours on 2 ranks: one process's NearestNeighbours scores; gather_scores in input order", "[detect][distributed]") {
  SmallGan gan({.seed = 40});
  for (int s = 0; s < 2; ++s) gan.train_step(global_batch<Shape<1, 6, 6>>(8, s).view());
  const auto normal = blobs(45, 41), queries = blobs(23, 42);
  const auto all_rows = Eigen::Map<const RowMatrix<float>>(normal.data(), 45, 36);
  const auto q = Eigen::Map<const RowMatrix<float>>(queries.data(), 23, 36);
  score::NearestNeighboursOptions o{.k = 3, .space = score::FeatureSpace::input};
  Detector whole(gan, score::NearestNeighbours(o));
  whole.fit(all_rows);
  const ScoreVector<float> expected = whole.decision_function(q);
  const auto got = on_ranks<ScoreVector<float>>(2, [&](Collective& group) {
    SmallGan mine = gan;  // a GAN per rank: the networks keep their activations inside
    const auto b = block_of(45, group);
    Detector sharded(mine, score::ShardedNearestNeighbours(group, o));
    sharded.fit(RowMatrix<float>(all_rows.middleRows(b.begin, b.rows)));
    const auto all = sharded.decision_function(q);
    const auto qb = block_of(23, group);  // and each rank's block of them, gathered back
    const auto gathered = gather_scores(group, ScoreVector<float>(all.segment(qb.begin, qb.rows)), 23);
    if (!(gathered == all)) throw std::runtime_error("gather_scores: not in input order");
    return all;
  });
  CHECK(got[0] == expected);
  CHECK(got[1] == expected);
}
