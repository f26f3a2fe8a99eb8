// expect: models::ImageGenerator/ImageDiscriminator: image height and width must be from 8 to 128 pixels
#include <ganad/ganad.hpp>
using namespace ganad;
int main() {
  models::ImageDiscriminator<float, Shape<3, 256, 256>> d;  // resize to 128 x 128 or write a deeper model
  (void)d;
}
