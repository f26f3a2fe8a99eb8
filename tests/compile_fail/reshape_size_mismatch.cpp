// expect: Reshape: the target shape must hold as many elements as the input shape
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Flat<100>, ganad::Dense<12>, ganad::Reshape<ganad::Shape<2, 2, 2>>> net;
  (void)net;
}
