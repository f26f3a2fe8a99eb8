// libFuzzer target for the IDX reader (ganad/io/idx.hpp): any bytes, gzip or not, must give either a
// dataset or a ganad::Error, never a crash, a hang or an out-of-bounds access.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <ganad/io/idx.hpp>

namespace idx = ganad::io::idx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  try {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) bytes = idx::gunzip(bytes, "fuzz");
    if (size > 0 && (data[size - 1] & 1)) idx::parse_images(bytes, "fuzz");
    else idx::parse_labels(bytes, "fuzz");
  } catch (const ganad::Error&) {
  }
  return 0;
}
