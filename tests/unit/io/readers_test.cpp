// The CSV and .npy readers: what they read, and every kind of bad input named by place.
#include <ganad/io/csv.hpp>
#include <ganad/io/npy.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "support/files.hpp"

using namespace ganad;
using Catch::Contains;

namespace {

/// A version-1 .npy image: header dict padded to 64 bytes, then `data`.
std::string npy(const std::string& descr, bool fortran, const std::string& shape, const std::string& data) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(h.size() & 0xff);
  out += char(h.size() >> 8);
  return out + h + data;
}
template <class V>
std::string raw(const std::vector<V>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(V)};
}
std::string write_file(const std::string& name, const std::string& bytes) {
  const auto path = test::temp_path(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

}  // namespace

TEST_CASE("read_csv: header, label column, feature selection, quotes and line endings", "[io]") {
  const std::string text = "\xEF\xBB\xBF" "a, b ,\"label, with comma\",c\r\n1,2,normal,3\r\n\r\n 4.5 ,-6e1,\"odd \"\"one\"\"\",+7\n";
  auto d = io::parse_csv(text, "t.csv", {.label = "label, with comma"});
  REQUIRE((d.rows() == 2 && d.features() == 3));
  CHECK(d.feature_names == std::vector<std::string>{"a", "b", "c"});
  CHECK((d.x(0, 0) == 1.f && d.x(0, 2) == 3.f && d.x(1, 0) == 4.5f && d.x(1, 1) == -60.f && d.x(1, 2) == 7.f));
  CHECK(d.labels == std::vector<std::string>{"normal", "odd \"one\""});
  CHECK(d.ids == std::vector<std::string>{"line 2", "line 4"});
  d = io::parse_csv(text, "t.csv", {.features = {"c", "0"}, .label = "2"});
  CHECK((d.features() == 2 && d.x(1, 0) == 7.f && d.x(1, 1) == 4.5f));
  d = io::parse_csv("1,2\n3,4\n", "n.csv");  // all numeric: no header
  CHECK((d.rows() == 2 && d.feature_names[1] == "column 1"));
  d = io::parse_csv("1;2\n3;4\n", "s.csv", {.header = io::CsvHeader::absent, .delimiter = ';'});
  CHECK(d.x(1, 1) == 4.f);
}

TEST_CASE("read_csv: bad input names the file, line and column", "[io]") {
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,2\n3,x\n", "t.csv"), Contains("t.csv:3: column 2: (b) 'x' is not a number"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,2\n3\n", "t.csv"), Contains("t.csv:3: 1 fields; the header has 2"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,\n", "t.csv"), Contains("t.csv:2: column 2: (b) empty field"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,nan\n", "t.csv"), Contains("t.csv:2: column 2: (b) 'nan' is not a finite float"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,1e39\n", "t.csv"), Contains("not a finite float"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n\"1,2\n", "t.csv"), Contains("t.csv:2: column 1: unterminated quote"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n\"1\"x,2\n", "t.csv"), Contains("text after a closing quote"));
  CHECK_THROWS_WITH(io::parse_csv("", "t.csv"), Contains("t.csv: no data"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n", "t.csv"), Contains("no data rows after the header"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,2\n", "t.csv", {.label = "y"}), Contains("no label column 'y'; the header has a, b"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,2\n", "t.csv", {.features = {"5"}}), Contains("feature column 5 does not exist"));
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,2\n", "t.csv", {.features = {"a"}, .label = "a"}), Contains("both a feature and the label"));
  CHECK_THROWS_AS(io::parse_csv("a,b\n1,x\n", "t.csv"), FormatError);
  CHECK_THROWS_AS(io::read_csv("/nonexistent/t.csv"), IoError);
  CHECK_THROWS_WITH(io::read_csv("/nonexistent/t.csv"), Contains("/nonexistent/t.csv: cannot open"));
}

TEST_CASE("read_npy: dtypes, byte orders, Fortran order and image layouts", "[io]") {
  // float32 C order, 2 x 3.
  const std::vector<float> f{1, 2, 3, 4, 5, 6};
  auto d = io::to_dataset(io::parse_npy(npy("<f4", false, "(2, 3)", raw(f)), "a.npy"), "a.npy");
  REQUIRE((d.rows() == 2 && d.features() == 3 && !d.image.is_image()));
  CHECK((d.x(0, 2) == 3.f && d.x(1, 0) == 4.f));
  // float64 Fortran order: the same matrix stored column by column reads the same.
  const std::vector<double> col{1, 4, 2, 5, 3, 6};
  const auto a = io::parse_npy(npy("<f8", true, "(2, 3)", raw(col)), "f.npy");
  CHECK(a.data == std::vector<float>(f));
  // Fortran order in 3-D: element (i, j, k) at i + 2 j + 4 k.
  std::vector<float> f3(2 * 2 * 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) f3[std::size_t(i + 2 * j + 4 * k)] = float(100 * i + 10 * j + k);
  const auto a3 = io::parse_npy(npy("<f4", true, "(2, 2, 3)", raw(f3)), "f3.npy");
  CHECK(a3.data[std::size_t(1 * 6 + 1 * 3 + 2)] == 112.f);
  // Big-endian float32.
  std::string be = raw(std::vector<float>{1.5f});
  std::swap(be[0], be[3]);
  std::swap(be[1], be[2]);
  CHECK(io::parse_npy(npy(">f4", false, "(1,)", be), "b.npy").data[0] == 1.5f);
  // uint8 images (N, H, W, C) channels last -> C x H x W rows in [-1, 1].
  std::vector<std::uint8_t> px(2 * 2 * 2 * 3);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = std::uint8_t(i * 10);
  d = io::to_dataset(io::parse_npy(npy("|u1", false, "(2, 2, 2, 3)", raw(px)), "i.npy"), "i.npy");
  REQUIRE(d.image == io::ImageGeometry{3, 2, 2});
  // row 0, channel 1, pixel (0, 1): source index ((0 * 2 + 0) * 2 + 1) * 3 + 1 = 4
  CHECK(d.x(0, 1 * 4 + 1) == float(px[4]) / 127.5f - 1.f);
  d = io::to_dataset(io::parse_npy(npy("|u1", false, "(3, 2, 4)", std::string(24, '\xff')), "g.npy"), "g.npy");
  CHECK((d.image == io::ImageGeometry{1, 2, 4} && d.x(2, 7) == 1.f));
}

TEST_CASE("read_npy: bad input is refused before anything is allocated", "[io]") {
  CHECK_THROWS_WITH(io::parse_npy("not numpy", "x.npy"), Contains("x.npy: not a .npy file"));
  CHECK_THROWS_WITH(io::parse_npy(npy("<i8", false, "(2,)", std::string(16, '\0')), "x.npy"),
                    Contains("dtype '<i8' is not supported; ganad reads float32"));
  CHECK_THROWS_WITH(io::parse_npy(npy("<f4", false, "(2, 3)", std::string(20, '\0')), "x.npy"),
                    Contains("need 24 bytes of data but the file holds 20 (truncated)"));
  CHECK_THROWS_WITH(io::parse_npy(npy("<f4", false, "(2, 3)", std::string(28, '\0')), "x.npy"), Contains("(trailing data)"));
  // A header announcing 10^18 floats: refused from the file size, nothing allocated.
  CHECK_THROWS_WITH(io::parse_npy(npy("<f4", false, "(1000000000, 1000000000)", ""), "x.npy"), Contains("the file holds 0"));
  CHECK_THROWS_WITH(io::parse_npy(npy("<f4", false, "(4294967296, 4294967296, 4294967296)", ""), "x.npy"), Contains("overflows"));
  CHECK_THROWS_WITH(io::parse_npy(npy("<f4", true, "(2,)", std::string(8, '\0')).substr(0, 30), "x.npy"), Contains("truncated .npy header"));
  std::vector<float> bad{1.f, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_WITH(io::to_dataset(io::parse_npy(npy("<f4", false, "(2, 1)", raw(bad)), "x.npy"), "x.npy"), Contains("row 1 holds a NaN"));
  CHECK_THROWS_WITH(io::to_dataset(io::parse_npy(npy("|u1", false, "(1, 2, 2, 2, 2)", std::string(16, '\0')), "x.npy"), "x.npy"),
                    Contains("5-D array"));
  CHECK_THROWS_AS(io::read_npy("/nonexistent/x.npy"), IoError);
}

TEST_CASE("MappedNpy: float32 rows viewed in place, chunk by chunk, equal to read_npy's", "[io]") {
  std::vector<float> f(7 * 6);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = float(i) * 0.25f - 3.f;
  const auto path = write_file("mapped.npy", npy("<f4", false, "(7, 2, 3)", raw(f)));
  const io::MappedNpy m(path);
  CHECK((m.rows() == 7 && m.row_size() == 6 && m.shape() == std::vector<std::size_t>{7, 2, 3}));
  const auto all = m.samples().as<Flat<6>>("test");
  REQUIRE(all.rows == 7);
  const auto in_memory = io::read_npy(path);
  for (int r = 0; r < 7; ++r)
    for (int c = 0; c < 6; ++c) CHECK(all.row(r)[c] == in_memory.x(r, c));
  std::vector<std::int64_t> starts;
  std::vector<float> seen;
  m.for_each_chunk(3, [&](const Samples<float>& chunk, std::int64_t r0) {
    starts.push_back(r0);
    const auto v = chunk.as<Flat<6>>("test");
    for (int r = 0; r < v.rows; ++r) seen.insert(seen.end(), v.row(r), v.row(r) + 6);
  });
  CHECK(starts == std::vector<std::int64_t>{0, 3, 6});
  CHECK(seen == f);  // released pages are read again from the file
  CHECK(m.rows(6, 1).as<Flat<6>>("test").row(0)[5] == f[41]);
  CHECK_THROWS_WITH(m.rows(5, 3), Contains("rows [5, 8) are outside its 7 rows"));
  CHECK_THROWS_AS(m.for_each_chunk(0, [](const Samples<float>&, std::int64_t) {}), ValueError);
}

TEST_CASE("MappedNpy: what it cannot view in place is refused by name", "[io]") {
  const std::vector<double> d(6, 1.0);
  CHECK_THROWS_WITH(io::MappedNpy(write_file("m64.npy", npy("<f8", false, "(2, 3)", raw(d)))), Contains("this array is '<f8'"));
  const std::vector<float> f(6, 1.f);
  CHECK_THROWS_WITH(io::MappedNpy(write_file("mbe.npy", npy(">f4", false, "(2, 3)", raw(f)))), Contains("'>f4'"));
  CHECK_THROWS_WITH(io::MappedNpy(write_file("mfo.npy", npy("<f4", true, "(2, 3)", raw(f)))), Contains("in Fortran order"));
  CHECK_THROWS_WITH(io::MappedNpy(write_file("mhwc.npy", npy("<f4", false, "(1, 1, 2, 3)", raw(f)))), Contains("(N, H, W, 3)"));
  CHECK_THROWS_WITH(io::MappedNpy(write_file("mshort.npy", npy("<f4", false, "(2, 4)", raw(f)))), Contains("(truncated)"));
  CHECK_THROWS_WITH(io::MappedNpy(write_file("mempty.npy", "")), Contains("the file is empty"));
  CHECK_THROWS_AS(io::MappedNpy("/nonexistent/x.npy"), IoError);
}
