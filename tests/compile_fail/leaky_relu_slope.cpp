// expect: LeakyReLU: Slope must be positive
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Flat<4>, ganad::LeakyReLU<-0.1>> net;
  (void)net;
}
