// expect: Dense: the number of outputs N must be positive
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Flat<4>, ganad::Dense<0>> net;
  (void)net;
}
