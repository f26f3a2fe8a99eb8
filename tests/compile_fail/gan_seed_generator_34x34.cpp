// expect: Gan: the generator's output shape must equal the discriminator's input shape; the two shapes are the arguments of assert_gan_shapes
#include <ganad/ganad.hpp>
using namespace ganad;
// The seed's generator: its last layer is a 7x7 'valid' transposed convolution (34x34 out).
using SeedGenerator = Sequential<float, Flat<100>, Dense<7 * 7 * 256>, LeakyReLU<>, Reshape<Shape<256, 7, 7>>,
    ConvTranspose2D<128, 4, Stride<2>, Same>, LeakyReLU<>, ConvTranspose2D<64, 4, Stride<2>, Same>, LeakyReLU<>,
    ConvTranspose2D<1, 7, Stride<1>, Valid>, Tanh>;
int main() {
  Gan<SeedGenerator, models::DcganDiscriminator<float>> gan;
  (void)gan;
}
