// ganad-detect's work for one model type: train (split, standardise or resize, train the
// GAN, fit the default kNN scorer and, for images, an f-AnoGAN encoder for anomaly maps,
// calibrate, save), score (one score and decision per row, in input order) and evaluate
// (metrics and pictures). main.cpp reads the data and picks the model type; model_types.hpp
// lists the built-in ones. Under mpirun every rank trains the GAN on its block of the rows and
// scores its block of the data; rank 0 fits the kNN scorer, calibrates and writes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ganad/ganad.hpp>
#include <ganad/io/dataset.hpp>

#include "ranks.hpp"
#include "report.hpp"
#include "split.hpp"

namespace ganad_detect {

using namespace ganad;
using json = nlohmann::json;

enum class Command { train, score, evaluate };

/// Everything the command line sets (main.cpp documents each flag).
struct Options {
  Command command = Command::train;
  std::string data, labels_file, model, out;
  std::string label_column, header = "auto";
  std::vector<std::string> features;
  char delimiter = ',';
  int size = 0, channels = 0;
  std::vector<std::string> normal;
  int epochs = 0, encoder_epochs = 0, batch = 0, threads = 0, limit = 0;
  double fpr = 0.05, holdout = 0.1;
  double knn_memory_mb = 0;  // the kNN references' budget (0: all normal rows)
  Precision precision = Precision::fp32;  // the networks' products, in training and scoring
  std::uint64_t seed = 42;
  bool quiet = false;
  Ranks ranks;  // one process, or this rank of an MPI job (ranks.hpp)
};

/// What a saved detector knows about its data besides the networks: the model type, how
/// rows are prepared, and how it was trained. Saved as JSON in the model file, ahead of
/// the Detector.
struct ModelInfo {
  using scalar_type = float;
  std::string kind;                // "image" or "table"
  int channels = 0, size = 0;      // images: the model's C and H = W
  int width = 0;                   // tables: the model's input width (features, zero-padded)
  std::vector<std::string> feature_names;
  std::vector<double> mean, sd;    // tables: each read column's standardisation
  std::string label_column;        // tables: the CSV label column training read (score skips it too)
  json training;                   // how it was trained (for people; not read back)

  [[nodiscard]] std::string describe() const {
    return "ganad-detect " + kind + " " + (kind == "image" ? std::to_string(channels) + "x" + std::to_string(size) + "x" + std::to_string(size)
                                                           : std::to_string(width));
  }
  void save_state(ByteWriter& w) const {
    w.put_string(json{{"kind", kind}, {"channels", channels}, {"size", size}, {"width", width}, {"feature_names", feature_names},
                      {"mean", mean}, {"sd", sd}, {"label_column", label_column}, {"training", training}}
                     .dump());
  }
  void load_state(ByteReader& r) {
    try {
      const json j = json::parse(r.get_string());
      ModelInfo m;
      m.kind = j.at("kind");
      m.channels = j.at("channels");
      m.size = j.at("size");
      m.width = j.at("width");
      m.feature_names = j.at("feature_names").get<std::vector<std::string>>();
      m.mean = j.at("mean").get<std::vector<double>>();
      m.sd = j.at("sd").get<std::vector<double>>();
      m.training = j.at("training");
      m.label_column = j.value("label_column", std::string());
      if (m.describe() != describe() || m.mean.size() != m.feature_names.size() || m.sd.size() != m.mean.size())
        throw FormatError("the model information disagrees with the model type");
      *this = std::move(m);
    } catch (const json::exception& e) {
      throw FormatError(std::string("the model information is not valid JSON (") + e.what() + ")");
    }
  }

  /// "image 3x64x64" or "table 32" from a model file's description.
  static ModelInfo from_description(const std::string& desc, const std::string& path) {
    ModelInfo m;
    char kind[16] = {};
    int a = 0, b = 0, c = 0;
    if (std::sscanf(desc.c_str(), "ganad-detect %15s %dx%dx%d", kind, &a, &b, &c) == 4 && std::string(kind) == "image") {
      m.kind = "image", m.channels = a, m.size = b;
    } else if (std::sscanf(desc.c_str(), "ganad-detect %15s %d", kind, &a) == 2 && std::string(kind) == "table") {
      m.kind = "table", m.width = a;
    } else {
      throw FormatError(path + ": not a detector saved by ganad-detect (it holds: " + desc.substr(0, 120) + ")");
    }
    return m;
  }
};

/// Rows prepared for the model: a table's columns found by the names the detector was
/// trained with (by position when the data has no such names), standardised with the
/// training statistics and zero-padded to the model's width; images as read.
inline RowMatrix<float> prepare(const io::Dataset& d, const ModelInfo& info, const std::string& name) {
  if (info.kind == "image") return d.x;
  const std::size_t n = info.feature_names.size();
  std::vector<Eigen::Index> col(n);
  std::vector<std::string> sorted = info.feature_names;
  std::sort(sorted.begin(), sorted.end());
  bool by_name = std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();  // repeated names: by position
  for (std::size_t c = 0; c < n && by_name; ++c) {
    const auto it = std::find(d.feature_names.begin(), d.feature_names.end(), info.feature_names[c]);
    by_name = it != d.feature_names.end();
    col[c] = it - d.feature_names.begin();
  }
  if (!by_name) {
    if (std::size_t(d.features()) != n) {
      std::string missing;
      for (const auto& f : info.feature_names)
        if (std::find(d.feature_names.begin(), d.feature_names.end(), f) == d.feature_names.end()) missing += (missing.empty() ? "'" : ", '") + f + "'";
      throw ValueError(name + ": " + std::to_string(d.features()) + " feature columns; the detector was trained on " + std::to_string(n) +
                       " and this data lacks the columns " + missing.substr(0, 200));
    }
    for (std::size_t c = 0; c < n; ++c) col[c] = Eigen::Index(c);
  }
  RowMatrix<float> x = RowMatrix<float>::Zero(d.x.rows(), info.width);
  for (Eigen::Index r = 0; r < d.x.rows(); ++r)
    for (std::size_t c = 0; c < n; ++c) x(r, Eigen::Index(c)) = float((double(d.x(r, col[c])) - info.mean[c]) / info.sd[c]);
  return x;
}

/// Labels -> 0 (normal) / 1 (anomaly): the classes of `normal`, or, without it, labels that
/// are all 0 or 1.
inline std::vector<int> anomaly_labels(const io::Dataset& d, const std::vector<std::string>& normal) {
  if (!d.has_labels()) throw ValueError("evaluate needs labels: a label column (--label-column), class subfolders, or --labels FILE");
  std::vector<int> y(d.labels.size());
  if (normal.empty()) {
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (d.labels[i] != "0" && d.labels[i] != "1")
        throw ValueError("label '" + d.labels[i] + "' (" + d.ids[i] + ") is not 0 or 1; name the normal classes with --normal");
      y[i] = d.labels[i] == "1";
    }
  } else {
    const std::set<std::string> n(normal.begin(), normal.end());
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = n.count(d.labels[i]) ? 0 : 1;
  }
  return y;
}

inline void write_scores_csv(const std::string& path, const io::Dataset& d, const ScoreVector<float>& s, const Eigen::VectorXi& decision) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw IoError(path + ": cannot create");
    out << "row,id,score,anomaly\n";
    char buf[64];
    for (Eigen::Index i = 0; i < s.size(); ++i) {
      std::string id = d.ids.empty() ? std::to_string(i) : d.ids[std::size_t(i)];
      if (id.find_first_of(",\"\n") != std::string::npos) {  // RFC 4180 quoting
        std::string q = "\"";
        for (char ch : id) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        id = q + "\"";
      }
      std::snprintf(buf, sizeof buf, "%.9g", double(s(i)));
      out << i << ',' << id << ',' << buf << ',' << decision(i) << '\n';
    }
    out.flush();
    if (!out) throw IoError(path + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

/// One model type: Gan is models::GanFor<float, Shape>.
template <class GanT>
struct Pipeline {
  using Rec = score::Reconstruction<GanT>;
  static constexpr bool images = !GanT::discriminator_type::in_shape::is_flat;
  using ImageShape = typename GanT::discriminator_type::in_shape;

  GanT gan;
  Detector<GanT> det{gan};
  Rec rec;
  ModelInfo info;

  Pipeline(std::uint64_t seed, Precision precision) : gan({.seed = seed, .precision = precision}) { det.set_precision(precision); }

  void save_model(const std::string& path) {
    if constexpr (images) save(bundle(info, det, rec), path);
    else save(bundle(info, det), path);
  }
  void load_model(const std::string& path) {
    if constexpr (images) load(bundle(info, det, rec), path);
    else load(bundle(info, det), path);
  }

  /// Trains on `data` (the rows of the normal classes), calibrates on a held-out part of them.
  void train(const Options& o, const io::Dataset& data, ModelInfo base) {
    info = std::move(base);
    report::Progress progress(o.quiet || !o.ranks.leader());
    std::vector<int> rows;
    if (!o.normal.empty()) {
      if (!data.has_labels()) throw ValueError("--normal needs labels: a label column (--label-column), class subfolders, or --labels FILE");
      const std::set<std::string> n(o.normal.begin(), o.normal.end());
      for (const auto& c : n)
        if (!std::count(data.labels.begin(), data.labels.end(), c)) throw ValueError("--normal: no rows have the label '" + c + "'");
      for (int i = 0; i < data.rows(); ++i)
        if (n.count(data.labels[std::size_t(i)])) rows.push_back(i);
    } else {
      rows.resize(std::size_t(data.rows()));
      std::iota(rows.begin(), rows.end(), 0);
    }
    const Split split = split_normal_rows(std::move(rows), o.seed, o.limit, o.holdout);
    const std::size_t held = split.calibration.size();
    if (held < std::size_t(std::ceil(1.0 / o.fpr - 1e-9)))
      throw ValueError(std::to_string(split.train.size() + held) + " normal rows hold out " + std::to_string(held) + " for calibration; a " +
                       report::fmt(100 * o.fpr, 1) + "% false-positive rate needs at least " + std::to_string(int(std::ceil(1.0 / o.fpr - 1e-9))) +
                       " (more data, a larger --holdout or a larger --fpr)");
    io::Dataset train = data.subset(split.train), calib = data.subset(split.calibration);
    if (info.kind == "table") {  // standardise with the training rows' statistics
      const auto n = train.x.rows();
      for (Eigen::Index c = 0; c < train.x.cols(); ++c) {
        const double m = train.x.col(c).cast<double>().mean();
        const double v = (train.x.col(c).cast<double>().array() - m).square().sum() / double(std::max<Eigen::Index>(n - 1, 1));
        info.mean.push_back(m);
        info.sd.push_back(v > 1e-24 ? std::sqrt(v) : 1.0);
      }
    }
    const RowMatrix<float> x_train = prepare(train, info, o.data), x_calib = prepare(calib, info, o.data);
    const int batch = o.batch ? o.batch : (x_train.rows() < 10000 ? 32 : 64);  // the global batch under MPI
    const int steps_per_epoch = int((x_train.rows() + batch - 1) / batch);
    // Default length: tables 150 epochs (the scoring study's); images about 2500 steps, 2 to 200 epochs.
    const int epochs = o.epochs ? o.epochs : images ? std::clamp((2500 + steps_per_epoch - 1) / steps_per_epoch, 2, 200) : 150;
    const int encoder_epochs = o.encoder_epochs ? o.encoder_epochs : std::max(1, epochs / 5);
    progress.say("training on " + std::to_string(x_train.rows()) + " normal rows (" + std::to_string(held) + " held out to calibrate) for " +
                 std::to_string(epochs) + " epochs of " + std::to_string(steps_per_epoch) + " steps, batch " + std::to_string(batch) + ", " +
                 (o.ranks.distributed() ? std::to_string(o.ranks.size()) + " ranks x " : std::string()) + std::to_string(num_threads()) + " threads");
    const auto t0 = std::chrono::steady_clock::now();
    const auto mine = block_of(int(x_train.rows()), o.ranks.rank(), o.ranks.size());
    gan.distribute(o.ranks.group);
    gan.fit(RowMatrix<float>(x_train.middleRows(mine.begin, mine.rows)), {.epochs = epochs, .batch = batch, .report_every = progress.tty() ? 5 : 0},
            [&](const FitProgress& p) { progress.gan(p); });
    gan.distribute(nullptr);  // the same GAN on every rank; rank 0 finishes the detector
    if (!o.ranks.leader()) return;
    if (o.knn_memory_mb > 0) det.scorer() = score::NearestNeighbours({.memory_budget = std::size_t(o.knn_memory_mb * 1048576.0)});
    det.fit(x_train);
    if (det.scorer().references() < x_train.rows())
      progress.say("kNN: " + std::to_string(det.scorer().references()) + " of " + std::to_string(x_train.rows()) +
                   " normal rows kept as references (a coreset within --knn-memory)");
    det.calibrate(x_calib, {.false_positive_rate = o.fpr});
    if constexpr (images) {
      rec = Rec({.epochs = encoder_epochs, .batch = batch, .seed = o.seed + 1});
      const kernels::PrecisionScope precision(o.precision);  // the encoder trains as the GAN did
      rec.fit(gan, x_train, [&](const score::EncoderProgress& p) { progress.encoder(p); });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    info.training = {{"rows", x_train.rows()}, {"calibration_rows", held}, {"normal", o.normal}, {"epochs", epochs},
                     {"encoder_epochs", images ? encoder_epochs : 0}, {"batch", batch}, {"seed", o.seed}, {"false_positive_rate", o.fpr},
                     {"threshold", det.threshold()}, {"seconds", seconds}, {"ganad", version()}, {"data", o.data}};
    save_model(o.out);
    progress.say("trained in " + report::fmt(seconds, 1) + " s; threshold " + report::fmt(det.threshold(), 5) + " (" +
                 report::fmt(100 * o.fpr, 1) + "% of held-out normals above it); detector saved to " + o.out);
  }

  void score(const Options& o, const io::Dataset& data) {
    const RowMatrix<float> x = prepare(data, info, o.data);
    const ScoreVector<float> s = scores_of(o, x);
    if (!o.ranks.leader()) return;
    const Eigen::VectorXi d = det.decisions(s);
    write_scores_csv(o.out, data, s, d);
    if (!o.quiet)
      std::fprintf(stderr, "%lld rows scored, %d above the threshold %.5g; written to %s\n", (long long)s.size(), d.sum(), det.threshold(),
                   o.out.c_str());
  }

  void evaluate(const Options& o, const io::Dataset& data) {
    const std::vector<int> y = anomaly_labels(data, o.normal);
    const int anomalies = std::accumulate(y.begin(), y.end(), 0);
    if (anomalies == 0 || anomalies == int(y.size())) throw ValueError("evaluate needs both normal and anomalous rows");
    const RowMatrix<float> x = prepare(data, info, o.data);
    const ScoreVector<float> s = scores_of(o, x);
    if (!o.ranks.leader()) return;
    const std::vector<float> scores(s.data(), s.data() + s.size());
    std::filesystem::create_directories(o.out);
    const double auroc = metrics::auroc(scores, y), auprc = metrics::average_precision(scores, y);
    const double tpr5 = metrics::tpr_at_fpr(scores, y, 0.05);
    const auto cm = metrics::confusion_at(scores, y, det.threshold());
    write_scores_csv(o.out + "/scores.csv", data, s, det.decisions(s));
    const auto roc = metrics::roc_curve(scores, y);
    {
      std::ofstream csv(o.out + "/roc.csv");
      csv << "threshold,fpr,tpr\n";
      for (const auto& p : roc) csv << p.threshold << "," << p.fpr << "," << p.tpr << "\n";
    }
    report::write_roc_png(o.out + "/roc.png", {{"detector", roc}});
    report::write_histogram_png(o.out + "/histogram.png", "scores", scores, y);
    const json result = {{"rows", y.size()},
                         {"anomalies", anomalies},
                         {"auroc", auroc},
                         {"auprc", auprc},
                         {"tpr_at_5_fpr", tpr5},
                         {"threshold", det.threshold()},
                         {"false_positive_rate", cm.false_positive_rate()},
                         {"true_positive_rate", cm.recall()},
                         {"model", info.describe()},
                         {"training", info.training}};
    std::ofstream(o.out + "/metrics.json") << result.dump(2) << "\n";
    if constexpr (images) pictures(o, x, scores, y, data);
    std::printf("%d rows, %d anomalies\nAUROC %.4f  AUPRC %.4f  TPR at 5%% FPR %.4f\nat the threshold %.5g: FPR %.4f, TPR %.4f\noutputs in %s\n",
                int(y.size()), anomalies, auroc, auprc, tpr5, det.threshold(), cm.false_positive_rate(), cm.recall(), o.out.c_str());
  }

 private:
  /// decision_function(x); under MPI each rank scores its block, and every rank gets all the
  /// scores in input order.
  ScoreVector<float> scores_of(const Options& o, const RowMatrix<float>& x) {
    if (!o.ranks.distributed()) return det.decision_function(x);
    const auto mine = block_of(int(x.rows()), *o.ranks.group);
    return gather_scores(*o.ranks.group, det.decision_function(RowMatrix<float>(x.middleRows(mine.begin, mine.rows))), int(x.rows()));
  }
  /// Images: the most and least anomalous rows, generator samples and anomaly maps
  /// (|x - G(E(x))| of the most anomalous rows).
  void pictures(const Options& o, const RowMatrix<float>& x, const std::vector<float>& scores, const std::vector<int>& y, const io::Dataset& data) {
    constexpr int C = ImageShape::channels, H = ImageShape::height;
    const pictures::TileShape tile{C, H, H};
    const int zoom = std::max(1, 56 / H);
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[std::size_t(a)] > scores[std::size_t(b)]; });
    const int n = std::min<int>(32, int(order.size()));
    for (const bool most : {true, false}) {
      RowMatrix<float> tiles(n, x.cols());
      std::vector<std::string> captions;
      for (int k = 0; k < n; ++k) {
        const int i = most ? order[std::size_t(k)] : order[order.size() - 1 - std::size_t(k)];
        tiles.row(k) = x.row(i);
        captions.push_back((y[std::size_t(i)] ? "a " : "n ") + report::fmt(scores[std::size_t(i)], 2));
      }
      pictures::image_grid(o.out + (most ? "/most_anomalous.png" : "/most_normal.png"), tiles.data(), n, 8, zoom, captions, tile);
    }
    pictures::image_grid(o.out + "/samples.png", gan.fixed_samples().data, std::min(64, gan.fixed_samples().batch), 8, zoom, {}, tile);
    const int m = std::min(8, n);
    RowMatrix<float> top(m, x.cols());
    for (int k = 0; k < m; ++k) top.row(k) = x.row(order[std::size_t(k)]);
    const RowMatrix<float> back = rec.reconstruct(gan, top), map = rec.anomaly_map(gan, top);
    RowMatrix<float> tiles(3 * m, x.cols());
    for (int k = 0; k < m; ++k) {
      tiles.row(3 * k) = top.row(k);
      tiles.row(3 * k + 1) = back.row(k);
      tiles.row(3 * k + 2) = map.row(k).array() - 1.f;  // |x - G(E(x))| in [0, 2] -> [-1, 1]
    }
    pictures::image_grid(o.out + "/anomaly_maps.png", tiles.data(), 3 * m, 3, zoom, {}, tile);
    (void)data;
  }
};

}  // namespace ganad_detect
