// expect: Conv2D: the third argument must be Stride<S>
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Shape<1, 8, 8>, ganad::Conv2D<2, 3, ganad::Pad<1>>> net;
  (void)net;
}
