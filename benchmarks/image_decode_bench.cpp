// Image folder decoding throughput: io::read_image_folder on 1 and 2 threads, best of three
// runs each, alternating. scripts/bench-images makes the folder and times Pillow beside it.
// Usage: image_decode_bench FOLDER [SIZE]   (prints one JSON line)
#define GANAD_STB_IMPLEMENTATION
#include <ganad/io/images.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: image_decode_bench FOLDER [SIZE]\n");
    return 2;
  }
  const int size = argc > 2 ? std::atoi(argv[2]) : 0;
  double best[3] = {1e30, 1e30, 1e30};
  int rows = 0;
  try {
    for (int rep = 0; rep < 3; ++rep)
      for (int threads : {1, 2}) {
        ganad::set_num_threads(threads);
        const auto t0 = std::chrono::steady_clock::now();
        const auto d = ganad::io::read_image_folder(argv[1], {.height = size, .width = size, .channels = 0});
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rows = d.rows();
        if (s < best[threads]) best[threads] = s;
      }
  } catch (const ganad::Error& e) {
    std::fprintf(stderr, "image_decode_bench: %s\n", e.what());
    return 1;
  }
  std::printf("{\"images\": %d, \"ganad_1_thread_per_s\": %.0f, \"ganad_2_threads_per_s\": %.0f, \"speedup\": %.3f}\n", rows, rows / best[1],
              rows / best[2], best[1] / best[2]);
  return 0;
}
