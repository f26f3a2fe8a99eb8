// expect: models::ImageGenerator/ImageDiscriminator: image height and width must be from 8 to 128 pixels
#include <ganad/ganad.hpp>
using namespace ganad;
int main() {
  models::ImageGenerator<float, Shape<1, 4, 4>> g;
  (void)g;
}
