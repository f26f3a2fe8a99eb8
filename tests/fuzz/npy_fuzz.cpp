// libFuzzer target for the .npy reader: any bytes must give a Dataset or a ganad::Error,
// never a crash, a hang or an allocation the file's size does not justify.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <ganad/io/npy.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto a = ganad::io::parse_npy({reinterpret_cast<const char*>(data), size}, "fuzz");
    (void)ganad::io::to_dataset(a, "fuzz");
  } catch (const ganad::Error&) {
  }
  return 0;
}
