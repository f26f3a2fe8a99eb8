/// ganad: header-only C++20 GAN-based anomaly detection on the CPU. Include this one
/// header to get shapes, layers, Sequential and the kernels' user-facing switches.
#pragma once

#include "ganad/config.hpp"
#include "ganad/core/concepts.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/init.hpp"
#include "ganad/core/random.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/kernels/parallel.hpp"
#include "ganad/kernels/simd.hpp"
#include "ganad/layers/activations.hpp"
#include "ganad/layers/batchnorm.hpp"
#include "ganad/layers/conv2d.hpp"
#include "ganad/layers/conv_transpose2d.hpp"
#include "ganad/layers/dense.hpp"
#include "ganad/layers/reshape.hpp"
#include "ganad/models.hpp"
#include "ganad/nn/sequential.hpp"
