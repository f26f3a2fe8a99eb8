#include "ganad/ganad.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "support/files.hpp"
#include "support/random.hpp"
#include "support/small_gan.hpp"

using namespace ganad;
using test::read_all;
using test::SmallG;
using test::temp_path;
using test::write_all;

TEST_CASE("Model files: exact round trip of a network with BatchNorm statistics", "[io][serialize]") {
  SmallG g({.seed = 4});
  Batch<float, Flat<4>> z(6);
  test::fill_uniform<float>(z.flat(), 5);
  g.forward(z.view());  // moves the running statistics
  g.eval();
  std::vector<float> y1(g.forward(z.view()).flat().begin(), g.forward(z.view()).flat().end());
  const std::string path = temp_path("roundtrip.ganad");
  save(g, path);
  SmallG h({.seed = 99});
  load(h, path);
  h.eval();
  const auto y2 = h.forward(z.view());
  CHECK(std::ranges::equal(y1, y2.flat()));
  CHECK(std::ranges::equal(g.params(), h.params()));
  std::remove(path.c_str());
}

TEST_CASE("Model files: every flipped byte and every truncation is rejected, the model untouched", "[io][serialize]") {
  using Tiny = Sequential<float, Flat<3>, Dense<2>, BatchNorm<>, Tanh>;
  Tiny net({.seed = 1});
  const std::string path = temp_path("corrupt.ganad"), bad = temp_path("corrupt_bad.ganad");
  save(net, path);
  const auto good = read_all(path);
  REQUIRE(good.size() > 40);
  Tiny target({.seed = 2});
  const std::vector<float> before(target.params().begin(), target.params().end());
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto b = good;
    b[i] ^= 0x5a;
    write_all(bad, b);
    INFO("flipped byte " << i);
    REQUIRE_THROWS_AS(load(target, bad), FormatError);
  }
  for (std::size_t len = 0; len < good.size(); ++len) {
    write_all(bad, std::vector<unsigned char>(good.begin(), good.begin() + std::ptrdiff_t(len)));
    INFO("truncated to " << len << " bytes");
    REQUIRE_THROWS_AS(load(target, bad), FormatError);
  }
  auto longer = good;
  longer.push_back(0);
  write_all(bad, longer);
  CHECK_THROWS_AS(load(target, bad), FormatError);
  CHECK(std::ranges::equal(before, target.params()));
  load(target, path);  // the good file still loads
  CHECK(std::ranges::equal(net.params(), target.params()));
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

TEST_CASE("Model files: clear errors for another architecture, scalar type, version, or no model at all", "[io][serialize]") {
  const std::string path = temp_path("arch.ganad");
  Sequential<float, Flat<3>, Dense<2>> a;
  save(a, path);
  Sequential<float, Flat<3>, Dense<4>> b;
  CHECK_THROWS_WITH(load(b, path), Catch::Contains("another architecture") && Catch::Contains("Dense (2) 8") &&
                                       Catch::Contains("Dense (4) 16"));
  Sequential<double, Flat<3>, Dense<2>> c;
  CHECK_THROWS_WITH(load(c, path), Catch::Contains("32-bit parameters") && Catch::Contains("64-bit"));
  auto bytes = read_all(path);
  bytes[8] = 9;  // format version
  write_all(path, bytes);
  CHECK_THROWS_WITH(load(a, path), Catch::Contains("format version 9"));
  bytes[8] = 2;  // ganad 0.1's format
  write_all(path, bytes);
  CHECK_THROWS_WITH(load(a, path), Catch::Contains("format version 2 (an older ganad)") && Catch::Contains("reads version 3"));
  write_all(path, std::vector<unsigned char>(100, 'x'));
  CHECK_THROWS_WITH(load(a, path), Catch::Contains("not a ganad model file"));
  CHECK_THROWS_AS(load(a, temp_path("does_not_exist.ganad")), IoError);
  CHECK_THROWS_AS(save(a, "/nonexistent-dir/x.ganad"), IoError);
  std::remove(path.c_str());
}

TEST_CASE("Model files: a save never leaves a temporary file or half a model behind", "[io][serialize]") {
  const std::string dir = temp_path("atomic_dir");
  std::filesystem::create_directories(dir);
  Sequential<float, Flat<3>, Dense<2>> a({.seed = 1}), b({.seed = 2});
  save(a, dir + "/m.ganad");
  save(b, dir + "/m.ganad");  // replaces it whole
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 1);
  Sequential<float, Flat<3>, Dense<2>> c;
  load(c, dir + "/m.ganad");
  CHECK(std::ranges::equal(c.params(), b.params()));
  std::filesystem::remove_all(dir);
}

