// The MNIST anomaly detector: trains the seed's DCGAN on the normal classes, trains an
// f-AnoGAN encoder, calibrates thresholds on held-out normals, scores the test file with
// every scorer and writes the model, logs, ROC points and pictures. main.cpp parses the
// command line; the tests call run() directly on small synthetic IDX files.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <ganad/ganad.hpp>

#include <ganad/io/idx.hpp>

#include "ranks.hpp"
#include "report.hpp"
#include "split.hpp"

namespace mnist {

using namespace ganad;
using namespace report;
namespace idx = ganad::io::idx;
using Discriminator = models::DcganDiscriminator<float>;
using Image = Shape<1, 28, 28>;

struct Options {
  std::string data_dir = "data/mnist";
  std::string train_images, train_labels, test_images, test_labels;  // override data_dir
  std::string normal = "0-4";
  std::string arch = "bn";  // "seed": design.md's DCGAN; "bn": the same with BatchNorm in G
  double real_label = 1.0;
  double d_averaging = 0.995;  // GanOptions::discriminator_averaging
  std::optional<double> negative_weight;  // GanOptions::negative_weight (unset: the library's default, 0 for images)
  double negative_noise = 1.0;            // GanOptions::negative_noise
  int epochs = 2;
  int encoder_epochs = 1;
  int batch = 64;
  int threads = 0;  // 0: all
  std::uint64_t seed = 42;
  std::string scorers = "discriminator,logit,feature,knn,knn_input,knn_d_unit,reconstruction,combined";
  std::string out_dir = "out/mnist";
  std::string load;  // model file: score without training
  bool scorers_trained_d = false;  // feature, knn, reconstruction read D's last weights, not the averaged D
  int limit_train = 0;  // use at most this many normal training images (0: all)
  int limit_test = 0;
  double knn_references = 0;  // the knn scorer keeps this share (in (0, 1)) of the training images; 0: all
  std::string knn_subset = "coreset";  // how: coreset or random
  Precision precision = Precision::fp32;        // the scorers' network products (Detector::set_precision)
  Precision train_precision = Precision::fp32;  // training's products (GanOptions::precision; the encoder's too)
  bool quiet = false;
  bool quick = false;
};

inline std::string usage() {
  return R"(mnist_detector: GAN-based anomaly detection on MNIST-format IDX data.
  --data DIR            folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,
                        t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may end in .gz)
  --train-images F --train-labels F --test-images F --test-labels F   explicit files
  --normal SPEC         normal classes: 0-4 (default), 3, 1,7
  --arch seed|bn        seed: the seed's DCGAN; bn: the same with BatchNorm in G (default)
  --real-label X        one-sided label smoothing for real images (default 1, e.g. 0.9)
  --d-averaging X       decay of the moving average of D's weights that 1 - D(x) scores
                        with (default 0.995; 0: D's last weights)
  --negative-weight X   weight of D's loss on noisy-image negatives (default 0, as the library's
                        default for images)
  --negative-noise X    their noise scale, in units of the data's spread (default 1)
  --epochs N            GAN epochs (default 2)        --encoder-epochs N  (default 1)
  --batch N             batch size (default 64)       --threads N  (default: all cores)
  --seed N              (default 42)                  --out DIR    (default out/mnist)
  --scorers LIST        discriminator,logit,feature,knn,knn_input,knn_d_unit,reconstruction,
                        combined (default: all; knn is the library's default scorer)
  --limit-train N       use at most N normal training images
  --limit-test N        score at most N test images
  --load FILE           load a model saved by an earlier run and only score
  --knn-references X    the knn scorer keeps this share of the training images as references
                        (0 < X < 1; default: all)
  --knn-subset coreset|random   which ones (default coreset: greedy k-center)
  --precision fp32|bf16 the scorers' network products (default fp32; bf16 needs AVX512_BF16,
                        and runs fp32 without it)
  --train-precision fp32|bf16   training's products: bf16 is mixed precision (default fp32)
  --scorers-trained-d   feature, knn and reconstruction read the trained D's last weights
                        (default: the averaged D, as the discriminator score does)
  --quick               a short run: 1 epoch on 4096 images, 1 encoder epoch, 2000 test images
  --quiet               no progress output
)";
}

/// Parses argv; throws ganad::ValueError with the offending flag.
inline Options parse_args(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw ValueError(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  auto number = [&](int& i) -> long long {
    const std::string flag = argv[i], v = value(i);
    try {
      std::size_t used = 0;
      const long long n = std::stoll(v, &used);
      if (used != v.size() || n < 0) throw 0;
      return n;
    } catch (...) {
      throw ValueError(flag + " needs a non-negative whole number, not '" + v + "'");
    }
  };
  auto real = [&](int& i) -> double {
    const std::string flag = argv[i], v = value(i);
    try {
      std::size_t used = 0;
      const double x = std::stod(v, &used);
      if (used != v.size()) throw 0;
      return x;
    } catch (...) {
      throw ValueError(flag + " needs a number, not '" + v + "'");
    }
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data") o.data_dir = value(i);
    else if (a == "--train-images") o.train_images = value(i);
    else if (a == "--train-labels") o.train_labels = value(i);
    else if (a == "--test-images") o.test_images = value(i);
    else if (a == "--test-labels") o.test_labels = value(i);
    else if (a == "--normal") o.normal = value(i);
    else if (a == "--arch") {
      o.arch = value(i);
      if (o.arch != "seed" && o.arch != "bn") throw ValueError("--arch must be seed or bn, not '" + o.arch + "'");
    } else if (a == "--real-label") o.real_label = real(i);
    else if (a == "--d-averaging") o.d_averaging = real(i);
    else if (a == "--negative-weight") o.negative_weight = real(i);
    else if (a == "--negative-noise") o.negative_noise = real(i);
    else if (a == "--epochs") o.epochs = int(number(i));
    else if (a == "--encoder-epochs") o.encoder_epochs = int(number(i));
    else if (a == "--batch") o.batch = int(number(i));
    else if (a == "--threads") o.threads = int(number(i));
    else if (a == "--seed") o.seed = std::uint64_t(number(i));
    else if (a == "--scorers") o.scorers = value(i);
    else if (a == "--out") o.out_dir = value(i);
    else if (a == "--load") o.load = value(i);
    else if (a == "--scorers-trained-d") o.scorers_trained_d = true;
    else if (a == "--limit-train") o.limit_train = int(number(i));
    else if (a == "--limit-test") o.limit_test = int(number(i));
    else if (a == "--knn-references") {
      const std::string v = value(i);
      char* end = nullptr;
      o.knn_references = std::strtod(v.c_str(), &end);
      if (*end || !(o.knn_references > 0 && o.knn_references < 1)) throw ValueError("--knn-references takes a share in (0, 1), not '" + v + "'");
    } else if (a == "--knn-subset") {
      o.knn_subset = value(i);
      if (o.knn_subset != "coreset" && o.knn_subset != "random") throw ValueError("--knn-subset takes coreset or random, not '" + o.knn_subset + "'");
    }
    else if (a == "--precision") o.precision = parse_precision(value(i), "--precision");
    else if (a == "--train-precision") o.train_precision = parse_precision(value(i), "--train-precision");
    else if (a == "--quiet") o.quiet = true;
    else if (a == "--quick") o.quick = true;
    else if (a == "--help" || a == "-h") throw std::invalid_argument(usage());
    else throw ValueError("unknown option '" + a + "'; --help lists them");
  }
  if (o.batch < 2) throw ValueError("--batch must be at least 2");
  if (o.quick) {
    o.epochs = 1;
    o.encoder_epochs = 1;
    if (!o.limit_train) o.limit_train = 4096;
    if (!o.limit_test) o.limit_test = 2000;
  }
  return o;
}

/// "0-4" -> {0..4}; "3" -> {3}; "1,7" -> {1, 7}.
inline std::set<int> parse_classes(const std::string& spec) {
  std::set<int> out;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    try {
      std::size_t u1 = 0, u2 = 0;
      if (dash == std::string::npos) {
        const int v = std::stoi(part, &u1);
        if (u1 != part.size()) throw 0;
        out.insert(v);
      } else {
        const std::string l = part.substr(0, dash), r = part.substr(dash + 1);
        const int a = std::stoi(l, &u1), b = std::stoi(r, &u2);
        if (u1 != l.size() || u2 != r.size() || a > b) throw 0;
        for (int v = a; v <= b; ++v) out.insert(v);
      }
    } catch (...) {
      throw ValueError("--normal: cannot read '" + part + "' (use forms like 0-4, 3 or 1,7)");
    }
  }
  for (int v : out)
    if (v < 0 || v > 255) throw ValueError("--normal: class " + std::to_string(v) + " is not a byte label");
  if (out.empty()) throw ValueError("--normal: no classes given");
  return out;
}

inline std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem, stem + ".gz"})
    if (std::filesystem::exists(dir + "/" + name)) return dir + "/" + name;
  throw IoError(dir + "/" + stem + " (or .gz): missing; run scripts/fetch-mnist or pass --data / --train-images ...");
}

/// Pixels 0..255 -> [-1, 1], the generator's tanh range.
inline RowMatrix<float> to_float(const idx::Images& im, const std::vector<int>& rows) {
  constexpr auto P = Eigen::Index(Image::size);
  RowMatrix<float> m(Eigen::Index(rows.size()), P);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (Eigen::Index j = 0; j < P; ++j) m(Eigen::Index(r), j) = float(im.pixels[std::size_t(rows[r]) * std::size_t(P) + std::size_t(j)]) / 127.5f - 1.f;
  return m;
}

inline const std::string scorer_names[] = {"discriminator", "logit", "feature", "knn", "knn_input", "knn_d_unit", "reconstruction", "combined"};

struct ScorerResult {
  std::string name;
  double auroc = 0, auprc = 0, tpr_at_5 = 0, threshold = 0, test_fpr = 0;
  std::map<int, double> mean_by_class;
  std::vector<float> test_scores;
};

/// The whole pipeline for generator G. Returns the results per scorer (also printed and
/// written to out_dir). One rank of several (mpirun): the GAN trains data-parallel, each rank
/// on its block of the training images, and the kNN scorer keeps each rank's block as its
/// share of the references (score::ShardedNearestNeighbours); rank 0 does everything else,
/// and the other ranks return nothing.
template <class Generator>
std::vector<ScorerResult> run_with(const Options& o, std::FILE* report, const ganad_detect::Ranks& ranks) {
  using DcGan = Gan<Generator, Discriminator>;
  using Reconstruction = score::Reconstruction<DcGan>;
  static_assert(Image::size == 28 * 28, "the example reads 28 x 28 MNIST images");
  const auto t_start = std::chrono::steady_clock::now();
  if (o.threads > 0) set_num_threads(o.threads);
  const bool leader = ranks.leader();
  Progress progress(o.quiet || !leader);
  const auto normal_classes = parse_classes(o.normal);
  const std::set<std::string> wanted = [&] {
    std::set<std::string> s;
    std::stringstream ss(o.scorers);
    std::string p;
    while (std::getline(ss, p, ',')) {
      if (!std::count(std::begin(scorer_names), std::end(scorer_names), p))
        throw ValueError("--scorers: unknown scorer '" + p + "' (discriminator, logit, feature, knn, knn_input, knn_d_unit, reconstruction, combined)");
      s.insert(p);
    }
    return s;
  }();
  auto path_or = [&](const std::string& explicit_path, const std::string& stem) {
    return explicit_path.empty() ? find_file(o.data_dir, stem) : explicit_path;
  };
  const auto train = idx::read_dataset(path_or(o.train_images, "train-images-idx3-ubyte"), path_or(o.train_labels, "train-labels-idx1-ubyte"));
  const auto test = idx::read_dataset(path_or(o.test_images, "t10k-images-idx3-ubyte"), path_or(o.test_labels, "t10k-labels-idx1-ubyte"));
  for (const auto* d : {&train, &test})
    if (d->images.rows != 28 || d->images.cols != 28)
      throw FormatError("images are " + std::to_string(d->images.rows) + "x" + std::to_string(d->images.cols) +
                        "; 28x28 expected (ganad-detect reads IDX files of other sizes)");
  std::ofstream log;  // rank 0's alone
  if (leader) {
    std::filesystem::create_directories(o.out_dir);
    log.open(o.out_dir + "/log.jsonl");
  }
  log << std::unitbuf;  // each line on disk as it happens: the log can be followed while training runs

  // Split: the normal training images, shuffled with the seed; 10% held out for calibration
  // (as ganad-detect splits them).
  std::vector<int> normal_rows;
  for (int i = 0; i < train.images.count; ++i)
    if (normal_classes.count(train.labels[std::size_t(i)])) normal_rows.push_back(i);
  const auto split = ganad_detect::split_normal_rows(std::move(normal_rows), o.seed, o.limit_train, 0.1);
  const std::vector<int>&train_rows = split.train, &calib_rows = split.calibration;
  const std::size_t held = calib_rows.size();
  if (train_rows.size() + held < 20) throw ValueError("only " + std::to_string(train_rows.size() + held) + " training images of the normal classes " + o.normal);
  std::vector<int> test_rows(std::size_t(test.images.count));
  std::iota(test_rows.begin(), test_rows.end(), 0);
  if (o.limit_test > 0 && int(test_rows.size()) > o.limit_test) {
    Rng test_rng(o.seed ^ 0x5a5a5a5aULL);
    test_rng.shuffle(test_rows.begin(), test_rows.end());
    test_rows.resize(std::size_t(o.limit_test));
    std::sort(test_rows.begin(), test_rows.end());
  }
  const RowMatrix<float> x_train = to_float(train.images, train_rows), x_calib = to_float(train.images, calib_rows),
                         x_test = to_float(test.images, test_rows);
  std::vector<int> y_test(test_rows.size()), digit_test(test_rows.size());
  for (std::size_t i = 0; i < test_rows.size(); ++i) {
    digit_test[i] = test.labels[std::size_t(test_rows[i])];
    y_test[i] = normal_classes.count(digit_test[i]) ? 0 : 1;
  }
  const int anomalies = std::accumulate(y_test.begin(), y_test.end(), 0);
  if (anomalies == 0 || anomalies == int(y_test.size()))
    throw ValueError("the test set needs both normal and anomalous classes (normal = " + o.normal + ")");
  // This rank's block of the training images (all of them for one process).
  const auto mine = block_of(int(x_train.rows()), ranks.rank(), ranks.size());
  const RowMatrix<float> x_train_block = ranks.distributed() ? RowMatrix<float>(x_train.middleRows(mine.begin, mine.rows)) : RowMatrix<float>();
  const RowMatrix<float>& x_shard = ranks.distributed() ? x_train_block : x_train;
  progress.say("ganad " + std::string(version()) + " (" + simd_arch_name() + ", " +
               (ranks.distributed() ? std::to_string(ranks.size()) + " ranks x " : std::string()) + std::to_string(num_threads()) +
               " threads; products: training " + precision_name(kernels::effective(o.train_precision)) + ", scoring " +
               precision_name(kernels::effective(o.precision)) + "), generator '" + o.arch + "': normal classes " + o.normal + "; " + std::to_string(train_rows.size()) + " training, " +
               std::to_string(held) + " calibration, " + std::to_string(test_rows.size()) + " test images (" +
               std::to_string(anomalies) + " anomalies)");

  DcGan gan({.seed = o.seed, .real_label = o.real_label, .discriminator_averaging = o.d_averaging, .negative_weight = o.negative_weight,
             .negative_noise = o.negative_noise, .precision = o.train_precision});
  const bool averaged = !o.scorers_trained_d;
  // The model file is the reconstruction detector: the GAN, the encoder and its threshold.
  Detector rec{gan, Reconstruction({.epochs = o.encoder_epochs, .batch = o.batch, .seed = o.seed + 1, .averaged = averaged})};
  const bool want_rec = wanted.count("reconstruction") || wanted.count("combined");
  const std::string model_path = o.out_dir + "/model.ganad";
  std::vector<double> epoch_d_auroc, epoch_last_d_auroc;  // averaged D, D's last weights
  if (!o.load.empty()) {
    load(rec, o.load);
    progress.say("loaded " + o.load + " (" + std::to_string(gan.steps()) + " training steps)");
  } else {
    gan.distribute(ranks.group);
    gan.fit(x_shard, {.epochs = o.epochs, .batch = o.batch, .report_every = progress.tty() ? 5 : 0}, [&](const FitProgress& p) {
      progress.gan(p);
      if (!p.epoch_end || !leader) return;
      char name[64];
      std::snprintf(name, sizeof name, "/samples_epoch_%02d.png", p.epoch);
      pictures::image_grid(o.out_dir + name, gan.fixed_samples().data, std::min(64, gan.fixed_samples().batch), 8);
      // 1 - D(x) on the test set after every epoch, with the averaged D (what the discriminator
      // scorer uses) and with D's last weights: how much each moves from one epoch to the next
      // (reported only; nothing is chosen by it).
      const double d_auroc = metrics::auroc(gan.averaged_discriminator().anomaly_score(x_test), y_test);
      const double last_auroc = metrics::auroc(gan.discriminator().anomaly_score(x_test), y_test);
      epoch_d_auroc.push_back(d_auroc);
      epoch_last_d_auroc.push_back(last_auroc);
      progress.say("  1 - D(x) test AUROC after epoch " + std::to_string(p.epoch) + ": " + fmt(d_auroc, 3) + " (averaged D; " +
                   fmt(last_auroc, 3) + " with D's last weights)");
      log << "{\"event\":\"epoch\",\"epoch\":" << p.epoch << ",\"d_loss\":" << p.mean.d_loss << ",\"g_loss\":" << p.mean.g_loss
          << ",\"d_real\":" << p.mean.d_real << ",\"d_fake\":" << p.mean.d_fake << ",\"images_per_s\":" << p.images_per_second
          << ",\"seconds\":" << p.seconds << ",\"discriminator_test_auroc\":" << d_auroc
          << ",\"last_weights_discriminator_test_auroc\":" << last_auroc << "}\n";
    });
    gan.distribute(nullptr);  // every rank holds the same GAN now
    if (want_rec && leader) {
      const kernels::PrecisionScope encoder_precision(o.train_precision);
      rec.scorer().fit(gan, x_train, [&](const score::EncoderProgress& p) {
        progress.encoder(p);
        log << "{\"event\":\"encoder_epoch\",\"epoch\":" << p.epoch << ",\"loss\":" << p.loss << ",\"seconds\":" << p.seconds << "}\n";
      });
      rec.calibrate(x_calib, {.false_positive_rate = 0.05});
    }
    if (leader) save(rec, model_path);
    progress.say("model saved to " + model_path);
  }

  // Every scorer through a Detector: fitted on the normal training images, threshold at 5%
  // FPR on the held-out normals, scores of the test set.
  struct Scored {
    double threshold;
    std::vector<float> test;
  };
  std::map<std::string, Scored> raw;
  auto collect = [&](const std::string& name, auto& det, const RowMatrix<float>* fit_on) {  // fit_on: nullptr for no fit
    det.set_precision(o.precision);
    if (fit_on) det.fit(*fit_on);
    det.calibrate(x_calib, {.false_positive_rate = 0.05});
    const auto t = det.decision_function(x_test);
    raw[name] = {det.threshold(), std::vector<float>(t.data(), t.data() + t.size())};
  };
  const score::Discriminator logit({.output = DiscriminatorOutput::negative_logit});
  score::FeatureMatching feature({.averaged = averaged});
  if (leader && wanted.count("discriminator")) {
    Detector det{gan, score::Discriminator()};
    collect("discriminator", det, nullptr);
  }
  if (leader && wanted.count("logit")) {
    Detector det{gan, logit};
    collect("logit", det, nullptr);
  }
  if (leader && (wanted.count("feature") || wanted.count("combined"))) {
    Detector det{gan, feature};
    collect("feature", det, &x_train);
    feature = det.scorer();
  }
  if (wanted.count("knn")) {  // on every rank: the references are sharded over the ranks
    const int keep = o.knn_references > 0 ? std::max(5, int(std::lround(o.knn_references * double(x_shard.rows())))) : 0;
    const score::NearestNeighboursOptions knn{.max_references = keep,
                                              .subset = o.knn_subset == "random" ? score::ReferenceSubset::random : score::ReferenceSubset::coreset,
                                              .averaged = averaged};
    if (ranks.distributed()) {
      Detector det{gan, score::ShardedNearestNeighbours(*ranks.group, knn)};
      collect("knn", det, &x_shard);
      if (keep) progress.say("knn: " + std::to_string(det.scorer().local().references()) + " references on rank 0 (" + o.knn_subset + ")");
    } else {
      Detector det{gan, score::NearestNeighbours(knn)};
      collect("knn", det, &x_train);
      if (keep) progress.say("knn: " + std::to_string(det.scorer().references()) + " references (" + o.knn_subset + ")");
    }
  }
  if (!leader) return {};
  if (wanted.count("knn_input")) {  // kNN on the pixels, no network
    Detector det{gan, score::NearestNeighbours({.space = score::FeatureSpace::input})};
    collect("knn_input", det, &x_train);
  }
  if (wanted.count("knn_d_unit")) {  // version 0.2's kNN: unit-length D features only
    Detector det{gan, score::NearestNeighbours({.space = score::FeatureSpace::discriminator,
                                                .discriminator_scaling = score::FeatureScaling::unit_length, .averaged = averaged})};
    collect("knn_d_unit", det, &x_train);
  }
  if (want_rec) collect("reconstruction", rec, nullptr);
  if (wanted.count("combined")) {  // mean of the three z-scores, standardised on the held-out normals
    Detector det{gan, score::Weighted(logit, feature, rec.scorer())};
    det.scorer().standardize_on(gan, x_calib);
    collect("combined", det, nullptr);
  }

  std::vector<ScorerResult> results;
  std::vector<std::pair<std::string, std::vector<metrics::RocPoint>>> curves;
  for (const std::string& name : scorer_names) {
    if (!wanted.count(name)) continue;
    const auto& scores = raw[name].test;
    ScorerResult r;
    r.name = name;
    r.auroc = metrics::auroc(scores, y_test);
    r.auprc = metrics::average_precision(scores, y_test);
    r.tpr_at_5 = metrics::tpr_at_fpr(scores, y_test, 0.05);
    r.threshold = raw[name].threshold;
    r.test_fpr = metrics::confusion_at(scores, y_test, r.threshold).false_positive_rate();
    std::map<int, std::pair<double, int>> by;
    for (std::size_t i = 0; i < scores.size(); ++i) by[digit_test[i]].first += scores[i], by[digit_test[i]].second += 1;
    for (auto& [d, v] : by) r.mean_by_class[d] = v.first / v.second;
    r.test_scores = scores;
    const auto roc = metrics::roc_curve(scores, y_test);
    std::ofstream csv(o.out_dir + "/roc_" + name + ".csv");
    csv << "threshold,fpr,tpr\n";
    for (const auto& p : roc) csv << p.threshold << "," << p.fpr << "," << p.tpr << "\n";
    curves.emplace_back(name, roc);
    std::ofstream score_file(o.out_dir + "/scores_" + name + ".txt");  // one per test image, in file order
    score_file.precision(9);
    for (const float v : scores) score_file << v << "\n";
    write_histogram_png(o.out_dir + "/histogram_" + name + ".png", name, scores, y_test);
    results.push_back(std::move(r));
  }
  write_roc_png(o.out_dir + "/roc.png", curves);

  // Pictures of the best scorer: extremes, and reconstruction maps of a few anomalies.
  const auto best = std::max_element(results.begin(), results.end(), [](auto& a, auto& b) { return a.auroc < b.auroc; });
  {
    std::vector<int> order(best->test_scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return best->test_scores[std::size_t(a)] > best->test_scores[std::size_t(b)]; });
    for (const bool most : {true, false}) {
      std::vector<float> tiles;
      std::vector<std::string> captions;
      for (int k = 0; k < 32 && k < int(order.size()); ++k) {
        const int i = most ? order[std::size_t(k)] : order[order.size() - 1 - std::size_t(k)];
        tiles.insert(tiles.end(), x_test.row(i).data(), x_test.row(i).data() + Image::size);
        captions.push_back(std::to_string(digit_test[std::size_t(i)]) + " " + fmt(best->test_scores[std::size_t(i)], 2));
      }
      pictures::image_grid(o.out_dir + (most ? "/most_anomalous.png" : "/most_normal.png"), tiles.data(), int(captions.size()), 8, 2, captions);
    }
  }
  if (want_rec) {
    std::vector<int> picks;
    for (std::size_t i = 0; i < y_test.size() && picks.size() < 8; ++i)
      if (y_test[i]) picks.push_back(int(i));
    RowMatrix<float> x(Eigen::Index(picks.size()), Eigen::Index(Image::size));
    for (std::size_t k = 0; k < picks.size(); ++k) x.row(Eigen::Index(k)) = x_test.row(picks[k]);
    const RowMatrix<float> back = rec.scorer().reconstruct(gan, x), map = rec.scorer().anomaly_map(gan, x);
    RowMatrix<float> tiles(3 * x.rows(), x.cols());
    for (Eigen::Index k = 0; k < x.rows(); ++k) {
      tiles.row(3 * k) = x.row(k);
      tiles.row(3 * k + 1) = back.row(k);
      tiles.row(3 * k + 2) = map.row(k).array() - 1.f;  // |x - G(E(x))| in [0, 2] -> [-1, 1]
    }
    pictures::image_grid(o.out_dir + "/anomaly_maps.png", tiles.data(), int(tiles.rows()), 3, 3);
  }

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::fprintf(report, "\nnormal %s vs the rest; %zu test images, %d anomalies; threshold at 5%% FPR on %zu held-out normals\n",
               o.normal.c_str(), y_test.size(), anomalies, held);
  std::fprintf(report, "%-15s %7s %7s %10s %11s %12s\n", "scorer", "AUROC", "AUPRC", "TPR@5%FPR", "threshold", "test FPR");
  for (const auto& r : results)
    std::fprintf(report, "%-15s %7.4f %7.4f %10.4f %11.4g %11.2f%%\n", r.name.c_str(), r.auroc, r.auprc, r.tpr_at_5, r.threshold,
                 100 * r.test_fpr);
  std::fprintf(report, "\nmean score per class (%s):\n", best->name.c_str());
  for (const auto& [d, m] : best->mean_by_class) std::fprintf(report, "  %d%s %.4g\n", d, normal_classes.count(d) ? " (normal) " : " (anomaly)", m);
  std::fprintf(report, "\ntotal time %.1f s; outputs in %s\n", seconds, o.out_dir.c_str());

  std::ofstream js(o.out_dir + "/results.json");
  js << "{\"normal\":\"" << o.normal << "\",\"arch\":\"" << o.arch << "\",\"epochs\":" << o.epochs << ",\"encoder_epochs\":" << o.encoder_epochs << ",\"seed\":" << o.seed
     << ",\"precision\":\"" << precision_name(kernels::effective(o.precision)) << "\",\"train_precision\":\"" << precision_name(kernels::effective(o.train_precision))
     << "\",\"test_images\":" << y_test.size() << ",\"anomalies\":" << anomalies << ",\"seconds\":" << seconds << ",\"discriminator_auroc_by_epoch\":[";
  for (std::size_t k = 0; k < epoch_d_auroc.size(); ++k) js << (k ? "," : "") << epoch_d_auroc[k];
  js << "],\"last_weights_discriminator_auroc_by_epoch\":[";
  for (std::size_t k = 0; k < epoch_last_d_auroc.size(); ++k) js << (k ? "," : "") << epoch_last_d_auroc[k];
  js << "],\"d_averaging\":" << o.d_averaging << ",\"scorers\":{";
  for (std::size_t k = 0; k < results.size(); ++k) {
    const auto& r = results[k];
    js << (k ? "," : "") << "\"" << r.name << "\":{\"auroc\":" << r.auroc << ",\"auprc\":" << r.auprc << ",\"tpr_at_5_fpr\":" << r.tpr_at_5
       << ",\"threshold\":" << r.threshold << ",\"test_fpr\":" << r.test_fpr << ",\"mean_by_class\":{";
    std::size_t j = 0;
    for (const auto& [d, m] : r.mean_by_class) js << (j++ ? "," : "") << "\"" << d << "\":" << m;
    js << "}}";
  }
  js << "}}\n";
  log << "{\"event\":\"done\",\"seconds\":" << seconds << "}\n";
  return results;
}

/// Runs the pipeline with the generator --arch names, as one process or one rank of several.
inline std::vector<ScorerResult> run(const Options& o, std::FILE* report = stdout, const ganad_detect::Ranks& ranks = {}) {
  if (o.arch == "seed") return run_with<models::DcganGenerator<float>>(o, report, ranks);
  return run_with<models::DcganGeneratorBN<float>>(o, report, ranks);
}

}  // namespace mnist
