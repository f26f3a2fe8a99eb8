// mnist_detector: the example's command line. Everything else is in app.hpp.
#include "app.hpp"  // first: ganad before other headers that include <immintrin.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cstdio>
#include <stdexcept>

int main(int argc, char** argv) {
  try {
    mnist::run(mnist::parse_args(argc, argv));
    return 0;
  } catch (const std::invalid_argument& help) {  // --help
    std::fputs(help.what(), stdout);
    return 0;
  } catch (const ganad::Error& e) {
    std::fprintf(stderr, "mnist_detector: %s\n", e.what());
    return 1;
  }
}
