/// NumPy .npy arrays in: float32, float64 or uint8, either byte order, C or Fortran order
/// (Fortran order is read correctly, never misread as C order). A 2-D array is a table of
/// rows; a 3-D (N, H, W) or 4-D (N, H, W, C) / (N, C, H, W) array with C = 1 or 3 is images.
/// Sizes are checked against the file before anything is allocated.
#pragma once

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "ganad/io/dataset.hpp"

namespace ganad::io {

/// An array as the file holds it, converted to float in C (row-major) order.
struct NpyArray {
  std::vector<std::size_t> shape;
  std::vector<float> data;
  std::string dtype;  ///< as the header spells it, e.g. "<f4"
};

/// The most dimensions parse_npy reads.
inline constexpr std::size_t max_npy_dims = 8;

namespace detail {

/// The value of `key` in the header's dict literal ("{'descr': '<f4', ...}"), as text.
inline std::string npy_field(std::string_view h, std::string_view key, const std::string& name) {
  const std::string k1 = "'" + std::string(key) + "'", k2 = "\"" + std::string(key) + "\"";
  std::size_t p = h.find(k1);
  if (p == std::string_view::npos) p = h.find(k2);
  if (p == std::string_view::npos) throw FormatError(name + ": the .npy header has no '" + std::string(key) + "' entry");
  p = h.find(':', p + k1.size());
  if (p == std::string_view::npos) throw FormatError(name + ": the .npy header's '" + std::string(key) + "' entry has no value");
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  if (p >= h.size()) throw FormatError(name + ": the .npy header ends inside '" + std::string(key) + "'");
  if (h[p] == '(') {
    const std::size_t e = h.find(')', p);
    if (e == std::string_view::npos) throw FormatError(name + ": the .npy header's shape is not closed");
    return std::string(h.substr(p, e - p + 1));
  }
  if (h[p] == '\'' || h[p] == '"') {
    const std::size_t e = h.find(h[p], p + 1);
    if (e == std::string_view::npos) throw FormatError(name + ": the .npy header's '" + std::string(key) + "' string is not closed");
    return std::string(h.substr(p + 1, e - p - 1));
  }
  std::size_t e = p;
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  std::string v(h.substr(p, e - p));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

inline std::vector<std::size_t> npy_shape(const std::string& s, const std::string& name) {
  std::vector<std::size_t> shape;
  std::size_t i = 1;  // past '('
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size() || s[i] == ')') break;
    std::size_t v = 0;
    const auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
    if (ec != std::errc()) throw FormatError(name + ": cannot read the .npy shape " + s);
    shape.push_back(v);
    i = std::size_t(p - s.data());
  }
  return shape;
}

template <class T>
T npy_load(const unsigned char* p, bool swap) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (swap)
    for (std::size_t k = 0; k < sizeof(T) / 2; ++k) std::swap(b[k], b[sizeof(T) - 1 - k]);
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

}  // namespace detail

/// Parses a .npy file held in memory; `name` is for messages.
inline NpyArray parse_npy(std::string_view bytes, const std::string& name) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0)
    throw FormatError(name + ": not a .npy file (it does not start with \\x93NUMPY)");
  const int major = b[6];
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = std::size_t(b[8]) | std::size_t(b[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw FormatError(name + ": truncated .npy header");
    header_len = std::size_t(b[8]) | std::size_t(b[9]) << 8 | std::size_t(b[10]) << 16 | std::size_t(b[11]) << 24;
    offset = 12;
  } else {
    throw FormatError(name + ": .npy format version " + std::to_string(major) + " is not one of 1, 2, 3");
  }
  if (header_len > bytes.size() - offset) throw FormatError(name + ": truncated .npy header (" + std::to_string(header_len) + " bytes announced)");
  const std::string_view h = bytes.substr(offset, header_len);
  NpyArray a;
  a.dtype = detail::npy_field(h, "descr", name);
  const std::string order = detail::npy_field(h, "fortran_order", name);
  if (order != "True" && order != "False") throw FormatError(name + ": fortran_order is '" + order + "', not True or False");
  const bool fortran = order == "True";
  a.shape = detail::npy_shape(detail::npy_field(h, "shape", name), name);
  if (a.shape.size() > max_npy_dims) throw FormatError(name + ": a " + std::to_string(a.shape.size()) + "-D array; at most 8 dimensions are read");

  const std::string& d = a.dtype;
  const char endian = d.empty() ? '?' : d[0];
  const std::string kind = (endian == '<' || endian == '>' || endian == '|' || endian == '=') ? d.substr(1) : d;
  std::size_t item = 0;
  if (kind == "f4") item = 4;
  else if (kind == "f8") item = 8;
  else if (kind == "u1") item = 1;
  else
    throw FormatError(name + ": dtype '" + d + "' is not supported; ganad reads float32 ('<f4'), float64 ('<f8') and uint8 ('|u1')");
  constexpr bool little = std::endian::native == std::endian::little;
  const bool swap = item > 1 && ((endian == '>' && little) || (endian == '<' && !little));

  std::size_t count = 1;
  for (std::size_t s : a.shape) {
    if (s != 0 && count > std::numeric_limits<std::size_t>::max() / s / item) throw FormatError(name + ": the .npy shape overflows");
    count *= s;
  }
  const std::size_t data_at = offset + header_len, have = bytes.size() - data_at;
  if (have != count * item)
    throw FormatError(name + ": the shape and dtype need " + std::to_string(count * item) + " bytes of data but the file holds " +
                      std::to_string(have) + (have < count * item ? " (truncated)" : " (trailing data)"));
  a.data.resize(count);
  // Element i of the file in C order, or the transposed index in Fortran order.
  const std::size_t n = a.shape.size();
  std::array<std::size_t, max_npy_dims> idx{}, fstride{};
  fstride.fill(1);
  for (std::size_t k = 1; k < n; ++k) fstride[k] = fstride[k - 1] * a.shape[k - 1];
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t src = i;
    if (fortran && n > 1) {
      src = 0;
      for (std::size_t k = 0; k < n; ++k) src += idx[k] * fstride[k];
      for (std::size_t k = n; k-- > 0;) {  // next C-order index
        if (++idx[k] < a.shape[k]) break;
        idx[k] = 0;
      }
    }
    const unsigned char* p = b + data_at + src * item;
    a.data[i] = item == 4 ? detail::npy_load<float>(p, swap) : item == 8 ? float(detail::npy_load<double>(p, swap)) : float(*p);
  }
  return a;
}

/// A parsed array as a Dataset: 1-D -> one feature per row; 2-D -> a table; 3-D (N, H, W)
/// -> grayscale images; 4-D (N, H, W, C) or (N, C, H, W) with C = 1 or 3 -> images. uint8
/// images are scaled to [-1, 1]; float images are kept as they are (scale them to [-1, 1]).
inline Dataset to_dataset(const NpyArray& a, const std::string& name) {
  const auto& s = a.shape;
  if (s.empty() || s.size() > 4)
    throw FormatError(name + ": a " + std::to_string(s.size()) + "-D array; ganad reads 1-D to 4-D arrays (rows first)");
  if (s[0] == 0) throw FormatError(name + ": the array has no rows");
  Dataset d;
  const bool bytes = a.dtype.size() >= 2 && a.dtype.substr(a.dtype.size() - 2) == "u1";
  if (s.size() <= 2) {
    const std::size_t cols = s.size() == 2 ? s[1] : 1;
    if (cols == 0) throw FormatError(name + ": the array has no columns");
    d.x = Eigen::Map<const RowMatrix<float>>(a.data.data(), Eigen::Index(s[0]), Eigen::Index(cols));
    for (std::size_t c = 0; c < cols; ++c) d.feature_names.push_back("column " + std::to_string(c));
  } else {
    // (N, H, W) -> 1 x H x W; (N, H, W, C) channels last when C is 1 or 3, else (N, C, H, W).
    const bool last = s.size() == 4 && (s[3] == 1 || s[3] == 3);
    const std::size_t c = s.size() == 3 ? 1 : last ? s[3] : s[1];
    const std::size_t h = s.size() == 3 ? s[1] : last ? s[1] : s[2];
    const std::size_t w = s.size() == 3 ? s[2] : last ? s[2] : s[3];
    if (c != 1 && c != 3) throw FormatError(name + ": a 4-D array is images with 1 or 3 channels, first or last; its shape has neither");
    if (h == 0 || w == 0 || h > 1 << 15 || w > 1 << 15) throw FormatError(name + ": images of " + std::to_string(h) + " x " + std::to_string(w));
    d.image = {int(c), int(h), int(w)};
    d.x.resize(Eigen::Index(s[0]), Eigen::Index(c * h * w));
    for (std::size_t r = 0; r < s[0]; ++r)
      for (std::size_t ch = 0; ch < c; ++ch)
        for (std::size_t p = 0; p < h * w; ++p) {
          const float v = a.data[r * c * h * w + (last ? p * c + ch : ch * h * w + p)];
          d.x(Eigen::Index(r), Eigen::Index(ch * h * w + p)) = bytes ? v / 127.5f - 1.f : v;
        }
  }
  for (std::size_t r = 0; r < s[0]; ++r) d.ids.push_back("row " + std::to_string(r));
  for (Eigen::Index i = 0; i < d.x.size(); ++i)
    if (!std::isfinite(d.x.data()[i]))
      throw FormatError(name + ": row " + std::to_string(i / d.x.cols()) + " holds a NaN or infinity");
  return d;
}

/// Reads a .npy file into a Dataset (see to_dataset).
inline Dataset read_npy(const std::string& path) { return to_dataset(parse_npy(read_file(path), path), path); }

}  // namespace ganad::io
