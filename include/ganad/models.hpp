/// Ready-made architectures: the seed's DCGAN for 28 x 28 grayscale images, as design.md
/// writes it (with the seed's generator bug fixed: its last layer is 'same', not 'valid'),
/// and an MLP GAN for tables of N features.
#pragma once

#include "ganad/layers/activations.hpp"
#include "ganad/layers/batchnorm.hpp"
#include "ganad/layers/conv2d.hpp"
#include "ganad/layers/conv_transpose2d.hpp"
#include "ganad/layers/dense.hpp"
#include "ganad/layers/reshape.hpp"
#include "ganad/nn/sequential.hpp"

namespace ganad::models {

/// The seed's generator: 100-d noise -> 1 x 28 x 28 image in [-1, 1].
template <class T = float, int Latent = 100>
using DcganGenerator = Sequential<T, Flat<Latent>,
    Dense<7 * 7 * 256>, LeakyReLU<>, Reshape<Shape<256, 7, 7>>,
    ConvTranspose2D<128, 4, Stride<2>, Same>, LeakyReLU<>,   // 128 x 14 x 14
    ConvTranspose2D<64, 4, Stride<2>, Same>, LeakyReLU<>,    // 64 x 28 x 28
    ConvTranspose2D<1, 7, Stride<1>, Same>, Tanh>;           // 1 x 28 x 28

/// The seed's generator with BatchNorm after the Dense layer and each hidden transposed
/// convolution, as the DCGAN paper and TensorFlow's DCGAN tutorial have it.
template <class T = float, int Latent = 100>
using DcganGeneratorBN = Sequential<T, Flat<Latent>,
    Dense<7 * 7 * 256>, BatchNorm<>, LeakyReLU<>, Reshape<Shape<256, 7, 7>>,
    ConvTranspose2D<128, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,
    ConvTranspose2D<64, 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>,
    ConvTranspose2D<1, 7, Stride<1>, Same>, Tanh>;

/// The seed's discriminator: 1 x 28 x 28 image -> one logit.
template <class T = float>
using DcganDiscriminator = Sequential<T, Shape<1, 28, 28>,
    Conv2D<64, 5, Stride<2>, Same>, LeakyReLU<>,             // 64 x 14 x 14
    Conv2D<128, 5, Stride<2>, Same>, LeakyReLU<>,            // 128 x 7 x 7
    Flatten, Dense<1>>;

/// MLP generator for tables of N standardised features: Latent-d noise -> N values. The
/// output is linear (standardised features are not bounded to [-1, 1] as pixels are).
template <class T, int N, int Latent = 16, int Hidden = 64>
using MlpGenerator = Sequential<T, Flat<Latent>, Dense<Hidden>, LeakyReLU<>, Dense<Hidden>, LeakyReLU<>, Dense<N>>;

/// MLP discriminator for tables of N features: N values -> one logit. Its features (what
/// the scorers read) are the second hidden layer's Hidden activations.
template <class T, int N, int Hidden = 64>
using MlpDiscriminator = Sequential<T, Flat<N>, Dense<Hidden>, LeakyReLU<>, Dense<Hidden>, LeakyReLU<>, Dense<1>>;

}  // namespace ganad::models
