// expect: Gan: the discriminator must end in one logit per sample
#include <ganad/ganad.hpp>
using namespace ganad;
int main() {
  Gan<Sequential<float, Flat<4>, Dense<3>>, Sequential<float, Flat<3>, Dense<2>>> gan;
  (void)gan;
}
