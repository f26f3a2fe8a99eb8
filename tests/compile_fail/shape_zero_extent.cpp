// expect: Shape<C, H, W>: every extent must be positive
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Shape<1, 0, 28>, ganad::Dense<3>> net;
  (void)net;
}
