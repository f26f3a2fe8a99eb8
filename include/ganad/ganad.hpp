/// ganad: header-only C++20 GAN-based anomaly detection on the CPU. Include this one header
/// for everything: shapes and data (core), layers and networks, the GAN, the scorers, the
/// detector and its metrics, and model files. docs/architecture.md maps the folders.
#pragma once

#include "ganad/config.hpp"
// First: it silences GCC 12's false warnings inside the AVX-512 intrinsics, which must be
// included before Eigen includes them (kernels/simd.hpp says why).
#include "ganad/kernels/simd.hpp"
#include "ganad/core/bytes.hpp"
#include "ganad/core/concepts.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/core/random.hpp"
#include "ganad/core/samples.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/layers/activations.hpp"
#include "ganad/layers/batchnorm.hpp"
#include "ganad/layers/conv2d.hpp"
#include "ganad/layers/conv_transpose2d.hpp"
#include "ganad/layers/dense.hpp"
#include "ganad/layers/reshape.hpp"
#include "ganad/nn/loss.hpp"
#include "ganad/nn/optim.hpp"
#include "ganad/nn/sequential.hpp"
#include "ganad/models.hpp"
#include "ganad/gan/discriminator.hpp"
#include "ganad/gan/gan.hpp"
#include "ganad/detect/metrics.hpp"
#include "ganad/detect/scorer.hpp"
#include "ganad/detect/score/discriminator.hpp"
#include "ganad/detect/score/feature_matching.hpp"
#include "ganad/detect/score/nearest_neighbours.hpp"
#include "ganad/detect/score/reconstruction.hpp"
#include "ganad/detect/score/weighted.hpp"
#include "ganad/detect/detector.hpp"
#include "ganad/io/model_file.hpp"
