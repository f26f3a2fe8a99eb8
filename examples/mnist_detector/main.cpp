// mnist_detector: the example's command line. Everything else is in app.hpp.
#include "app.hpp"  // first: ganad before other headers that include <immintrin.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cstdio>
#include <stdexcept>

int main(int argc, char** argv) {
  // Under mpirun (a build with ganad::mpi), every rank trains on its block of the images.
  return ganad_detect::run_ranks(argc, argv, [&](ganad_detect::Ranks& ranks) {
    try {
      mnist::run(mnist::parse_args(argc, argv), stdout, ranks);
      return 0;
    } catch (const std::invalid_argument& help) {  // --help
      if (ranks.leader()) std::fputs(help.what(), stdout);
      return 0;
    } catch (const ganad::Error& e) {
      std::fprintf(stderr, "mnist_detector: %s\n", e.what());
      return 1;
    }
  });
}
