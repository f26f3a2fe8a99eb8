// What ganad-detect and the MNIST example show a person: a progress line while training
// (a bar on a terminal, one line per epoch otherwise) and the evaluation pictures (ROC
// curves, score histograms).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <ganad/ganad.hpp>

#include "pictures.hpp"

namespace report {

using namespace ganad;

class Progress {
 public:
  Progress(bool quiet) : quiet_(quiet), tty_(::isatty(2) != 0) {}
  void gan(const FitProgress& p) {
    if (quiet_) return;
    const double eta = p.images_per_second > 0 ? (double(p.steps_per_epoch - p.step) + double(p.steps_per_epoch) * (p.epochs - p.epoch)) *
                                                     (p.seconds / std::max<double>(1, double((p.epoch - 1) * p.steps_per_epoch + p.step)))
                                               : 0.0;
    char line[256];
    std::snprintf(line, sizeof line, "epoch %d/%d %s step %d/%d  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  %.0f img/s  ETA %.0fs",
                  p.epoch, p.epochs, bar(double(p.step) / p.steps_per_epoch).c_str(), p.step, p.steps_per_epoch, p.mean.d_loss,
                  p.mean.g_loss, p.mean.d_real, p.mean.d_fake, p.images_per_second, eta);
    if (tty_) std::fprintf(stderr, "\r%s%s", line, p.epoch_end ? "\n" : "");
    else if (p.epoch_end) std::fprintf(stderr, "%s\n", line);
  }
  void encoder(const score::EncoderProgress& p) {
    if (!quiet_) std::fprintf(stderr, "encoder epoch %d/%d  loss %.4f  (%.0fs)\n", p.epoch, p.epochs, p.loss, p.seconds);
  }
  void say(const std::string& s) {
    if (!quiet_) std::fprintf(stderr, "%s\n", s.c_str());
  }
  [[nodiscard]] bool tty() const { return tty_; }

 private:
  static std::string bar(double f) {
    const int n = 20, full = int(std::lround(f * n));
    return "[" + std::string(std::size_t(full), '#') + std::string(std::size_t(n - full), '.') + "]";
  }
  bool quiet_, tty_;
};

inline void write_roc_png(const std::string& path, const std::vector<std::pair<std::string, std::vector<metrics::RocPoint>>>& curves) {
  pictures::Canvas c(420, 420);
  const int x0 = 50, y0 = 20, size = 340;
  c.rect(x0, y0, x0 + size, y0 + size, {245, 245, 245});
  c.line(x0, y0 + size, x0 + size, y0, pictures::grey);  // chance
  c.line(x0, y0, x0, y0 + size, pictures::black);
  c.line(x0, y0 + size, x0 + size, y0 + size, pictures::black);
  c.text(x0 + size / 2 - 30, y0 + size + 14, "fpr", pictures::black);
  c.text(4, y0 + size / 2, "tpr", pictures::black);
  c.text(x0 - 10, y0 + size + 4, "0", pictures::black, 1);
  c.text(x0 + size - 4, y0 + size + 4, "1", pictures::black, 1);
  for (std::size_t k = 0; k < curves.size(); ++k) {
    const auto col = pictures::palette[k % std::size(pictures::palette)];
    const auto& pts = curves[k].second;
    for (std::size_t i = 1; i < pts.size(); ++i)
      c.line(x0 + pts[i - 1].fpr * size, y0 + size - pts[i - 1].tpr * size, x0 + pts[i].fpr * size, y0 + size - pts[i].tpr * size, col, 2);
    c.rect(x0 + size - 150, y0 + size - 20 - int(k) * 14, x0 + size - 140, y0 + size - 12 - int(k) * 14, col);
    c.text(x0 + size - 136, y0 + size - 20 - int(k) * 14, curves[k].first, pictures::black, 1);
  }
  c.save_png(path);
}

inline void write_histogram_png(const std::string& path, const std::string& title, const std::vector<float>& scores,
                                const std::vector<int>& labels) {
  const int bins = 40, W = 480, H = 260, x0 = 20, y0 = 30, plot_h = 200;
  const auto [lo_it, hi_it] = std::minmax_element(scores.begin(), scores.end());
  const double lo = *lo_it, hi = std::max(*hi_it, *lo_it + 1e-12f);
  std::vector<double> h[2] = {std::vector<double>(bins), std::vector<double>(bins)};
  double n[2] = {0, 0};
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const int b = std::clamp(int((scores[i] - lo) / (hi - lo) * bins), 0, bins - 1);
    h[labels[i]][std::size_t(b)] += 1;
    n[labels[i]] += 1;
  }
  double top = 1e-12;
  for (int k = 0; k < 2; ++k)
    for (auto& v : h[k]) top = std::max(top, v /= std::max(1.0, n[k]));
  pictures::Canvas c(W, H);
  c.text(x0, 6, title, pictures::black, 2);
  const int bw = (W - 2 * x0) / bins;
  for (int b = 0; b < bins; ++b)
    for (int k = 0; k < 2; ++k) {
      const int hh = int(h[k][std::size_t(b)] / top * plot_h);
      const int xs = x0 + b * bw + k * bw / 2;
      c.rect(xs, y0 + plot_h - hh, xs + bw / 2, y0 + plot_h, k ? pictures::red : pictures::blue);
    }
  c.line(x0, y0 + plot_h, W - x0, y0 + plot_h, pictures::black);
  c.rect(x0, H - 22, x0 + 10, H - 12, pictures::blue);
  c.text(x0 + 14, H - 22, "normal", pictures::black, 1);
  c.rect(x0 + 80, H - 22, x0 + 90, H - 12, pictures::red);
  c.text(x0 + 94, H - 22, "anomaly", pictures::black, 1);
  c.save_png(path);
}

inline std::string fmt(double v, int digits = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

}  // namespace report
