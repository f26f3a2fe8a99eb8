// scoring_study: trains a GAN on one data set of the scoring study (docs/scoring.md) and
// reports every scorer's AUROC, AUPRC, TPR at 5% FPR and the calibrated threshold's
// false-positive rate on the test normals, as a table and as JSON. scripts/accuracy drives it
// over the seeds. Data: the CSV splits scripts/export-sklearn writes, or the synthetic table.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ganad/ganad.hpp>
#include <ganad/io/csv.hpp>

#include "synthetic.hpp"

namespace {

using namespace ganad;
using json = nlohmann::json;

struct Split {
  RowMatrix<float> x;
  std::vector<int> label;
  std::vector<study::AnomalyKind> kind;  // synthetic only
};

/// A CSV of scripts/export-sklearn: `features` numbers and a last column 'label' (1 = anomaly).
Split read_csv(const std::string& path, int features) {
  if (!std::filesystem::exists(path)) throw IoError(path + ": missing (run scripts/export-sklearn first)");
  const io::Dataset d = io::read_csv(path, {.label = "label"});
  if (d.features() != features)
    throw FormatError(path + ": " + std::to_string(d.features()) + " feature columns, not " + std::to_string(features));
  Split s;
  s.x = d.x;
  for (const auto& l : d.labels) {
    if (l != "0" && l != "1") throw FormatError(path + ": label '" + l + "' is not 0 or 1");
    s.label.push_back(l == "1");
  }
  return s;
}

struct Options {
  std::string set = "breast_cancer";
  std::string data;  // default data/sklearn/<set>/seed<split>
  int split = 0;
  std::uint64_t seed = 0;
  int epochs = 0, batch = 0, encoder_epochs = 0;  // 0: the set's default
  std::optional<double> negative_weight;  // unset: the library's default
  double negative_noise = 1;
  double real_label = 1;
  std::string out;
};

// A small DCGAN for 8 x 8 images (scikit-learn's digits).
using DigitsG = Sequential<float, Flat<32>, Dense<2 * 2 * 128>, BatchNorm<>, LeakyReLU<>, Reshape<Shape<128, 2, 2>>,
                           ConvTranspose2D<64, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,  // 64 x 4 x 4
                           ConvTranspose2D<32, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,  // 32 x 8 x 8
                           ConvTranspose2D<1, 3, Stride<1>, Same>, Tanh>;
using DigitsD = Sequential<float, Shape<1, 8, 8>, Conv2D<32, 3, Stride<2>, Same>, LeakyReLU<>,  // 32 x 4 x 4
                           Conv2D<64, 3, Stride<2>, Same>, LeakyReLU<>,                          // 64 x 2 x 2
                           Flatten, Dense<1>>;

struct Defaults {
  int epochs, batch, encoder_epochs;
};

template <class GanType>
json run(const Options& o, const Defaults& def, const Split& train, const Split& calib, const Split& test) {
  const int epochs = o.epochs ? o.epochs : def.epochs, batch = o.batch ? o.batch : def.batch;
  const int encoder_epochs = o.encoder_epochs ? o.encoder_epochs : def.encoder_epochs;
  GanType gan({.seed = o.seed, .real_label = o.real_label, .negative_weight = o.negative_weight, .negative_noise = o.negative_noise});
  const auto t0 = std::chrono::steady_clock::now();
  gan.fit(train.x, {.epochs = epochs, .batch = batch});
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json out = {{"set", o.set}, {"split", o.split}, {"seed", o.seed}, {"epochs", epochs}, {"batch", batch}, {"negative_weight", gan.negative_weight()}, {"negative_noise", o.negative_noise},
              {"train_rows", train.x.rows()}, {"test_rows", test.x.rows()}, {"train_seconds", train_seconds}};

  using score::FeatureScaling;
  using score::FeatureSpace;
  auto knn = [](FeatureSpace space, FeatureScaling scaling, double share = 0.35) {
    return score::NearestNeighbours({.space = space, .input_scaling = scaling, .discriminator_scaling = scaling, .input_share = share});
  };
  score::Reconstruction<GanType> rec({.epochs = encoder_epochs, .batch = batch, .seed = o.seed + 1});
  score::FeatureMatching feature;
  const score::Discriminator logit({.output = DiscriminatorOutput::negative_logit});
  std::vector<std::pair<std::string, std::function<std::pair<double, std::vector<float>>()>>> scorers;
  // A fitted detector's threshold (5% FPR on the calibration normals) and test scores.
  auto evaluate = [&](auto& det) {
    det.calibrate(calib.x, {.false_positive_rate = 0.05});
    const auto s = det.decision_function(test.x);
    return std::pair{det.threshold(), std::vector<float>(s.data(), s.data() + s.size())};
  };
  auto add = [&](const std::string& name, auto make) {
    scorers.emplace_back(name, [&, make] {
      Detector det{gan, make()};
      det.fit(train.x);
      return evaluate(det);
    });
  };
  // The names of the MNIST example where the two overlap; knn is the library's default scorer.
  add("knn", [] { return score::NearestNeighbours(); });
  add("discriminator", [] { return score::Discriminator(); });
  add("feature", [] { return score::FeatureMatching(); });
  add("reconstruction", [&] { return rec; });
  add("knn_input", [&] { return knn(FeatureSpace::input, FeatureScaling::none); });
  add("knn_input_std", [&] { return knn(FeatureSpace::input, FeatureScaling::standardize); });
  add("knn_d_unit", [&] { return knn(FeatureSpace::discriminator, FeatureScaling::unit_length); });
  add("knn_d_std", [&] { return knn(FeatureSpace::discriminator, FeatureScaling::standardize); });
  add("knn_d_none", [&] { return knn(FeatureSpace::discriminator, FeatureScaling::none); });
  add("knn_both_std", [&] { return knn(FeatureSpace::input_and_discriminator, FeatureScaling::standardize, 0.35); });
  for (double share : {0.2, 0.5})
    add("knn_share_" + std::to_string(int(share * 100)), [&, share] { return score::NearestNeighbours({.input_share = share}); });
  // kNN on the input, kNN on D's features and -logit, each standardised on the calibration normals.
  scorers.emplace_back("weighted", [&] {
    Detector det{gan, score::Weighted(knn(FeatureSpace::input, FeatureScaling::none), score::NearestNeighbours({.space = FeatureSpace::discriminator}), logit)};
    det.scorer().template scorer<0>().fit(gan, train.x);
    det.scorer().template scorer<1>().fit(gan, train.x);
    det.scorer().standardize_on(gan, calib.x);
    return evaluate(det);
  });
  json results = json::object();
  for (auto& [name, score_it] : scorers) {
    const auto [threshold, s] = score_it();
    json r = {{"auroc", metrics::auroc(s, test.label)},
              {"auprc", metrics::average_precision(s, test.label)},
              {"tpr_at_5_fpr", metrics::tpr_at_fpr(s, test.label, 0.05)},
              {"test_fpr", metrics::confusion_at(s, test.label, threshold).false_positive_rate()}};
    if (!test.kind.empty())
      for (auto kind : {study::AnomalyKind::scale, study::AnomalyKind::correlation_break, study::AnomalyKind::off_manifold}) {
        std::vector<float> ks;
        std::vector<int> ky;
        for (std::size_t i = 0; i < s.size(); ++i)
          if (test.kind[i] == study::AnomalyKind::normal || test.kind[i] == kind) ks.push_back(s[i]), ky.push_back(test.label[i]);
        r["auroc_by_kind"][study::kind_name(kind)] = metrics::auroc(ks, ky);
      }
    results[name] = r;
  }
  out["scorers"] = results;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"scoring_study: every ganad scorer on one split of the scoring study's data sets (docs/scoring.md)"};
  app.add_option("--set", o.set, "breast_cancer, digits or synthetic")->check(CLI::IsMember({"breast_cancer", "digits", "synthetic"}));
  app.add_option("--data", o.data, "folder with train.csv, calibration.csv, test.csv (default data/sklearn/SET/seedSPLIT)");
  app.add_option("--split", o.split, "split seed (0-4)");
  app.add_option("--seed", o.seed, "GAN seed");
  app.add_option("--epochs", o.epochs, "GAN epochs (default: the set's)");
  app.add_option("--batch", o.batch, "batch size (default: the set's)");
  app.add_option("--encoder-epochs", o.encoder_epochs, "f-AnoGAN encoder epochs (default: the set's)");
  app.add_option("--negative-weight", o.negative_weight, "GanOptions::negative_weight");
  app.add_option("--negative-noise", o.negative_noise, "GanOptions::negative_noise");
  app.add_option("--real-label", o.real_label, "GanOptions::real_label");
  app.add_option("--out", o.out, "write the results as JSON here");
  CLI11_PARSE(app, argc, argv);
  try {
    const std::string dir = o.data.empty() ? "data/sklearn/" + o.set + "/seed" + std::to_string(o.split) : o.data;
    json r;
    if (o.set == "synthetic") {
      const study::Synthetic gen;
      const std::uint64_t s = 1000 * std::uint64_t(o.split);
      auto to_split = [](study::Table t) { return Split{std::move(t.x), std::move(t.label), std::move(t.kind)}; };
      r = run<Gan<models::MlpGenerator<float, study::synthetic_features>, models::MlpDiscriminator<float, study::synthetic_features>>>(
          o, {100, 64, 100}, to_split(gen.draw(2000, 0, s + 1)), to_split(gen.draw(200, 0, s + 2)), to_split(gen.draw(500, 100, s + 3)));
    } else if (o.set == "breast_cancer") {
      constexpr int N = 30;
      r = run<Gan<models::MlpGenerator<float, N>, models::MlpDiscriminator<float, N>>>(
          o, {150, 32, 200}, read_csv(dir + "/train.csv", N), read_csv(dir + "/calibration.csv", N), read_csv(dir + "/test.csv", N));
    } else {
      r = run<Gan<DigitsG, DigitsD>>(o, {200, 32, 30}, read_csv(dir + "/train.csv", 64), read_csv(dir + "/calibration.csv", 64),
                                     read_csv(dir + "/test.csv", 64));
    }
    std::printf("%s split %d seed %llu: %d epochs in %.2f s\n%-18s %7s %7s %10s %9s\n", o.set.c_str(), o.split,
                (unsigned long long)o.seed, r["epochs"].get<int>(), r["train_seconds"].get<double>(), "scorer", "AUROC", "AUPRC",
                "TPR@5%FPR", "test FPR");
    for (auto& [name, s] : r["scorers"].items()) {
      std::printf("%-18s %7.4f %7.4f %10.4f %8.1f%%", name.c_str(), s["auroc"].get<double>(), s["auprc"].get<double>(),
                  s["tpr_at_5_fpr"].get<double>(), 100 * s["test_fpr"].get<double>());
      if (s.contains("auroc_by_kind"))
        for (auto& [k, v] : s["auroc_by_kind"].items()) std::printf("  %s %.3f", k.c_str(), v.get<double>());
      std::printf("\n");
    }
    if (!o.out.empty()) std::ofstream(o.out) << r.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scoring_study: %s\n", e.what());
    return 1;
  }
}
