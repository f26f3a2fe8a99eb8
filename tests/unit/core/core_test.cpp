#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "ganad/ganad.hpp"

using namespace ganad;

TEST_CASE("Shape: extents, sizes and printing", "[core]") {
  using S = Shape<3, 5, 7>;
  STATIC_REQUIRE(S::size == 105);
  STATIC_REQUIRE(!S::is_flat);
  STATIC_REQUIRE(Flat<9>::size == 9);
  STATIC_REQUIRE(Flat<9>::is_flat);
  CHECK(shape_string<S>() == "(3, 5, 7)");
  CHECK(shape_string<Flat<12>>() == "(12)");
}

TEST_CASE("BatchView: from_span rejects partial samples with a ShapeError", "[core]") {
  std::vector<float> v(2 * 6 + 1);
  CHECK_THROWS_AS((BatchView<float, Shape<1, 2, 3>>::from_span(v)), ShapeError);
  CHECK_THROWS_WITH((BatchView<float, Shape<1, 2, 3>>::from_span(v)),
                    Catch::Contains("13 values") && Catch::Contains("(1, 2, 3)"));
  v.resize(12);
  const auto view = BatchView<float, Shape<1, 2, 3>>::from_span(v);
  CHECK(view.batch == 2);
  CHECK(view.sample(1) == v.data() + 6);
  ConstBatchView<float, Shape<1, 2, 3>> cview = view;  // mutable converts to const
  CHECK(cview.size() == 12);
}

TEST_CASE("Batch: grows for a larger batch and never reallocates for a smaller one", "[core]") {
  Batch<float, Shape<2, 3, 3>> b(4);
  const float* first = b.data();
  CHECK(b.capacity() == 4);
  const auto before = buffer_allocations();
  b.resize(2);
  b.resize(4);
  CHECK(b.data() == first);
  CHECK(buffer_allocations() == before);
  CHECK(b.batch() == 4);
  b.resize(9);
  CHECK(b.capacity() >= 9);
  CHECK(buffer_allocations() == before + 1);
}

TEST_CASE("aligned_vector: 64-byte alignment, 2 MiB alignment for large buffers", "[core]") {
  for (std::size_t n : {1u, 3u, 17u, 1000u}) {
    aligned_vector<float> v(n);
    CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % 64 == 0);
  }
  aligned_vector<float> big(std::size_t(1) << 20);  // 4 MiB
  CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % (std::size_t(2) << 20) == 0);
}

TEST_CASE("Errors: one hierarchy under ganad::Error", "[core]") {
  CHECK_THROWS_AS(throw ShapeError("s"), Error);
  CHECK_THROWS_AS(throw IoError("i"), Error);
  CHECK_THROWS_AS(throw FormatError("f"), Error);
  CHECK_THROWS_AS(throw ValueError("v"), Error);
  CHECK_THROWS_AS(throw NotFittedError("n"), Error);
  CHECK_THROWS_AS(throw TrainingError("t"), Error);
}
