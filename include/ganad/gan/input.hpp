/// Scoring input: one sample per row, as an Eigen row-major matrix, a batch view or a flat
/// span. Every row is checked (column count, NaN, infinity) and scored in chunks of a bounded
/// size, so memory stays flat whatever the number of rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include <Eigen/Core>

#include "ganad/core/error.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"
#include "ganad/kernels/eltwise.hpp"

namespace ganad {

/// Row-major matrix, one sample per row (C*H*W columns): the type users hand data in with.
template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using RowsRef = Eigen::Ref<const RowMatrix<T>>;
template <class T>
using ScoreVector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Samples per chunk when scoring: large enough for efficient GEMMs, small enough that a
/// million rows need no more memory than 256.
inline constexpr int scoring_chunk = 256;

namespace detail {

/// Rows of samples of shape S somewhere in memory (row r starts at data + r * stride).
template <class T, class S>
struct RowSource {
  const T* data = nullptr;
  int rows = 0;
  std::ptrdiff_t stride = S::size;
};

template <class T, class S>
RowSource<T, S> rows_of(ConstBatchView<T, S> x) {
  return {x.data, x.batch, std::ptrdiff_t(S::size)};
}
template <class T, class S>
RowSource<T, S> rows_of(const RowsRef<T>& x, const char* who) {
  if (x.cols() != Eigen::Index(S::size))
    throw ShapeError(std::string(who) + ": each row must hold one sample of shape " + shape_string<S>() + ", " +
                     std::to_string(S::size) + " values; got " + std::to_string(x.cols()) + " columns");
  return {x.data(), int(x.rows()), std::ptrdiff_t(x.outerStride())};
}
template <class T, class S>
RowSource<T, S> rows_of(std::span<const T> x, const char* who) {
  if (x.size() % S::size != 0)
    throw ShapeError(std::string(who) + ": " + std::to_string(x.size()) + " values are not a whole number of samples of shape " +
                     shape_string<S>() + " (" + std::to_string(S::size) + " values each)");
  return {x.data(), int(x.size() / S::size), std::ptrdiff_t(S::size)};
}

/// Copies rows into `staging` chunk by chunk, rejecting NaN and infinity with the row and
/// column, and calls f(chunk view, first row).
template <class T, class S, class F>
void scan_in_chunks(const RowSource<T, S>& src, Batch<T, S>& staging, const char* who, F&& f) {
  if (src.rows == 0) throw ValueError(std::string(who) + ": empty input (no rows)");
  staging.resize(std::min(src.rows, scoring_chunk));
  for (int r0 = 0; r0 < src.rows; r0 += scoring_chunk) {
    const int n = std::min(scoring_chunk, src.rows - r0);
    for (int i = 0; i < n; ++i) {
      const T* row = src.data + std::ptrdiff_t(r0 + i) * src.stride;
      for (std::size_t c = 0; c < S::size; ++c)
        if (!std::isfinite(row[c]))
          throw ValueError(std::string(who) + ": row " + std::to_string(r0 + i) + ", column " + std::to_string(c) +
                           " is " + (std::isnan(row[c]) ? "NaN" : "infinite") + "; inputs must be finite");
      kernels::copy(S::size, row, staging.data() + std::size_t(i) * S::size);
    }
    f(ConstBatchView<T, S>{staging.data(), n}, r0);
  }
}

}  // namespace detail
}  // namespace ganad
