// ganad-detect: a GAN anomaly detector for a folder of images, a CSV or a .npy, in two
// commands (train, then score or evaluate). Reads the data with ganad's readers, picks the
// built-in model for its shape (model_types.hpp) and hands over to pipeline.hpp.
#include "model_types.hpp"  // first: ganad before other headers that include <immintrin.h>

#define GANAD_STB_IMPLEMENTATION
#include <ganad/io/images.hpp>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include <ganad/io/csv.hpp>
#include <ganad/io/idx.hpp>
#include <ganad/io/npy.hpp>

namespace gd = ganad_detect;
using namespace ganad;

namespace {

enum class Format { images, csv, npy, idx };

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Format format_of(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return Format::images;
  if (!fs::exists(path, ec)) throw IoError(path + ": no such file or folder");
  const std::string p = lower(path);
  auto ends = [&](const std::string& s) { return p.size() >= s.size() && p.compare(p.size() - s.size(), s.size(), s) == 0; };
  if (ends(".npy")) return Format::npy;
  if (ends(".csv") || ends(".tsv") || ends(".txt")) return Format::csv;
  if (ends("-ubyte") || ends("-ubyte.gz") || ends(".idx") || ends(".idx.gz")) return Format::idx;
  throw ValueError(path + ": cannot tell the format; ganad-detect reads a folder of images, .csv/.tsv/.txt, .npy, or IDX files (-ubyte[.gz], .idx[.gz])");
}

/// One label per row from --labels FILE: an IDX label file, a 1-D .npy, or text with one per line.
std::vector<std::string> read_labels_file(const std::string& path) {
  const std::string p = lower(path);
  if (p.ends_with("-ubyte") || p.ends_with("-ubyte.gz") || p.ends_with(".idx") || p.ends_with(".idx.gz")) {
    std::vector<std::string> out;
    for (auto l : io::idx::read_labels(path)) out.push_back(std::to_string(l));
    return out;
  }
  if (p.ends_with(".npy")) {
    const auto a = io::parse_npy(io::read_file(path), path);
    if (a.shape.size() != 1) throw FormatError(path + ": labels must be a 1-D array");
    std::vector<std::string> out;
    for (float v : a.data) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", double(v));
      out.push_back(b);
    }
    return out;
  }
  std::vector<std::string> out;
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

/// The first line of a text file, without its line break or a UTF-8 byte-order mark.
std::string first_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
  return line;
}

/// The built-in image size nearest to h x w (on a log scale).
int nearest_size(int h, int w) {
  const double want = 0.5 * std::log(double(h) * double(w));
  int best = gd::image_sizes[0];
  for (int s : gd::image_sizes)
    if (std::abs(std::log(double(s)) - want) < std::abs(std::log(double(best)) - want)) best = s;
  return best;
}

std::string geometry_text(const io::ImageGeometry& g) {
  return std::to_string(g.width) + " x " + std::to_string(g.height) + (g.channels == 3 ? " RGB" : " grayscale");
}

/// Reads the data of `o.data`. For train, `info` is filled with the model type the data
/// needs; for score and evaluate, `info` names the saved model's type and the data is
/// brought to it.
io::Dataset read_data(const gd::Options& o, gd::ModelInfo& info, bool train, const std::function<void(const std::string&)>& say) {
  if (train) info.label_column = o.label_column;
  const Format f = format_of(o.data);
  io::Dataset d;
  if (f == Format::images && !train && info.kind == "table")
    throw ValueError(o.data + " holds images; the detector " + o.model + " was trained on a table");
  if (f == Format::images) {
    const auto files = io::list_image_folder(o.data);
    io::ImageOptions opt;
    if (train) {
      const auto g = io::image_file_geometry(files.files.front());
      opt.height = opt.width = o.size ? o.size : nearest_size(g.height, g.width);
      opt.channels = o.channels;
      say(std::to_string(files.files.size()) + " images in " + o.data + " (the first is " + geometry_text(g) + "); resizing to " +
          std::to_string(opt.height) + " x " + std::to_string(opt.width) + (o.size ? " (--size)" : " (the nearest built-in size; --size chooses)"));
    } else {
      opt.height = opt.width = info.size;
      opt.channels = info.channels;
    }
    const auto t0 = std::chrono::steady_clock::now();
    d = io::read_images(files.files, opt);
    d.labels = files.labels;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    say("decoded " + std::to_string(d.rows()) + " images in " + report::fmt(s, 2) + " s (" + report::fmt(d.rows() / std::max(s, 1e-9), 0) +
        " images/s), " + (d.image.channels == 3 ? "RGB" : "grayscale") + (o.channels || !train ? "" : " (--channels chooses)"));
  } else if (f == Format::csv) {
    io::CsvOptions c;
    c.header = o.header == "yes" ? io::CsvHeader::present : o.header == "no" ? io::CsvHeader::absent : io::CsvHeader::detect;
    c.delimiter = lower(o.data).ends_with(".tsv") && o.delimiter == ',' ? '\t' : o.delimiter;
    c.label = o.label_column;
    if (!train && c.label.empty() && !info.label_column.empty()) {  // the column training skipped, if this file has it
      const bool index = info.label_column.find_first_not_of("0123456789") == std::string::npos;
      const auto header = io::detail::split_csv_line(first_line(o.data), c.delimiter, o.data, 1);
      if (index || std::count(header.begin(), header.end(), info.label_column)) c.label = info.label_column;
    }
    c.features = o.features;
    d = io::read_csv(o.data, c);
  } else if (f == Format::npy) {
    d = io::read_npy(o.data);
  } else {
    d = io::idx::read_idx(o.data);
  }
  if (!o.labels_file.empty()) {
    d.labels = read_labels_file(o.labels_file);
    if (int(d.labels.size()) != d.rows())
      throw FormatError(o.labels_file + " holds " + std::to_string(d.labels.size()) + " labels but " + o.data + " holds " + std::to_string(d.rows()) + " rows");
  }
  if (d.image.is_image() && f != Format::images) {  // a .npy or IDX of images: bring to a built-in size
    io::ImageGeometry to = train ? io::ImageGeometry{o.channels ? o.channels : d.image.channels, 0, 0}
                                 : io::ImageGeometry{info.channels, info.size, info.size};
    if (train) to.height = to.width = o.size ? o.size : nearest_size(d.image.height, d.image.width);
    if (!(to == d.image)) say(geometry_text(d.image) + " images converted to " + geometry_text(to) + (train ? " (the nearest built-in size)" : ""));
    d = io::convert_images(d, to);
  }
  if (train) {
    if (d.image.is_image()) {
      info.kind = "image";
      info.channels = d.image.channels;
      info.size = d.image.height;
    } else {
      info.kind = "table";
      info.feature_names = d.feature_names;
      const int n = d.features();
      info.width = 0;
      for (int w : gd::table_widths)
        if (w >= n) {
          info.width = w;
          break;
        }
      if (!info.width)
        throw ValueError(o.data + ": " + std::to_string(n) + " features; ganad-detect's largest table model takes " +
                         std::to_string(gd::table_widths[std::size(gd::table_widths) - 1]) +
                         " (select columns with --features, or build models::GanFor<float, Flat<N>> in C++)");
      say(std::to_string(d.rows()) + " rows of " + std::to_string(n) + " features" +
          (info.width > n ? "; zero-padded to " + std::to_string(info.width) + " (the next built-in width)" : ""));
    }
  } else if (info.kind == "table") {
    if (d.image.is_image()) throw ValueError(o.data + " holds images; the detector " + o.model + " was trained on a table");
  } else if (!d.image.is_image()) {
    throw ValueError(o.data + " holds a table; the detector " + o.model + " was trained on images");
  }
  return d;
}


int detect_main(int argc, char** argv, gd::Ranks& ranks) {
  CLI::App app{"ganad-detect: GAN anomaly detection on your data.\n"
               "  ganad-detect train DATA -o model.ganad      train on normal data, calibrate, save\n"
               "  ganad-detect score model.ganad DATA -o scores.csv   one score and decision per row\n"
               "  ganad-detect evaluate model.ganad DATA -o DIR       metrics and pictures (needs labels)\n"
               "DATA is a folder of images (PNG, JPEG, BMP, PGM; subfolder names are labels), a CSV/TSV,\n"
               "a .npy (2-D: a table; 3-D/4-D: images) or an IDX image file. Built-in models: square\n"
               "images of 8, 16, 28, 32 or 64 pixels (others are resized to the nearest), grayscale or RGB;\n"
               "tables of up to 1024 features (zero-padded to 8, 16, 32, ..., 1024)."};
  app.footer("ganad-detect COMMAND --help lists a command's flags; docs/your-data.md has a walk-through.");
  app.require_subcommand(1);
  gd::Options o;
  o.ranks = ranks;
  std::string fpr_text, precision_text = "fp32";
  auto data_options = [&](CLI::App* c) {
    c->add_option("--label-column", o.label_column, "CSV: the label column (name or 0-based index); not a feature");
    c->add_option("--features", o.features, "CSV: the feature columns (names or 0-based indices, comma-separated; default: all but the label)")
        ->delimiter(',');
    c->add_option("--header", o.header, "CSV: whether the first line is a header")->check(CLI::IsMember({"auto", "yes", "no"}));
    c->add_option("--delimiter", o.delimiter, "CSV: the field separator (default ',', tab for .tsv)");
    c->add_option("--labels", o.labels_file, "labels of a .npy or IDX file: an IDX label file, a 1-D .npy, or text with one per line")
        ->check(CLI::ExistingFile);
    c->add_option("--threads", o.threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);
    c->add_option("--precision", precision_text,
                  "fp32 or bf16: the networks' products (bf16 needs AVX512_BF16 and runs fp32 without it; train: mixed precision)")
        ->check(CLI::IsMember({"fp32", "bf16"}));
    c->add_flag("--quiet,-q", o.quiet, "no progress output");
  };
  auto* train = app.add_subcommand("train", "train a detector on normal data and save it");
  train->add_option("data", o.data, "a folder of images, a .csv/.tsv, a .npy or an IDX image file")->required();
  train->add_option("-o,--out", o.model, "the model file to write")->required();
  train->add_option("--normal", o.normal, "the labels of the normal classes, comma-separated (default: every row is normal)")->delimiter(',');
  train->add_option("--size", o.size, "images: the model's size (default: the built-in size nearest the first image's)")
      ->check(CLI::IsMember({8, 16, 28, 32, 64}));
  train->add_option("--channels", o.channels, "images: 1 (grayscale) or 3 (RGB) (default: RGB if any image has colour)")
      ->check(CLI::IsMember({1, 3}));
  train->add_option("--epochs", o.epochs, "GAN epochs (default: 150 for tables; about 2500 steps, 2-200 epochs, for images)")
      ->check(CLI::PositiveNumber);
  train->add_option("--encoder-epochs", o.encoder_epochs, "images: epochs of the encoder behind the anomaly maps (default: epochs / 5)")
      ->check(CLI::PositiveNumber);
  train->add_option("--batch", o.batch, "batch size (default 32; 64 from 10,000 rows)")->check(CLI::Range(2, 4096));
  train->add_option("--fpr", o.fpr, "the false-positive rate the threshold allows on held-out normals (default 0.05)")
      ->check(CLI::Range(1e-6, 0.5));
  train->add_option("--holdout", o.holdout, "share of the normal rows held out to calibrate the threshold (default 0.1)")
      ->check(CLI::Range(0.01, 0.5));
  train->add_option("--limit", o.limit, "use at most this many normal rows")->check(CLI::NonNegativeNumber);
  train->add_option("--knn-memory", o.knn_memory_mb, "MB the kNN scorer's references may take; it keeps a coreset of the normal rows (default: all)")
      ->check(CLI::PositiveNumber);
  train->add_option("--seed", o.seed, "random seed (default 42): the same seed and data give the same detector");
  data_options(train);
  auto* score = app.add_subcommand("score", "score data with a saved detector: a CSV of row,id,score,anomaly in input order");
  score->add_option("model", o.model, "a detector saved by train")->required()->check(CLI::ExistingFile);
  score->add_option("data", o.data, "the data to score, in any format train reads")->required();
  score->add_option("-o,--out", o.out, "the CSV to write (default scores.csv)")->default_val("scores.csv");
  data_options(score);
  auto* evaluate = app.add_subcommand("evaluate", "metrics and pictures of a saved detector on labelled data");
  evaluate->add_option("model", o.model, "a detector saved by train")->required()->check(CLI::ExistingFile);
  evaluate->add_option("data", o.data, "labelled data, in any format train reads")->required();
  evaluate->add_option("-o,--out", o.out, "the folder to write metrics.json, scores.csv, roc.png, ... to (default evaluation)")
      ->default_val("evaluation");
  evaluate->add_option("--normal", o.normal, "the labels of the normal classes (default: labels 0 normal, 1 anomaly)")->delimiter(',');
  data_options(evaluate);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    o.command = train->parsed() ? gd::Command::train : score->parsed() ? gd::Command::score : gd::Command::evaluate;
    if (o.command == gd::Command::train) o.out = o.model;
    if (o.threads > 0) set_num_threads(o.threads);
    o.precision = parse_precision(precision_text, "--precision");
    auto say = [&](const std::string& s) {
      if (!o.quiet && ranks.leader()) std::fprintf(stderr, "%s\n", s.c_str());
    };
    gd::ModelInfo info;
    io::Dataset train_data;
    if (o.command == gd::Command::train) train_data = read_data(o, info, true, say);  // the data decides the model type
    else info = gd::ModelInfo::from_description(model_description(o.model), o.model);
    say("model: " + info.describe().substr(13) + " (" + simd_arch_name() + ", " + std::to_string(num_threads()) + " threads, " + precision_name(kernels::effective(o.precision)) + " products)");
    gd::run_any(o, [&](const gd::ModelInfo& loaded) {
      if (o.command == gd::Command::train) return std::move(train_data);
      gd::ModelInfo i = loaded;
      return read_data(o, i, false, say);
    }, info);
    return 0;
  } catch (const ganad::Error& e) {
    std::fprintf(stderr, "ganad-detect: %s\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "ganad-detect: %s\n", e.what());
    return 1;
  }
}
}  // namespace

int main(int argc, char** argv) {
  // Under mpirun (a build with ganad::mpi) this runs as one rank of the job (ranks.hpp).
  return gd::run_ranks(argc, argv, [&](gd::Ranks& ranks) { return detect_main(argc, argv, ranks); });
}
