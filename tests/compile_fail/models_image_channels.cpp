// expect: models::ImageGenerator/ImageDiscriminator: images must have 1 (grayscale) or 3 (RGB) channels
#include <ganad/ganad.hpp>
using namespace ganad;
int main() {
  models::GanFor<float, Shape<2, 28, 28>> gan;  // two channels: neither grayscale nor RGB
  (void)gan;
}
