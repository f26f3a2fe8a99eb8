/// The one way data comes in and scores go out. Samples<T> is scikit-learn's X: n samples,
/// one per row, from an Eigen matrix of either storage order, a batch view or a flat span;
/// ScoreVector<T> holds one score per row. Rows are checked (size, NaN, infinity) and
/// processed in chunks of bounded size, so memory stays flat whatever the number of rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "ganad/core/error.hpp"
#include "ganad/core/shape.hpp"
#include "ganad/core/tensor.hpp"

namespace ganad {

/// Row-major matrix, one sample per row (C*H*W columns).
template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// One score per sample, in input order (higher = more anomalous).
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
  [[nodiscard]] const T* row(int r) const { return data + std::ptrdiff_t(r) * stride; }
};
}  // namespace detail

/// Input data: samples one per row, as scikit-learn's X of shape (n_samples, n_features).
/// Every ganad function that takes data takes this, and converts to it implicitly from
///  - an Eigen matrix or expression: row-major ones with unit inner stride (RowMatrix, its
///    blocks such as topRows(n), Map, Ref) are viewed in place; column-major ones (Eigen's
///    default MatrixXf), other scalar types and expressions are copied into row-major order
///    first, so a layout is never misread;
///  - a BatchView or Batch of any shape (each sample one row);
///  - a span or vector of whole samples one after another (split by the model's sample size).
/// A view does not own the data it views: keep that alive while the call runs.
template <class T>
class Samples {
 public:
  template <class Derived>
  Samples(const Eigen::DenseBase<Derived>& m) {  // NOLINT: implicit by design
    constexpr bool viewable = (int(Derived::Flags) & Eigen::RowMajorBit) && (int(Derived::Flags) & Eigen::DirectAccessBit) &&
                              std::is_same_v<typename Derived::Scalar, T>;
    if constexpr (viewable) {
      if (m.derived().innerStride() == 1) {
        data_ = m.derived().data();
        rows_ = m.rows();
        cols_ = m.cols();
        stride_ = m.rows() > 1 ? m.derived().outerStride() : m.cols();
        return;
      }
    }
    auto copy = std::make_shared<RowMatrix<T>>(m.template cast<T>());
    data_ = copy->data();
    rows_ = copy->rows();
    cols_ = copy->cols();
    stride_ = copy->cols();
    owned_ = std::move(copy);
  }
  template <class U, ShapeType S>
    requires std::is_same_v<std::remove_const_t<U>, T>
  Samples(BatchView<U, S> x) : data_(x.data), rows_(x.batch), cols_(std::ptrdiff_t(S::size)), stride_(std::ptrdiff_t(S::size)) {}
  template <ShapeType S>
  Samples(const Batch<T, S>& x) : Samples(x.view()) {}
  /// Whole samples one after another; the model's sample size splits them into rows.
  Samples(std::span<const T> flat) : data_(flat.data()), flat_size_(flat.size()), flat_(true) {}
  Samples(const std::vector<T>& flat) : Samples(std::span<const T>(flat)) {}

  /// The rows as samples of shape S; ShapeError (prefixed by `who`) unless each holds one.
  template <ShapeType S>
  [[nodiscard]] detail::RowSource<T, S> as(const char* who) const {
    if (flat_) {
      if (flat_size_ % S::size != 0)
        throw ShapeError(std::string(who) + ": " + std::to_string(flat_size_) + " values are not a whole number of samples of shape " +
                         shape_string<S>() + " (" + std::to_string(S::size) + " values each)");
      return {data_, int(flat_size_ / S::size), std::ptrdiff_t(S::size)};
    }
    if (cols_ != std::ptrdiff_t(S::size))
      throw ShapeError(std::string(who) + ": each row must hold one sample of shape " + shape_string<S>() + ", " +
                       std::to_string(S::size) + " values; got " + std::to_string(cols_) + " columns");
    return {data_, int(rows_), stride_};
  }

 private:
  const T* data_ = nullptr;
  std::ptrdiff_t rows_ = 0, cols_ = 0, stride_ = 0;
  std::size_t flat_size_ = 0;
  bool flat_ = false;
  std::shared_ptr<const RowMatrix<T>> owned_;  // the row-major copy, when one was needed
};

namespace detail {

/// ValueError naming the first non-finite value of rows [r0, r0 + n), if any.
template <class T, class S>
void check_finite(const RowSource<T, S>& src, int r0, int n, const char* who) {
  for (int i = r0; i < r0 + n; ++i) {
    const T* row = src.row(i);
    for (std::size_t c = 0; c < S::size; ++c)
      if (!std::isfinite(row[c]))
        throw ValueError(std::string(who) + ": row " + std::to_string(i) + ", column " + std::to_string(c) + " is " +
                         (std::isnan(row[c]) ? "NaN" : "infinite") + "; inputs must be finite");
  }
}

/// Copies rows into `staging` chunk by chunk, rejecting NaN and infinity with the row and
/// column, and calls f(chunk view, first row).
template <class T, class S, class F>
void scan_in_chunks(const RowSource<T, S>& src, Batch<T, S>& staging, const char* who, F&& f) {
  if (src.rows == 0) throw ValueError(std::string(who) + ": empty input (no rows)");
  staging.resize(std::min(src.rows, scoring_chunk));
  for (int r0 = 0; r0 < src.rows; r0 += scoring_chunk) {
    const int n = std::min(scoring_chunk, src.rows - r0);
    check_finite(src, r0, n, who);
    for (int i = 0; i < n; ++i) std::copy_n(src.row(r0 + i), S::size, staging.data() + std::size_t(i) * S::size);
    f(ConstBatchView<T, S>{staging.data(), n}, r0);
  }
}

/// One score per row of x: score_chunk(chunk, out span) over chunks of at most scoring_chunk rows.
template <class T, class S, class F>
ScoreVector<T> score_rows(const Samples<T>& x, Batch<T, S>& staging, const char* who, F&& score_chunk) {
  const auto src = x.template as<S>(who);
  ScoreVector<T> out(src.rows);
  scan_in_chunks(src, staging, who, [&](ConstBatchView<T, S> chunk, int r0) {
    score_chunk(chunk, std::span<T>(out.data() + r0, std::size_t(chunk.batch)));
  });
  return out;
}

}  // namespace detail
}  // namespace ganad
