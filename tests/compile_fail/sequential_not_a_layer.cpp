// expect: Sequential: every argument after the input shape must be a layer spec
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Flat<4>, ganad::Dense<3>, int> net;
  (void)net;
}
