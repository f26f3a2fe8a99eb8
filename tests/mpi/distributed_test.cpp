// Data-parallel training and distributed scoring over MPI, run as `mpirun -np 2` (any number of
// ranks works). Every rank runs every test case in the same order; the checks are CHECKs, not
// REQUIREs, so that a failure on one rank never leaves the others waiting in a collective.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "ganad/distributed/mpi.hpp"
#include "ganad/ganad.hpp"
#include "support/data_parallel.hpp"

namespace {

using namespace ganad;
mpi::Communicator* world = nullptr;

using namespace ganad::test;

/// True on every rank when every rank holds the same bytes as rank 0.
bool same_on_every_rank(const std::vector<std::uint8_t>& mine, Collective& group) {
  auto zeros = mine;
  group.broadcast(zeros);
  std::vector<double> differs{zeros == mine ? 0.0 : 1.0};
  group.sum(differs);
  return differs[0] == 0.0;
}
template <class G>
void train_parts(G& gan, int steps, int global) {
  test::train_parts(gan, steps, global, *world);
}

}  // namespace

TEST_CASE("allreduce: every rank gets the same bits; short vectors summed in rank order, long ones in ring order", "[mpi]") {
  const int p = world->size(), r = world->rank();
  for (const std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(1024), std::size_t(1025), std::size_t(5000)}) {
    const bool ring = n * sizeof(float) > mpi::Communicator::small_sum_bytes;
    auto value = [](int rank, std::size_t i) { return float(std::sin(double(rank * 1000 + int(i)) * 0.37) * std::pow(10.0, double(i % 7) - 3)); };
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = value(r, i);
    world->sum(v);
    // Ring: chunk c's sum starts at rank c and adds the ranks after it around the ring.
    // Short: rank 0's value, then rank 1's, ...
    std::vector<float> expected(n);
    for (int c = 0; c < p; ++c)
      for (std::size_t i = n * std::size_t(c) / std::size_t(p); i < n * std::size_t(c + 1) / std::size_t(p); ++i) {
        const int first = ring ? c : 0;
        float acc = value(first, i);
        for (int k = 1; k < p; ++k) acc = value((first + k) % p, i) + acc;
        expected[i] = acc;
      }
    CHECK(v == expected);
    std::vector<std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(v.data()), reinterpret_cast<const std::uint8_t*>(v.data() + n));
    CHECK(same_on_every_rank(bytes, *world));
  }
}

TEST_CASE("data-parallel Gan: weights, averaged D, Adam state and RNG are the same bits on every rank after every step", "[mpi][gan]") {
  test::SmallGan gan({.seed = 5});  // BatchNorm in G
  gan.distribute(world);
  TableGan table({.seed = 6});      // negatives on
  table.distribute(world);
  for (int s = 0; s < 4; ++s) {
    const auto part = my_part(global_batch<Shape<1, 6, 6>>(8, s), *world);
    const auto stats = gan.train_step(part.view());
    table.train_step(my_part(global_batch<Flat<5>>(10, s), *world).view());
    CHECK(std::isfinite(stats.d_loss));
    CHECK(same_on_every_rank(state_bytes(gan), *world));
    CHECK(same_on_every_rank(state_bytes(table), *world));
  }
  // The ranks trained on different parts: they would have drifted apart without the reduction.
  test::SmallGan alone({.seed = 5});
  for (int s = 0; s < 4; ++s) alone.train_step(my_part(global_batch<Shape<1, 6, 6>>(8, s), *world).view());
  if (world->size() > 1) CHECK_FALSE(same_on_every_rank(state_bytes(alone), *world));
}

TEST_CASE("data-parallel Gan: distribute() starts every rank from rank 0's weights", "[mpi][gan]") {
  test::SmallGan gan({.seed = 10 + std::uint64_t(world->rank())});  // a different seed on each rank
  gan.distribute(world);
  test::SmallGan rank0({.seed = 10});
  CHECK(state_bytes(gan) == state_bytes(rank0));
}

TEST_CASE("data-parallel Gan: the same bits run after run", "[mpi][gan][determinism]") {
  auto run = [] {
    test::SmallGan gan({.seed = 7});
    gan.distribute(world);
    train_parts(gan, 3, 10);
    return state_bytes(gan);
  };
  CHECK(run() == run());
}

TEST_CASE("data-parallel Gan: equals one process training on the global batch, within float rounding", "[mpi][gan][equality]") {
  // Without BatchNorm the ranks' gradients, weighted by their share, sum to the global batch's.
  // Tolerance: after 3 Adam steps, 1e-5 on weights of order 0.1 (Adam's step is lr = 2e-4 per
  // weight; the sums' order changes only their last bits).
  auto compare = [](auto distributed, auto single, int global) {
    using G = decltype(distributed);
    distributed.distribute(world);
    GanStepStats sd, ss;
    for (int s = 0; s < 3; ++s) {
      const auto batch = global_batch<typename G::image_shape>(global, s);
      sd = distributed.train_step(my_part(batch, *world).view());
      ss = single.train_step(batch.view());
    }
    CHECK(max_abs_difference(distributed.generator().params(), single.generator().params()) < 1e-5f);
    CHECK(max_abs_difference(distributed.discriminator().net().params(), single.discriminator().net().params()) < 1e-5f);
    CHECK(max_abs_difference(distributed.averaged_discriminator().net().params(), single.averaged_discriminator().net().params()) < 1e-5f);
    CHECK(sd.d_loss == Approx(ss.d_loss).epsilon(1e-5));
    CHECK(sd.g_loss == Approx(ss.g_loss).epsilon(1e-5));
    CHECK(sd.d_real == Approx(ss.d_real).epsilon(1e-5));
    CHECK(sd.d_negative == Approx(ss.d_negative).epsilon(1e-5));
    // The RNG drew the global batch's noise on every rank, as the single process did.
    CHECK(distributed.steps() == single.steps());
  };
  compare(PlainGan({.seed = 3}), PlainGan({.seed = 3}), 12);
  compare(TableGan({.seed = 4}), TableGan({.seed = 4}), 9);  // negatives: the global batch's variance
}

TEST_CASE("data-parallel Gan: BatchNorm normalises per rank; its running statistics are the ranks' mean", "[mpi][gan][batchnorm]") {
  // G has BatchNorm: each rank normalises with its own batch's statistics, so the result is not
  // one process's on the global batch; the running statistics stay identical on every rank.
  test::SmallGan distributed({.seed = 8}), single({.seed = 8});
  distributed.distribute(world);
  for (int s = 0; s < 3; ++s) {
    const auto batch = global_batch<Shape<1, 6, 6>>(8, s);
    distributed.train_step(my_part(batch, *world).view());
    single.train_step(batch.view());
  }
  std::vector<float> running;
  distributed.generator().for_each_state([&](std::span<const float> s) { running.assign(s.begin(), s.end()); });
  REQUIRE(!running.empty());
  std::vector<std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(running.data()),
                                  reinterpret_cast<const std::uint8_t*>(running.data() + running.size()));
  CHECK(same_on_every_rank(bytes, *world));
  if (world->size() > 1)  // per-rank statistics: farther from the single process than rounding
    CHECK(max_abs_difference(distributed.generator().params(), single.generator().params()) > 1e-5f);
}

TEST_CASE("data-parallel fit: shards, global batch, reports of the global batch", "[mpi][gan][fit]") {
  const auto all = test::blobs(40, 99);
  const auto mine = block_of(40, *world);
  auto shard = RowMatrix<float>(Eigen::Map<const RowMatrix<float>>(all.data(), 40, 36).middleRows(mine.begin, mine.rows));
  test::SmallGan gan({.seed = 12});
  gan.distribute(world);
  int reports = 0;
  const auto p = gan.fit(shard, {.epochs = 2, .batch = 8}, [&](const FitProgress&) { ++reports; });
  CHECK(reports == 2);
  CHECK(p.steps_per_epoch == 5);  // ceil(40 / 8)
  CHECK(gan.steps() == 10);
  CHECK(same_on_every_rank(state_bytes(gan), *world));
  CHECK_THROWS_AS(gan.fit(shard, {.epochs = 1, .batch = world->size() - 1}), ValueError);
}

TEST_CASE("checkpoints: rank 0 writes, training resumes bit for bit on as many ranks, and on another number of ranks", "[mpi][gan][checkpoint]") {
  std::vector<double> job{world->rank() == 0 ? double(::getpid()) : 0.0};  // rank 0's pid: a name of this job's own
  world->sum(job);
  const auto tmp = std::filesystem::temp_directory_path();
  const std::string stem = "ganad_mpi_checkpoint_" + std::to_string(std::int64_t(job[0]));
  const std::string path = (tmp / (stem + ".ganad")).string(), path_one = (tmp / (stem + "_one_rank.ganad")).string();
  test::SmallGan straight({.seed = 21});
  straight.distribute(world);
  train_parts(straight, 4, 8);

  test::SmallGan first({.seed = 21});
  first.distribute(world);
  train_parts(first, 2, 8);
  if (world->rank() == 0) save(first, path);
  world->barrier();
  test::SmallGan resumed({.seed = 999});
  load(resumed, path);
  resumed.distribute(world);
  for (int s = 2; s < 4; ++s) resumed.train_step(my_part(global_batch<Shape<1, 6, 6>>(8, s), *world).view());
  CHECK(state_bytes(resumed) == state_bytes(straight));

  // The same file on one rank alone (a communicator of its own): it loads and trains on.
  MPI_Comm alone_comm;
  MPI_Comm_split(world->comm(), world->rank(), 0, &alone_comm);
  {
    mpi::Communicator alone(alone_comm);
    test::SmallGan one({.seed = 1});
    load(one, path);
    one.distribute(&alone);
    const auto s = one.train_step(global_batch<Shape<1, 6, 6>>(8, 2).view());
    CHECK(std::isfinite(s.d_loss));
    CHECK(one.steps() == 3);
    if (world->rank() == 0) save(one, path_one);  // one rank's checkpoint, read by all ranks next (another file: rank 1 may still be reading `path`)
  }
  MPI_Comm_free(&alone_comm);
  world->barrier();
  test::SmallGan again({.seed = 2});
  load(again, path_one);
  again.distribute(world);
  train_parts(again, 1, 8);
  CHECK(again.steps() == 4);
  CHECK(same_on_every_rank(state_bytes(again), *world));
  world->barrier();
  if (world->rank() == 0) std::filesystem::remove(path), std::filesystem::remove(path_one);
}

TEST_CASE("distributed scoring: each rank scores its block; every rank gets the scores in input order, as one process's", "[mpi][score]") {
  test::SmallGan gan({.seed = 30});
  gan.distribute(world);
  train_parts(gan, 2, 8);
  const auto x = test::blobs(37, 31);
  const auto view = Eigen::Map<const RowMatrix<float>>(x.data(), 37, 36);
  Detector one(gan, score::Discriminator());
  const auto expected = one.decision_function(view);
  const auto b = block_of(37, *world);
  const auto mine = one.decision_function(RowMatrix<float>(view.middleRows(b.begin, b.rows)));
  const auto all = gather_scores(*world, mine, 37);
  REQUIRE(all.size() == 37);
  CHECK(all == expected);
  CHECK_THROWS_AS(gather_scores(*world, mine, 36 + world->size() * 2), ShapeError);  // blocks of other rows
}

TEST_CASE("sharded kNN: references split over the ranks, a distributed top-k merge, one process's scores", "[mpi][score][knn]") {
  test::SmallGan gan({.seed = 40});  // not distributed, trained on the same batches: the same GAN on every rank
  for (int s = 0; s < 2; ++s) gan.train_step(global_batch<Shape<1, 6, 6>>(8, s).view());
  const auto normal = test::blobs(45, 41), queries = test::blobs(23, 42);
  const auto all_rows = Eigen::Map<const RowMatrix<float>>(normal.data(), 45, 36);
  const auto q = Eigen::Map<const RowMatrix<float>>(queries.data(), 23, 36);
  const auto b = block_of(45, *world);
  const RowMatrix<float> shard = all_rows.middleRows(b.begin, b.rows);
  for (const bool input_only : {true, false}) {
    score::NearestNeighboursOptions o{.k = 3};
    if (input_only) o.space = score::FeatureSpace::input;
    Detector whole(gan, score::NearestNeighbours(o));
    whole.fit(all_rows);
    Detector sharded(gan, score::ShardedNearestNeighbours(*world, o));
    sharded.fit(shard);
    CHECK(sharded.scorer().local().references() == b.rows);
    const auto expected = whole.decision_function(q), got = sharded.decision_function(q);
    if (input_only) {
      CHECK(got == expected);  // no scaling: the same distances, merged
    } else {
      for (Eigen::Index i = 0; i < q.rows(); ++i) CHECK(got[i] == Approx(expected[i]).epsilon(1e-5));
    }
  }
}

int main(int argc, char** argv) {
  ganad::mpi::Session mpi(argc, argv);
  world = &mpi.world();
  return mpi.run([&] {
    Catch::Session session;
    if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
    const int failed = session.run();
    std::vector<double> failures{double(failed)};
    world->sum(failures);  // every rank's verdict: a failure on one fails the job's exit code
    if (world->rank() == 0) std::printf("mpi tests: %d rank(s), %d failed assertion(s) in all\n", world->size(), int(failures[0]));
    return failures[0] == 0 ? 0 : 1;
  });
}
