// expect: Reshape: the argument must be a shape
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Flat<4>, ganad::Reshape<int>> net;
  (void)net;
}
