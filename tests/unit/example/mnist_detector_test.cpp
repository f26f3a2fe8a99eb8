// The IDX reader (ganad/io/idx.hpp) and the MNIST example end to end, on small synthetic IDX files.
#include "app.hpp"  // examples/mnist_detector; first: ganad before <immintrin.h> users

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>

#include "support/files.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace fs = std::filesystem;
namespace idx = ganad::io::idx;

namespace {

fs::path scratch(const std::string& name) { return ganad::test::fresh_dir("example_" + name); }

/// n images: class 0 = a cross (normal), class 1 = a filled square (the anomaly), random
/// positions. (With the square as the normal class the thin cross reconstructs better from
/// a briefly trained model simply because it has less ink.)
idx::Dataset shapes(int n, std::uint64_t seed) {
  idx::Dataset d;
  d.images.count = n;
  d.images.rows = d.images.cols = 28;
  d.images.pixels.assign(std::size_t(n) * 784, 0);
  ganad::Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int cls = int(rng.below(2)), r = 4 + int(rng.below(8)), c = 4 + int(rng.below(8)), s = 10 + int(rng.below(5));
    std::uint8_t* img = d.images.pixels.data() + std::size_t(i) * 784;
    for (int y = r; y < r + s; ++y)
      for (int x = c; x < c + s; ++x)
        if (cls == 1 || y == r + s / 2 || x == c + s / 2) img[y * 28 + x] = 255;
    d.labels.push_back(std::uint8_t(cls));
  }
  return d;
}

void write_split(const fs::path& dir, const std::string& prefix, const idx::Dataset& d, bool gz) {
  idx::write_images((dir / (prefix + "-images-idx3-ubyte" + (gz ? ".gz" : ""))).string(), d.images, gz);
  idx::write_labels((dir / (prefix + "-labels-idx1-ubyte" + (gz ? ".gz" : ""))).string(), d.labels, gz);
}

std::vector<std::uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void dump(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

}  // namespace

TEST_CASE("IDX: plain and gzip files round-trip through the writer", "[example][idx]") {
  const auto dir = scratch("idx_roundtrip");
  const auto d = shapes(37, 1);
  for (bool gz : {false, true}) {
    write_split(dir, gz ? "gz" : "plain", d, gz);
    const std::string sfx = gz ? ".gz" : "";
    const auto back = idx::read_dataset((dir / ((gz ? "gz" : "plain") + std::string("-images-idx3-ubyte") + sfx)).string(),
                                        (dir / ((gz ? "gz" : "plain") + std::string("-labels-idx1-ubyte") + sfx)).string());
    CHECK(back.images.count == 37);
    CHECK(back.images.pixels == d.images.pixels);
    CHECK(back.labels == d.labels);
  }
  fs::remove_all(dir);
}

TEST_CASE("IDX: every bad file is a clear error naming the file and the problem", "[example][idx]") {
  const auto dir = scratch("idx_bad");
  const auto d = shapes(5, 2);
  write_split(dir, "ok", d, false);
  const auto images = slurp(dir / "ok-images-idx3-ubyte"), labels = slurp(dir / "ok-labels-idx1-ubyte");
  const std::string bad = (dir / "bad").string();

  CHECK_THROWS_WITH(idx::read_images((dir / "missing").string()), Catch::Contains("missing") && Catch::Contains("cannot open"));
  CHECK_THROWS_AS(idx::read_images((dir / "missing").string()), ganad::IoError);
  auto b = images;
  b[3] = 0x99;
  dump(bad, b);
  CHECK_THROWS_WITH(idx::read_images(bad), Catch::Contains(bad) && Catch::Contains("bad magic"));
  CHECK_THROWS_WITH(idx::read_images((dir / "ok-labels-idx1-ubyte").string()), Catch::Contains("looks like a label file"));
  dump(bad, std::vector<std::uint8_t>(images.begin(), images.end() - 100));
  CHECK_THROWS_WITH(idx::read_images(bad), Catch::Contains("header says 5 images") && Catch::Contains("truncated"));
  b = images;
  b.push_back(7);
  dump(bad, b);
  CHECK_THROWS_WITH(idx::read_images(bad), Catch::Contains("trailing data"));
  dump(bad, std::vector<std::uint8_t>(images.begin(), images.begin() + 10));
  CHECK_THROWS_WITH(idx::read_images(bad), Catch::Contains("too short"));
  b = images;
  b[11] = 27;  // 27 rows: the pixels no longer fill whole images
  dump(bad, b);
  CHECK_THROWS_WITH(idx::read_images(bad), Catch::Contains("trailing data"));
  b.resize(16 + 5 * 27 * 28);  // 27 x 28 images are read (the example itself needs 28 x 28)
  dump(bad, b);
  const auto small = idx::read_images(bad);
  CHECK((small.count == 5 && small.rows == 27 && small.cols == 28));
  const auto ds = idx::to_dataset(small, std::vector<std::uint8_t>{0, 1, 2, 3, 4});
  CHECK((ds.rows() == 5 && ds.features() == 27 * 28 && ds.image == ganad::io::ImageGeometry{1, 27, 28}));
  CHECK(ds.labels[4] == "4");
  CHECK(ds.x(0, 0) == float(small.pixels[0]) / 127.5f - 1.f);
  dump(bad, std::vector<std::uint8_t>(labels.begin(), labels.end() - 1));
  CHECK_THROWS_WITH(idx::read_labels(bad), Catch::Contains("header says 5 labels") && Catch::Contains("truncated"));
  idx::write_labels(bad, std::vector<std::uint8_t>(4, 0));
  CHECK_THROWS_WITH(idx::read_dataset((dir / "ok-images-idx3-ubyte").string(), bad),
                    Catch::Contains("holds 5 images but") && Catch::Contains("holds 4 labels"));
  // gzip: corrupt and truncated streams.
  idx::write_images(bad, d.images, true);
  auto gz = slurp(bad);
  dump(bad, std::vector<std::uint8_t>(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2)));
  CHECK_THROWS_WITH(idx::read_images(bad), Catch::Contains("corrupt or truncated gzip"));
  gz[gz.size() / 2] ^= 0xff;
  dump(bad, gz);
  CHECK_THROWS_AS(idx::read_images(bad), ganad::FormatError);
  fs::remove_all(dir);
}

TEST_CASE("mnist_detector: command-line errors name the flag", "[example]") {
  auto parse = [](std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("mnist_detector")};
    for (auto& a : args) argv.push_back(a.data());
    return mnist::parse_args(int(argv.size()), argv.data());
  };
  CHECK_THROWS_WITH(parse({"--epochs", "x"}), Catch::Contains("--epochs needs a non-negative whole number"));
  CHECK_THROWS_WITH(parse({"--frobnicate"}), Catch::Contains("unknown option '--frobnicate'"));
  CHECK_THROWS_WITH(parse({"--batch"}), Catch::Contains("--batch needs a value"));
  CHECK_THROWS_WITH(parse({"--d-averaging", "much"}), Catch::Contains("--d-averaging needs a number"));
  CHECK(parse({"--d-averaging", "0.99"}).d_averaging == 0.99);
  CHECK(mnist::parse_classes("0-4") == std::set<int>{0, 1, 2, 3, 4});
  CHECK(mnist::parse_classes("1,7") == std::set<int>{1, 7});
  CHECK_THROWS_WITH(mnist::parse_classes("4-2"), Catch::Contains("cannot read '4-2'"));
  const auto q = parse({"--quick"});
  CHECK((q.epochs == 1 && q.limit_train == 4096));
}

TEST_CASE("mnist_detector end to end on synthetic IDX data: files written, anomalies score higher", "[example][e2e][long]") {
  const auto dir = scratch("e2e");
  write_split(dir, "train", shapes(600, 3), true);  // gzip, as a user's copy might be
  write_split(dir, "t10k", shapes(200, 4), false);
  mnist::Options o;
  o.data_dir = dir.string();
  o.normal = "0";
  o.epochs = 4;
  o.encoder_epochs = 3;
  o.batch = 32;
  o.out_dir = (dir / "out").string();
  o.quiet = true;
  std::FILE* sink = std::tmpfile();
  const auto results = mnist::run(o, sink);
  std::fclose(sink);
  for (const char* f : {"model.ganad", "log.jsonl", "results.json", "roc.png", "roc_discriminator.csv", "roc_reconstruction.csv",
                        "roc_knn.csv", "histogram_feature.png", "most_anomalous.png", "most_normal.png", "anomaly_maps.png", "samples_epoch_04.png"}) {
    INFO(f);
    CHECK(fs::file_size(dir / "out" / f) > 0);
  }
  REQUIRE(results.size() == std::size(mnist::scorer_names));
  for (const auto& r : results) {
    INFO(r.name << ": AUROC " << r.auroc << ", mean normal " << r.mean_by_class.at(0) << ", anomaly " << r.mean_by_class.at(1));
    if (r.name == "feature" || r.name.starts_with("knn") || r.name == "reconstruction" || r.name == "combined") {
      CHECK(r.mean_by_class.at(1) > r.mean_by_class.at(0));
      CHECK(r.auroc > 0.5);
    }
    CHECK(r.test_scores.size() == 200);
  }
  // --load scores with the saved model and gives the same numbers.
  mnist::Options again = o;
  again.load = (dir / "out" / "model.ganad").string();
  again.out_dir = (dir / "out2").string();
  sink = std::tmpfile();
  const auto reloaded = mnist::run(again, sink);
  std::fclose(sink);
  for (std::size_t k = 0; k < results.size(); ++k) {
    CHECK(reloaded[k].auroc == results[k].auroc);
    CHECK(reloaded[k].test_scores == results[k].test_scores);
  }
  // The log has one line per epoch with the discriminator's test AUROC, and results.json the list.
  std::ifstream log(dir / "out" / "log.jsonl");
  int epochs_logged = 0;
  for (std::string line; std::getline(log, line);)
    if (line.find("\"event\":\"epoch\"") != std::string::npos && line.find("\"discriminator_test_auroc\":") != std::string::npos &&
        line.find("\"last_weights_discriminator_test_auroc\":") != std::string::npos)
      ++epochs_logged;
  CHECK(epochs_logged == 4);
  std::ifstream js(dir / "out" / "results.json");
  const std::string results_json((std::istreambuf_iterator<char>(js)), std::istreambuf_iterator<char>());
  CHECK(results_json.find("\"discriminator_auroc_by_epoch\":[") != std::string::npos);
  CHECK(results_json.find("\"last_weights_discriminator_auroc_by_epoch\":[") != std::string::npos);
  CHECK(results_json.find("\"knn\":{\"auroc\"") != std::string::npos);
  fs::remove_all(dir);
}
