// The 32 x 32 image models of ganad-detect (see model_types.hpp).
#include "model_types.hpp"

namespace ganad_detect {
void run_image_32(const Options& o, const ReadData& data, const ModelInfo& info) {
  if (info.channels == 1) run<models::GanFor<float, Shape<1, 32, 32>>>(o, data, info);
  else run<models::GanFor<float, Shape<3, 32, 32>>>(o, data, info);
}
}  // namespace ganad_detect
