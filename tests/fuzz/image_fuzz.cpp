// libFuzzer target for the image decoder (stb_image behind ganad's size checks, then the
// resize): any bytes must give an image or a ganad::Error, never a crash or a huge allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#define GANAD_STB_IMPLEMENTATION
#include <ganad/io/images.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)ganad::io::decode_image({reinterpret_cast<const char*>(data), size}, "fuzz", {.height = 16, .width = 16, .channels = 0});
  } catch (const ganad::Error&) {
  }
  return 0;
}
