// expect: Conv2D: the kernel must fit the padded input
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Shape<1, 4, 4>, ganad::Conv2D<2, 7>> net;
  (void)net;
}
