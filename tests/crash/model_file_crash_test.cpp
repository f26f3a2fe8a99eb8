// Model files under crashes and full disks: saves killed (SIGKILL) at random points leave the
// old or the new model, never a broken one, and no temporaries pile up; a save onto a full
// file system is an IoError with the old file intact. Its own executable: it forks, which a
// process with OpenMP's worker threads (the unit tests) should not do.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ganad/ganad.hpp"
#include "support/files.hpp"

using namespace ganad;
namespace fs = std::filesystem;

namespace {

// About 1 MB: a save (with its fsync) takes milliseconds, long enough to be killed in the middle.
using Big = Sequential<float, Flat<500>, Dense<500>, Tanh>;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = test::temp_path(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

int temporaries(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp-") != std::string::npos;
  return n;
}

// Which of a and b the file holds (0, 1), or -1 if neither.
int which(const std::string& path, const Big& a, const Big& b) {
  Big m({.seed = 99});
  load(m, path);
  if (std::ranges::equal(m.params(), a.params())) return 0;
  if (std::ranges::equal(m.params(), b.params())) return 1;
  return -1;
}

}  // namespace

TEST_CASE("Model files: saves killed at random points leave the old or the new model; temporaries do not pile up", "[io][crash]") {
  const fs::path dir = fresh_dir("crash_dir");
  const std::string path = (dir / "model.ganad").string();
  const Big a({.seed = 1}), b({.seed = 2});
  const auto t0 = std::chrono::steady_clock::now();
  save(a, path);
  // Kills land uniformly over three saves' time: before the first completes, during the
  // write and rename of each, and between them.
  const auto save_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  const int window_us = int(std::max<long long>(3 * save_us, 1000));
  std::srand(7);
  int seen[2] = {0, 0}, max_temporaries = 0;
  constexpr int rounds = 200;
  for (int round = 0; round < rounds; ++round) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // saves b and a over and over until killed
      for (int i = 0;; ++i) save(i % 2 ? a : b, path);
    }
    ::usleep(useconds_t(std::rand() % window_us));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    const int w = which(path, a, b);  // throws if the file does not load
    INFO("round " << round);
    REQUIRE(w >= 0);
    ++seen[w];
    max_temporaries = std::max(max_temporaries, temporaries(dir));
  }
  INFO("one save " << save_us << " us; holding a: " << seen[0] << ", b: " << seen[1] << ", most temporaries at once: "
                    << max_temporaries);
  CHECK(seen[0] + seen[1] == rounds);
  CHECK(seen[1] > 0);                // kills landed after saves of b as well as of a
  CHECK(max_temporaries == 1);       // and some in the middle of a save
  CHECK(max_temporaries <= 1);       // each save removes what dead processes left
  WARN("one save " << save_us << " us; the file held a " << seen[0] << " and b " << seen[1] << " times");
  save(a, path);
  CHECK(temporaries(dir) == 0);      // none left after the next save
  fs::remove_all(dir);
}

TEST_CASE("Model files: stale temporaries of dead processes go at the next save; a live process's stay", "[io][crash]") {
  const fs::path dir = fresh_dir("stale_dir");
  const std::string path = (dir / "m.ganad").string();
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);  // a pid that no longer runs
  test::write_all(path + ".tmp-" + std::to_string(dead), std::vector<unsigned char>(100, 1));
  test::write_all(path + ".tmp-1", std::vector<unsigned char>(100, 1));  // pid 1 is alive
  test::write_all(path + ".tmp-notapid", std::vector<unsigned char>(10, 1));
  test::write_all((dir / "other.ganad.tmp-999999").string(), std::vector<unsigned char>(10, 1));  // another model's
  save(Big({.seed = 3}), path);
  CHECK_FALSE(fs::exists(path + ".tmp-" + std::to_string(dead)));
  CHECK(fs::exists(path + ".tmp-1"));
  CHECK(fs::exists(path + ".tmp-notapid"));
  CHECK(fs::exists(dir / "other.ganad.tmp-999999"));
  fs::remove_all(dir);
}

TEST_CASE("Model files: a save onto a full file system is an IoError; the old file stays whole", "[io][crash]") {
  const fs::path dir = fresh_dir("full_dir");
  const std::string path = (dir / "m.ganad").string();
  using Small = Sequential<float, Flat<10>, Dense<10>>;
  const Small old_model({.seed = 5});
  // A 256 KiB tmpfs (root only); elsewhere a file-size limit stands in for the full disk.
  const bool tmpfs = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") == 0;
  if (!tmpfs) WARN("no tmpfs (mount: " << std::strerror(errno) << "): a file-size limit stands in for the full disk");
  save(old_model, path);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (!tmpfs) {
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit limit{64 * 1024, 64 * 1024};
      ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    int code = 3;
    try {
      save(Big({.seed = 6}), path);  // 1 MB into 256 KiB
      code = 1;
    } catch (const IoError& e) {
      code = std::string(e.what()).find("cannot write") != std::string::npos ? 0 : 2;
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 0: IoError "cannot write"; 1: no error; 2: another message
  Small back({.seed = 7});
  load(back, path);
  CHECK(std::ranges::equal(back.params(), old_model.params()));
  CHECK(temporaries(dir) == 0);
  if (tmpfs) ::umount(dir.c_str());
  fs::remove_all(dir);
}
