/// Ready-made architectures: a DCGAN family for images of C x H x W (its depth follows the
/// size), the seed's DCGAN for 28 x 28 grayscale images as design.md writes it (with the
/// seed's generator bug fixed: its last layer is 'same', not 'valid'), an MLP GAN for tables
/// of N features, and GanFor<T, Shape>, which picks the family for a data shape.
#pragma once

#include <algorithm>

#include "ganad/layers/activations.hpp"
#include "ganad/layers/batchnorm.hpp"
#include "ganad/layers/conv2d.hpp"
#include "ganad/layers/conv_transpose2d.hpp"
#include "ganad/layers/dense.hpp"
#include "ganad/layers/reshape.hpp"
#include "ganad/gan/gan.hpp"
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

namespace detail {

template <class... Layers>
struct layer_list {};
template <class A, class B>
struct concat;
template <class... A, class... B>
struct concat<layer_list<A...>, layer_list<B...>> {
  using type = layer_list<A..., B...>;
};
template <class T, class In, class List>
struct to_sequential;
template <class T, class In, class... Layers>
struct to_sequential<T, In, layer_list<Layers...>> {
  using type = Sequential<T, In, Layers...>;
};

/// The sizes the DCGAN family can build, and the numbers that follow from a size.
template <int C, int H, int W>
struct dcgan_plan {
  static constexpr bool valid_channels = C == 1 || C == 3;
  static constexpr bool valid_size = H >= 8 && H <= 128 && W >= 8 && W <= 128;
  static constexpr bool valid_parity = H % 2 == 0 && W % 2 == 0;
  static constexpr bool valid = valid_channels && valid_size && valid_parity;
  /// Stride-2 stages: halve while both sides stay even and at least 4 (28 -> 7: 2; 64 -> 4: 4).
  static constexpr int stages = [] {
    int n = 0, h = H, w = W;
    while (n < 5 && h % 2 == 0 && w % 2 == 0 && h / 2 >= 4 && w / 2 >= 4) h /= 2, w /= 2, ++n;
    return n;
  }();
  static constexpr int base_h = H >> stages, base_w = W >> stages;
  static constexpr bool large = std::min(H, W) >= 28;
  static constexpr int d_kernel = large ? 5 : 3;    // the seed's 5 x 5 from 28 x 28 up
  static constexpr int out_kernel = large ? 7 : 3;  // the seed's last 7 x 7 from 28 x 28 up
  /// Channels of stage j counted from the image side: 64, 128, 256, 256, ...
  static constexpr int channels(int j) { return std::min(64 << j, 256); }
};

template <class Plan, int J>
struct generator_stages {  // stages J-1 .. 0: transposed convolution, BatchNorm, LeakyReLU
  using type = typename concat<layer_list<ConvTranspose2D<Plan::channels(J - 1), 4, Stride<2>, Same>, BatchNorm<>, LeakyReLU<>>,
                               typename generator_stages<Plan, J - 1>::type>::type;
};
template <class Plan>
struct generator_stages<Plan, 0> {
  using type = layer_list<>;
};
template <class Plan, int I>
struct discriminator_stages {  // stages 0 .. I-1: convolution, LeakyReLU
  using type = typename concat<typename discriminator_stages<Plan, I - 1>::type,
                               layer_list<Conv2D<Plan::channels(I - 1), Plan::d_kernel, Stride<2>, Same>, LeakyReLU<>>>::type;
};
template <class Plan>
struct discriminator_stages<Plan, 0> {
  using type = layer_list<>;
};

template <class T, class S, int Latent>
struct image_dcgan {
  using P = dcgan_plan<S::channels, S::height, S::width>;
  static_assert(P::valid_channels, "models::ImageGenerator/ImageDiscriminator: images must have 1 (grayscale) or 3 (RGB) channels");
  static_assert(P::valid_size, "models::ImageGenerator/ImageDiscriminator: image height and width must be from 8 to 128 pixels");
  static_assert(P::valid_parity, "models::ImageGenerator/ImageDiscriminator: image height and width must be even");
  // An invalid shape still names a buildable plan, so the static_asserts above are the only errors.
  using Plan = std::conditional_t<P::valid, P, dcgan_plan<1, 28, 28>>;
  static constexpr int top = Plan::channels(Plan::stages);
  using generator = typename to_sequential<
      T, Flat<Latent>,
      typename concat<layer_list<Dense<top * Plan::base_h * Plan::base_w>, BatchNorm<>, LeakyReLU<>, Reshape<Shape<top, Plan::base_h, Plan::base_w>>>,
                      typename concat<typename generator_stages<Plan, Plan::stages>::type,
                                      layer_list<ConvTranspose2D<(P::valid ? S::channels : 1), Plan::out_kernel, Stride<1>, Same>, Tanh>>::type>::type>::type;
  using discriminator =
      typename to_sequential<T, std::conditional_t<P::valid, S, Shape<1, 28, 28>>,
                             typename concat<typename discriminator_stages<Plan, Plan::stages>::type, layer_list<Flatten, Dense<1>>>::type>::type;
};

}  // namespace detail

/// The DCGAN family's generator for images of shape S = Shape<C, H, W> (C = 1 or 3; H and W
/// even, from 8 to 128): Latent-d noise -> Dense -> C' x H/2^n x W/2^n, then n stride-2
/// transposed convolutions (4 x 4, BatchNorm, LeakyReLU), each doubling the size, and a last
/// stride-1 one to C channels with tanh. n halves the image while both sides stay even and
/// at least 4 (8: 1, 16 and 28: 2, 32: 3, 64: 4, 128: 5); channels run 64, 128, 256, 256, ...
/// from the image side. At 28 x 28 this is DcganGeneratorBN.
template <class T, class S, int Latent = 100>
using ImageGenerator = typename detail::image_dcgan<T, S, Latent>::generator;

/// The DCGAN family's discriminator for images of shape S: n stride-2 convolutions (5 x 5
/// from 28 pixels up, 3 x 3 below; 64, 128, 256, ... channels; LeakyReLU), then one logit.
/// At 28 x 28 this is DcganDiscriminator.
template <class T, class S>
using ImageDiscriminator = typename detail::image_dcgan<T, S, 100>::discriminator;

namespace detail {
template <class T, class S>
struct gan_for {
  using type = Gan<ImageGenerator<T, S>, ImageDiscriminator<T, S>>;
};
template <class T, int N>
struct gan_for<T, Flat<N>> {
  using type = Gan<MlpGenerator<T, N>, MlpDiscriminator<T, N>>;
};

}  // namespace detail

/// The GAN for data of shape S: the MLP GAN for Flat<N> (tables), the DCGAN family for
/// images. models::GanFor<float, Shape<3, 64, 64>> gan;
template <class T, class S>
using GanFor = typename detail::gan_for<T, S>::type;

}  // namespace ganad::models
