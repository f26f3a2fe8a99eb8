// The image readers: a folder of mixed sizes and colour models, resizing, labels from
// subfolders, conversion of in-memory images, and bad files named.
#define GANAD_STB_IMPLEMENTATION
#include <ganad/io/images.hpp>
#include <stb/stb_image_write.h>  // its implementation is in the example's test

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "support/files.hpp"
#include "support/threads.hpp"

using namespace ganad;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

/// A w x h PNG with `channels` channels, pixel value (x * 7 + y * 13 + c * 50) % 256.
void png(const fs::path& p, int w, int h, int channels) {
  fs::create_directories(p.parent_path());
  std::vector<unsigned char> px(std::size_t(w * h * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) px[std::size_t((y * w + x) * channels + c)] = (unsigned char)((x * 7 + y * 13 + c * 50) % 256);
  REQUIRE(stbi_write_png(p.string().c_str(), w, h, channels, px.data(), w * channels));
}

}  // namespace

TEST_CASE("read_image_folder: mixed sizes and colour, resized, labelled by subfolder", "[io]") {
  const auto dir = ganad::test::fresh_dir("images_mixed");
  png(dir / "cat" / "a.png", 20, 12, 3);
  png(dir / "cat" / "b.png", 8, 8, 1);
  png(dir / "dog" / "c.png", 16, 16, 1);
  png(dir / "dog" / "deep" / "d.png", 31, 17, 3);
  std::ofstream(dir / "dog" / "notes.txt") << "not an image";
  png(dir / ".hidden" / "e.png", 4, 4, 1);
  const auto d = io::read_image_folder(dir.string(), {.height = 16, .width = 16});
  REQUIRE((d.rows() == 4 && d.image == io::ImageGeometry{3, 16, 16}));  // RGB: some files have colour
  CHECK(d.labels == std::vector<std::string>{"cat", "cat", "dog", "dog"});
  CHECK(d.ids[3] == (dir / "dog" / "deep" / "d.png").string());
  CHECK((d.x.minCoeff() >= -1.f && d.x.maxCoeff() <= 1.f));
  // A grayscale file read as RGB: the three planes are equal. 16 x 16 needs no resize.
  const auto plane = Eigen::Index(16 * 16);
  CHECK(d.x.row(2).segment(0, plane) == d.x.row(2).segment(plane, plane));
  CHECK(d.x(2, 16 * 1 + 2) == float((2 * 7 + 1 * 13) % 256) / 127.5f - 1.f);
  // Grayscale when asked; and the same bits on one thread as on several.
  const auto g = io::read_image_folder(dir.string(), {.height = 16, .width = 16, .channels = 1});
  CHECK(g.image == io::ImageGeometry{1, 16, 16});
  RowMatrix<float> one;
  {
    ganad::test::ThreadCount t(1);
    one = io::read_image_folder(dir.string(), {.height = 16, .width = 16}).x;
  }
  CHECK(one == d.x);
  fs::remove_all(dir);
}

TEST_CASE("read_images: size rules and bad files", "[io]") {
  const auto dir = ganad::test::fresh_dir("images_bad");
  png(dir / "a.png", 8, 8, 1);
  png(dir / "b.png", 9, 8, 1);
  CHECK_THROWS_WITH(io::read_images({(dir / "a.png").string(), (dir / "b.png").string()}),
                    Contains("b.png: 9 x 8 pixels, but") && Contains("ask for one size"));
  const auto kept = io::read_images({(dir / "a.png").string()});
  CHECK(kept.image == io::ImageGeometry{1, 8, 8});
  std::ofstream(dir / "broken.png", std::ios::binary) << "\x89PNG\r\n\x1a\nthis is not the rest of a PNG";
  CHECK_THROWS_WITH(io::read_images({(dir / "a.png").string(), (dir / "broken.png").string()}, {.height = 8, .width = 8}),
                    Contains("broken.png: not a PNG, JPEG, BMP or PGM/PPM image"));
  CHECK_THROWS_AS(io::read_images({(dir / "missing.png").string()}), FormatError);
  CHECK_THROWS_WITH(io::read_images({(dir / "missing.png").string()}), Contains("missing.png: cannot open"));
  CHECK_THROWS_AS(io::read_images({(dir / "a.png").string()}, {.channels = 2}), ValueError);
  CHECK_THROWS_AS(io::read_images({(dir / "a.png").string()}, {.height = 8}), ValueError);
  png(dir / "sub" / "c.png", 8, 8, 1);
  CHECK_THROWS_WITH(io::read_image_folder(dir.string()), Contains("images at its top level and 1 in subfolders"));
  CHECK_THROWS_WITH(io::read_image_folder((dir / "sub" / "c.png").string()), Contains("not a folder"));
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH(io::read_image_folder((dir / "empty").string()), Contains("no image files"));
  // A PGM header whose width overflows stb's int parser is refused before stb reads it.
  std::ofstream(dir / "huge.pgm", std::ios::binary) << "P5\n1111111111 2\n255\n";
  CHECK_THROWS_WITH(io::read_images({(dir / "huge.pgm").string()}), Contains("huge.pgm: a PGM/PPM header number with 10 digits"));
  CHECK_THROWS_WITH(io::decode_image("P6 # comment\n 12 99999999999 255 ", "mem"), Contains("mem: a PGM/PPM header number with 11 digits"));
  std::ofstream(dir / "small.pgm", std::ios::binary) << "P5\n# made by hand\n3 2\n255\n" << std::string("\x00\x10\x20\x30\x40\x50", 6);
  const auto pgm = io::read_images({(dir / "small.pgm").string()});
  CHECK((pgm.image == io::ImageGeometry{1, 2, 3} && pgm.x(0, 5) == float(0x50) / 127.5f - 1.f));
  CHECK_THROWS_WITH(io::decode_image("P5 2 2 255 abcd", "mem", {.height = -4, .width = 4}), Contains("height and width must both be"));
  std::string bytes(64, '\0');
  CHECK_THROWS_WITH(io::decode_image(bytes, "mem"), Contains("mem: not a PNG"));
  fs::remove_all(dir);
}

TEST_CASE("convert_images: area filter when shrinking, channels converted", "[io]") {
  io::Dataset d;
  d.image = {1, 4, 4};
  d.x.resize(1, 16);
  for (int i = 0; i < 16; ++i) d.x(0, i) = float(i) / 16.f;
  const auto small = io::convert_images(d, {3, 2, 2});
  REQUIRE(small.image == io::ImageGeometry{3, 2, 2});
  // Integer ratio: each output pixel is the mean of its 2 x 2 block, in every channel.
  CHECK(small.x(0, 0) == Approx((0 + 1 + 4 + 5) / 64.f));
  CHECK(small.x(0, 4 + 3) == Approx((10 + 11 + 14 + 15) / 64.f));
  const auto back = io::convert_images(small, {1, 2, 2});
  CHECK(back.x(0, 3) == Approx(small.x(0, 3)));
  CHECK_THROWS_AS(io::convert_images(d, {2, 4, 4}), ValueError);
}
