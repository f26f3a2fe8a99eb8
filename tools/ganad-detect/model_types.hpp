// The model types ganad-detect is built with (shapes are compile-time in ganad, so the tool
// carries a fixed set): the DCGAN family at these square image sizes, grayscale and RGB,
// and the MLP GAN at these table widths. Each size is compiled in its own source file.
#pragma once

#include <functional>

#include <ganad/io/dataset.hpp>

#include "pipeline.hpp"

namespace ganad_detect {

inline constexpr int image_sizes[] = {8, 16, 28, 32, 64};
inline constexpr int table_widths[] = {8, 16, 32, 64, 128, 256, 512, 1024};

/// Gives the data once the model's information is known (for score and evaluate, after the
/// model file has loaded: a table's label column comes from it).
using ReadData = std::function<io::Dataset(const ModelInfo&)>;

/// Trains, scores or evaluates with one model type. `info` says which (and, for score and
/// evaluate, is what the model file's description announced).
template <class GanT>
void run(const Options& o, const ReadData& read, const ModelInfo& info) {
  Pipeline<GanT> p(o.seed, o.precision);
  if (o.command == Command::train) return p.train(o, read(info), info);
  p.info = info;
  p.load_model(o.model);
  const io::Dataset data = read(p.info);
  if (o.command == Command::score) p.score(o, data);
  else p.evaluate(o, data);
}

/// run() for images of info.channels x S x S; each defined in image_<S>.cpp.
void run_image_8(const Options& o, const ReadData& data, const ModelInfo& info);
void run_image_16(const Options& o, const ReadData& data, const ModelInfo& info);
void run_image_28(const Options& o, const ReadData& data, const ModelInfo& info);
void run_image_32(const Options& o, const ReadData& data, const ModelInfo& info);
void run_image_64(const Options& o, const ReadData& data, const ModelInfo& info);
/// run() for tables of info.width features; defined in table.cpp.
void run_table(const Options& o, const ReadData& data, const ModelInfo& info);

inline void run_any(const Options& o, const ReadData& data, const ModelInfo& info) {
  if (info.kind == "table") return run_table(o, data, info);
  switch (info.size) {
    case 8: return run_image_8(o, data, info);
    case 16: return run_image_16(o, data, info);
    case 28: return run_image_28(o, data, info);
    case 32: return run_image_32(o, data, info);
    case 64: return run_image_64(o, data, info);
    default: throw ValueError("no built-in model for " + std::to_string(info.size) + " x " + std::to_string(info.size) + " images");
  }
}

}  // namespace ganad_detect
