/// ConvPlan: which kernel computes each of a convolution layer's three products, chosen once
/// per layer from its geometry, with every threshold named in conv_traits. All the choices
/// give the same bits; they differ only in speed (docs/kernels.md has the table and why).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <type_traits>

#include "ganad/kernels/conv_geometry.hpp"
#include "ganad/kernels/gemm_traits.hpp"

namespace ganad::kernels {

/// The thresholds behind a ConvPlan (measured on the DCGAN's layers: docs/kernels.md).
struct conv_traits {
  /// One GEMM per sample, reading and writing NCHW in place, when a sample's OH*OW is at
  /// least this many columns...
  static constexpr int per_sample_min_columns = 256;
  /// ...and pads to the GEMM's column tile by at most this share (28 x 28 = 784 pads 2%).
  static constexpr double per_sample_max_padding = 0.05;
  /// The batch-minor kernels (IndirectLower, PhasedRaise) put one sample in each of a column
  /// tile's lanes; they run when a batch fills at least this share of its passes' lanes.
  static constexpr double batch_minor_min_fill = 0.85;
  /// PhasedRaise's row tiles span image channels: it needs at least this many.
  static constexpr int phased_min_channels = 16;
  /// im2col's columns go through in chunks of samples of about this many bytes...
  static constexpr double chunk_bytes = double(2 << 20);
  /// ...and at least this many GEMM columns.
  static constexpr int chunk_min_columns = 512;
};

/// How one product is computed. The field's names first, ganad's kernel in parentheses.
enum class ConvMethod {
  im2col_gemm,             ///< im2col into a chunk's column matrix, then one GEMM (channel-major)
  im2col_gemm_per_sample,  ///< im2col, then one GEMM per sample on NCHW in place
  implicit_gemm,           ///< implicit GEMM: the GEMM packs its panels from the image (ImplicitColumns)
  indirect_convolution,    ///< indirect convolution: per-pixel tap tables, no padding products (IndirectLower)
  gemm_col2im,             ///< one GEMM into a chunk's columns, then col2im
  gemm_col2im_per_sample,  ///< one GEMM per sample, then col2im
  phase_decomposition      ///< sub-pixel / phase decomposition: each output phase sums its own taps (PhasedRaise)
};

inline const char* method_name(ConvMethod m) {
  switch (m) {
    case ConvMethod::im2col_gemm: return "im2col + GEMM";
    case ConvMethod::im2col_gemm_per_sample: return "im2col + GEMM per sample";
    case ConvMethod::implicit_gemm: return "implicit GEMM (ImplicitColumns)";
    case ConvMethod::indirect_convolution: return "indirect convolution (IndirectLower)";
    case ConvMethod::gemm_col2im: return "GEMM + col2im";
    case ConvMethod::gemm_col2im_per_sample: return "GEMM + col2im per sample";
    case ConvMethod::phase_decomposition: return "phase decomposition (PhasedRaise)";
  }
  return "?";
}

/// The three products of a convolution over one geometry (image side C x H x W, column side
/// m x OH x OW): the lowered product out = op(w) * im2col(image) (Conv2D's forward,
/// ConvTranspose2D's data gradient), the raised product image = col2im(op(w) * in)
/// (ConvTranspose2D's forward, Conv2D's data gradient), and the weight gradient
/// dw += a * im2col(image)^T. What the kernels can do is known per layer; whether the
/// batch-minor kernels run also depends on the batch.
struct ConvPlan {
  bool per_sample = false;       ///< GEMMs per sample on NCHW (large OH*OW, little tile padding)
  bool implicit_usable = false;  ///< ImplicitColumns serves this geometry (float, AVX-512, stride 2)
  bool indirect_usable = false;  ///< IndirectLower serves this geometry and m (float)
  bool phased_usable = false;    ///< PhasedRaise serves this geometry and m (float)
  int m = 0;                     ///< the column side's channels
  int k = 0;                     ///< C*K*K, the lowered product's depth

  /// Whether `batch` fills conv_traits::batch_minor_min_fill of its passes' lanes.
  static bool fills_passes(int batch) {
    constexpr int lanes = gemm_traits<float>::NR;
    const int passes = (batch + lanes - 1) / lanes;
    return batch >= conv_traits::batch_minor_min_fill * passes * lanes;
  }

  /// The lowered product. `with_weight_gradient`: the weight gradient of the same image is
  /// asked for too (ConvTranspose2D's backward), and unless IndirectLower takes the product,
  /// one im2col then feeds both GEMMs.
  [[nodiscard]] ConvMethod lowered(int batch, bool with_weight_gradient = false) const {
    if (indirect_usable && fills_passes(batch)) return ConvMethod::indirect_convolution;
    return lowered_gemm(with_weight_gradient);
  }
  /// The lowered product by GEMM (where IndirectLower does not take it).
  [[nodiscard]] ConvMethod lowered_gemm(bool with_weight_gradient) const {
    if (per_sample) return ConvMethod::im2col_gemm_per_sample;
    return implicit_usable && !with_weight_gradient && m > 1 ? ConvMethod::implicit_gemm : ConvMethod::im2col_gemm;
  }
  /// The raised product (with op(w) = w^T, as both layers call it).
  [[nodiscard]] ConvMethod raised(int batch) const {
    if (phased_usable && fills_passes(batch)) return ConvMethod::phase_decomposition;
    return per_sample ? ConvMethod::gemm_col2im_per_sample : ConvMethod::gemm_col2im;
  }
  /// The weight gradient with m_dw rows; `shares_columns`: im2col's columns also feed the
  /// lowered product (ConvTranspose2D's backward when IndirectLower does not run).
  [[nodiscard]] ConvMethod weight_gradient(int m_dw, bool shares_columns) const {
    if (per_sample) return ConvMethod::im2col_gemm_per_sample;
    return implicit_usable && !shares_columns && k > 1 && m_dw > 1 ? ConvMethod::implicit_gemm : ConvMethod::im2col_gemm;
  }

  /// Samples per im2col chunk for a batch (depends only on the shapes, never on the threads).
  template <class T>
  static int chunk(const ConvGeometry& g, int batch) {
    const double sample_bytes = double(g.col_rows()) * g.out_size() * sizeof(T);
    const int by_columns = (conv_traits::chunk_min_columns + g.out_size() - 1) / g.out_size();
    const int by_bytes = int(conv_traits::chunk_bytes / sample_bytes);
    return std::clamp(std::max(by_columns, by_bytes), 1, std::max(batch, 1));
  }
};

/// per_sample for a geometry: one GEMM per sample when OH*OW is large and pads little.
template <class T>
bool per_sample_gemms(const ConvGeometry& g) {
  constexpr int nr = gemm_traits<T>::NR;
  const int ohw = g.out_size(), padded = (ohw + nr - 1) / nr * nr;
  return ohw >= conv_traits::per_sample_min_columns && double(padded - ohw) <= conv_traits::per_sample_max_padding * ohw;
}

/// A layer's plan in words, for summary(): its forward, data gradient and weight gradient at
/// batch `batch`. `lowered_forward`: Conv2D (forward = lowered product) or ConvTranspose2D.
inline std::string describe_plan(const ConvPlan& p, bool lowered_forward, int batch) {
  // ConvTranspose2D's backward computes its data gradient (lowered) and weight gradient
  // together: they share im2col's columns unless IndirectLower takes the data gradient.
  const ConvMethod data_grad = lowered_forward ? p.raised(batch) : p.lowered(batch, true);
  const bool shared = !lowered_forward && data_grad != ConvMethod::indirect_convolution;
  return std::string("forward ") + method_name(lowered_forward ? p.lowered(batch) : p.raised(batch)) + "; data gradient " +
         method_name(data_grad) + "; weight gradient " + method_name(p.weight_gradient(p.m, shared));
}

}  // namespace ganad::kernels
