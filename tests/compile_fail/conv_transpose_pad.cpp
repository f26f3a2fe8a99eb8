// expect: ConvTranspose2D: Pad<P> needs P < K
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Shape<1, 4, 4>, ganad::ConvTranspose2D<2, 3, ganad::Stride<1>, ganad::Pad<3>>> net;
  (void)net;
}
