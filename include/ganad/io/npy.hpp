/// NumPy .npy arrays in: float32, float64 or uint8, either byte order, C or Fortran order
/// (Fortran order is read correctly, never misread as C order). A 2-D array is a table of
/// rows; a 3-D (N, H, W) or 4-D (N, H, W, C) / (N, C, H, W) array with C = 1 or 3 is images.
/// Sizes are checked against the file before anything is allocated. MappedNpy views a
/// float32 file in place (memory-mapped) for data larger than memory.
#pragma once

#include <array>
#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

namespace detail {
/// What a .npy header says, checked against the bytes that follow it.
struct NpyHeader {
  std::string dtype;
  std::vector<std::size_t> shape;
  bool fortran = false;
  bool swap = false;       // the file's byte order is not this machine's
  std::size_t item = 0;    // bytes per element
  std::size_t count = 0;   // elements
  std::size_t data_at = 0; // offset of the first element
};

inline NpyHeader parse_npy_header(std::string_view bytes, const std::string& name) {
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
  NpyHeader a;
  a.dtype = npy_field(h, "descr", name);
  const std::string order = npy_field(h, "fortran_order", name);
  if (order != "True" && order != "False") throw FormatError(name + ": fortran_order is '" + order + "', not True or False");
  a.fortran = order == "True";
  a.shape = npy_shape(npy_field(h, "shape", name), name);
  if (a.shape.size() > max_npy_dims) throw FormatError(name + ": a " + std::to_string(a.shape.size()) + "-D array; at most 8 dimensions are read");

  const std::string& d = a.dtype;
  const char endian = d.empty() ? '?' : d[0];
  const std::string kind = (endian == '<' || endian == '>' || endian == '|' || endian == '=') ? d.substr(1) : d;
  if (kind == "f4") a.item = 4;
  else if (kind == "f8") a.item = 8;
  else if (kind == "u1") a.item = 1;
  else
    throw FormatError(name + ": dtype '" + d + "' is not supported; ganad reads float32 ('<f4'), float64 ('<f8') and uint8 ('|u1')");
  constexpr bool little = std::endian::native == std::endian::little;
  a.swap = a.item > 1 && ((endian == '>' && little) || (endian == '<' && !little));

  a.count = 1;
  for (std::size_t s : a.shape) {
    if (s != 0 && a.count > std::numeric_limits<std::size_t>::max() / s / a.item) throw FormatError(name + ": the .npy shape overflows");
    a.count *= s;
  }
  a.data_at = offset + header_len;
  const std::size_t have = bytes.size() - a.data_at;
  if (have != a.count * a.item)
    throw FormatError(name + ": the shape and dtype need " + std::to_string(a.count * a.item) + " bytes of data but the file holds " +
                      std::to_string(have) + (have < a.count * a.item ? " (truncated)" : " (trailing data)"));
  return a;
}
}  // namespace detail

/// Parses a .npy file held in memory; `name` is for messages.
inline NpyArray parse_npy(std::string_view bytes, const std::string& name) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto header = detail::parse_npy_header(bytes, name);
  NpyArray a;
  a.dtype = header.dtype;
  a.shape = header.shape;
  const bool fortran = header.fortran, swap = header.swap;
  const std::size_t item = header.item, count = header.count, data_at = header.data_at;
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

/// A .npy file of little-endian float32 in C order, memory-mapped and viewed in place: rows are
/// read from the file as they are used, so data larger than memory can be scored and trained
/// on. Scoring through for_each_chunk() keeps resident memory flat (each chunk's pages are
/// released after use); training on samples() reads rows at random, and the pages it touched
/// stay as page cache the kernel reclaims under memory pressure. Other dtypes and Fortran
/// order are refused (read_npy() converts them in memory). Move-only; the views it hands out
/// are valid while it lives.
class MappedNpy {
 public:
  explicit MappedNpy(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IoError(path + ": not a regular file");
    }
    size_ = std::size_t(st.st_size);
    void* m = size_ ? ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    const int err = errno;
    ::close(fd);  // the mapping keeps the file
    if (m == MAP_FAILED) throw IoError(path + ": cannot map: " + (size_ ? std::strerror(err) : "the file is empty"));
    map_ = static_cast<const unsigned char*>(m);
    try {
      const auto h = detail::parse_npy_header(std::string_view(reinterpret_cast<const char*>(map_), size_), path);
      if (h.item != 4 || h.dtype.substr(1) != "f4" || h.swap || (h.fortran && h.shape.size() > 1))
        throw FormatError(path + ": MappedNpy views little-endian float32 in C order, and this array is '" + h.dtype + "'" +
                          (h.fortran ? " in Fortran order" : "") + "; convert it (numpy.ascontiguousarray(a, dtype='<f4')) or read it with read_npy");
      if (h.data_at % alignof(float) != 0) throw FormatError(path + ": the data does not start on a 4-byte boundary");
      if (h.shape.empty()) throw FormatError(path + ": a 0-D array has no rows");
      shape_ = h.shape;
      rows_ = std::int64_t(shape_[0]);
      row_size_ = 1;
      for (std::size_t k = 1; k < shape_.size(); ++k) row_size_ *= std::int64_t(shape_[k]);
      if (shape_.size() == 4 && shape_[3] == 3 && shape_[1] != 3)
        throw FormatError(path + ": images in (N, H, W, 3) order; MappedNpy views (N, 3, H, W) in place (read_npy converts the other)");
      data_ = reinterpret_cast<const float*>(map_ + h.data_at);
      ::madvise(const_cast<unsigned char*>(map_), size_, MADV_SEQUENTIAL);
    } catch (...) {
      ::munmap(const_cast<unsigned char*>(map_), size_);
      throw;
    }
  }
  MappedNpy(MappedNpy&& o) noexcept { swap(o); }
  MappedNpy& operator=(MappedNpy&& o) noexcept {
    MappedNpy(std::move(o)).swap(*this);
    return *this;
  }
  MappedNpy(const MappedNpy&) = delete;
  MappedNpy& operator=(const MappedNpy&) = delete;
  ~MappedNpy() {
    if (map_) ::munmap(const_cast<unsigned char*>(map_), size_);
  }

  [[nodiscard]] const std::vector<std::size_t>& shape() const { return shape_; }
  [[nodiscard]] std::int64_t rows() const { return rows_; }
  /// Floats per row: the product of the shape after its first dimension.
  [[nodiscard]] std::int64_t row_size() const { return row_size_; }
  /// All rows, viewed in place.
  [[nodiscard]] Samples<float> samples() const { return rows(0, rows_); }
  /// Rows [first, first + count), viewed in place.
  [[nodiscard]] Samples<float> rows(std::int64_t first, std::int64_t count) const {
    check_range(first, count);
    return Samples<float>(std::span<const float>(data_ + first * row_size_, std::size_t(count * row_size_)));
  }
  /// Gives rows [first, first + count) back to the kernel: they leave this process's resident
  /// memory and are read from the file again if used.
  void release(std::int64_t first, std::int64_t count) const {
    check_range(first, count);
    const auto page = std::uintptr_t(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(data_ + first * row_size_);
    const auto end = reinterpret_cast<std::uintptr_t>(data_ + (first + count) * row_size_);
    const std::uintptr_t lo = (begin + page - 1) / page * page, hi = end / page * page;  // whole pages inside the rows
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  /// f(samples, first_row) for consecutive chunks of at most chunk_rows rows, each released
  /// after f returns: a pass over a file of any size in flat resident memory.
  template <class F>
  void for_each_chunk(std::int64_t chunk_rows, F&& f) const {
    if (chunk_rows < 1) throw ValueError("MappedNpy::for_each_chunk: chunk_rows must be at least 1");
    for (std::int64_t r0 = 0; r0 < rows_; r0 += chunk_rows) {
      const std::int64_t n = std::min(chunk_rows, rows_ - r0);
      f(rows(r0, n), r0);
      release(r0, n);
    }
  }

 private:
  void check_range(std::int64_t first, std::int64_t count) const {
    if (first < 0 || count < 0 || first > rows_ || count > rows_ - first)
      throw ValueError(path_ + ": rows [" + std::to_string(first) + ", " + std::to_string(first + count) + ") are outside its " +
                       std::to_string(rows_) + " rows");
  }
  void swap(MappedNpy& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(map_, o.map_);
    std::swap(size_, o.size_);
    std::swap(data_, o.data_);
    std::swap(shape_, o.shape_);
    std::swap(rows_, o.rows_);
    std::swap(row_size_, o.row_size_);
  }

  std::string path_;
  const unsigned char* map_ = nullptr;
  std::size_t size_ = 0;
  const float* data_ = nullptr;
  std::vector<std::size_t> shape_;
  std::int64_t rows_ = 0, row_size_ = 0;
};

}  // namespace ganad::io
