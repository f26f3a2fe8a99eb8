// parallel_for's team under contention (kernels::detail::TeamSize), fed measured windows.
#include "ganad/kernels/parallel.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

using ganad::kernels::detail::TeamSize;

namespace {
/// One window of regions at the full team, each losing `share` of its threads' time.
void window(TeamSize& t, int wanted, double share) {
  for (int r = 0; r < TeamSize::window; ++r) t.observe(wanted, std::int64_t(share * 1e6), 1'000'000);
}
/// Teams of the next n regions.
std::vector<int> teams(TeamSize& t, int wanted, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(t.next(wanted));
  return out;
}
}  // namespace

TEST_CASE("parallel_for's team: full on an idle machine, smaller while another process holds the cores", "[kernel][parallel]") {
  TeamSize t;
  for (int w = 0; w < 20; ++w) window(t, 2, 0.01);  // idle: about 1% lost
  CHECK(teams(t, 2, 100) == std::vector<int>(100, 2));
  window(t, 2, 0.3);  // one bad window alone is the host's noise
  window(t, 2, 0.01);
  window(t, 2, 0.3);
  CHECK(teams(t, 2, 10) == std::vector<int>(10, 2));
  window(t, 2, 0.35);  // two in a row: contention; one thread for 512 regions
  auto next = teams(t, 2, 513);
  CHECK(std::count(next.begin(), next.end(), 1) == 512);
  CHECK(next.back() == 2);  // then the full team measures again
  window(t, 2, 0.35);       // still contended: one bad window suffices now, and the backoff doubles
  next = teams(t, 2, 1025);
  CHECK(std::count(next.begin(), next.end(), 1) == 1024);
  window(t, 2, 0.01);  // quiet: the backoff halves (to 1024) and the team stays full
  CHECK(teams(t, 2, 50) == std::vector<int>(50, 2));
  window(t, 2, 0.35);
  next = teams(t, 2, 1100);
  CHECK(std::count(next.begin(), next.end(), 1) == 1024);
}

TEST_CASE("parallel_for's team shrinks by the share lost, and not for one busy neighbour of many cores", "[kernel][parallel]") {
  TeamSize big;
  for (int w = 0; w < 10; ++w) window(big, 64, 1.0 / 65);
  CHECK(teams(big, 64, 10) == std::vector<int>(10, 64));
  TeamSize half;
  window(half, 8, 0.5);
  window(half, 8, 0.5);
  CHECK(half.next(8) == 4);
  CHECK(half.next(2) == 2);  // clamped to what the caller asks for
  CHECK(half.next(5) == 4);
}
