/// What every reader returns: a Dataset holds one sample per row of `x` (pass it wherever
/// Samples is taken), with each row's label and origin, and the image geometry when the rows
/// are images. The readers (csv.hpp, npy.hpp, idx.hpp, images.hpp) each build one.
#pragma once

#include "ganad/kernels/simd.hpp"  // first: it includes <immintrin.h> with g++ 12's false warnings silenced

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "ganad/core/error.hpp"
#include "ganad/core/samples.hpp"

namespace ganad::io {

/// Channels x height x width of image rows (NCHW: channel planes one after another);
/// all zero for tables.
struct ImageGeometry {
  int channels = 0, height = 0, width = 0;
  [[nodiscard]] bool is_image() const { return channels > 0; }
  [[nodiscard]] std::size_t size() const { return std::size_t(channels) * std::size_t(height) * std::size_t(width); }
  friend bool operator==(const ImageGeometry&, const ImageGeometry&) = default;
};

/// Samples read from a file or folder. Image pixels are in [-1, 1] (the DCGAN generator's
/// tanh range: 0 -> -1, 255 -> 1); table values are as the file has them.
struct Dataset {
  RowMatrix<float> x;                    ///< one sample per row
  std::vector<std::string> labels;       ///< one per row, or empty when the data has none
  std::vector<std::string> ids;          ///< where each row came from: a file name, "row 12"
  std::vector<std::string> feature_names;  ///< a table's column names (empty for images)
  ImageGeometry image;                   ///< the rows' image shape, or zeros for a table

  [[nodiscard]] int rows() const { return int(x.rows()); }
  [[nodiscard]] int features() const { return int(x.cols()); }
  [[nodiscard]] bool has_labels() const { return !labels.empty(); }

  /// The rows at `index` (in that order), with their labels and ids.
  [[nodiscard]] Dataset subset(const std::vector<int>& index) const {
    Dataset d;
    d.x.resize(Eigen::Index(index.size()), x.cols());
    for (std::size_t k = 0; k < index.size(); ++k) {
      if (index[k] < 0 || index[k] >= rows()) throw ValueError("Dataset::subset: row " + std::to_string(index[k]) + " of " + std::to_string(rows()));
      d.x.row(Eigen::Index(k)) = x.row(index[k]);
      if (has_labels()) d.labels.push_back(labels[std::size_t(index[k])]);
      if (!ids.empty()) d.ids.push_back(ids[std::size_t(index[k])]);
    }
    d.feature_names = feature_names;
    d.image = image;
    return d;
  }

  /// The distinct labels, sorted.
  [[nodiscard]] std::vector<std::string> classes() const {
    const std::set<std::string> s(labels.begin(), labels.end());
    return {s.begin(), s.end()};
  }
};

/// A whole file's bytes; IoError naming the file when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw IoError(path + ": read error");
  return s;
}

namespace detail {
/// "name:line: column N: " for messages about a field of a text file (N 1-based).
inline std::string place(const std::string& name, std::size_t line, std::size_t column) {
  return name + ":" + std::to_string(line) + ": column " + std::to_string(column) + ": ";
}
}  // namespace detail

}  // namespace ganad::io
