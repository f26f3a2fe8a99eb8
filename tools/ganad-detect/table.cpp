// The table models of ganad-detect: the MLP GAN at each width of table_widths.
#include "model_types.hpp"

namespace ganad_detect {
namespace {
template <int... W>
void run_width(int width, const Options& o, const ReadData& data, const ModelInfo& info, std::integer_sequence<int, W...>) {
  const bool found = ((width == W ? (run<models::GanFor<float, Flat<W>>>(o, data, info), true) : false) || ...);
  if (!found) throw ValueError("no built-in model for tables of " + std::to_string(width) + " features");
}
}  // namespace

void run_table(const Options& o, const ReadData& data, const ModelInfo& info) {
  run_width(info.width, o, data, info, std::integer_sequence<int, 8, 16, 32, 64, 128, 256, 512, 1024>{});
}
}  // namespace ganad_detect
