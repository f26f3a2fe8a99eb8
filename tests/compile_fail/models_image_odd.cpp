// expect: models::ImageGenerator/ImageDiscriminator: image height and width must be even
#include <ganad/ganad.hpp>
using namespace ganad;
int main() {
  models::GanFor<float, Shape<1, 27, 27>> gan;  // stride-2 stages need even sides
  (void)gan;
}
