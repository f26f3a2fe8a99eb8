/// MNIST-format IDX files in (and out): grayscale images of any size with byte labels, plain
/// or gzip-compressed (told by the gzip magic, not the file name). Errors name the file and
/// what is wrong; memory is bounded by the data present, never by a count in the header.
/// Needs zlib (link ZLIB::ZLIB); ganad.hpp does not include it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <zlib.h>

#include "ganad/io/dataset.hpp"

namespace ganad::io::idx {

struct Images {
  int count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count x rows x cols, row-major
};

inline constexpr std::uint32_t images_magic = 0x00000803;  // unsigned byte, 3 dimensions
inline constexpr std::uint32_t labels_magic = 0x00000801;  // unsigned byte, 1 dimension
inline constexpr std::size_t max_decompressed = std::size_t(1) << 31;  // 2 GiB: refuse bombs

/// gunzip of a whole buffer; FormatError on corrupt or truncated data.
inline std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& in, const std::string& name) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw ganad::FormatError(name + ": zlib initialisation failed");
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = uInt(in.size());
  std::vector<std::uint8_t> out, chunk(std::size_t(1) << 16);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= max_decompressed) {
      inflateEnd(&zs);
      throw ganad::FormatError(name + ": decompresses to more than 2 GiB; not an IDX file");
    }
    zs.next_out = chunk.data();
    zs.avail_out = uInt(chunk.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) {
      inflateEnd(&zs);
      throw ganad::FormatError(name + ": corrupt or truncated gzip data" + (zs.msg ? std::string(" (") + zs.msg + ")" : ""));
    }
  }
  inflateEnd(&zs);
  return out;
}

/// The file's bytes, decompressed if it starts with the gzip magic.
inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ganad::IoError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw ganad::IoError(path + ": read error");
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return gunzip(bytes, path);
  return bytes;
}

inline std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

/// Parses an IDX image file held in memory (already decompressed). `name` is for messages.
inline Images parse_images(const std::vector<std::uint8_t>& b, const std::string& name) {
  if (b.size() < 4) throw ganad::FormatError(name + ": too short for an IDX image header (" + std::to_string(b.size()) + " bytes)");
  const std::uint32_t magic = be32(b.data());
  if (magic != images_magic) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ": bad magic 0x%08x; an IDX image file starts with 0x%08x", magic, images_magic);
    throw ganad::FormatError(name + buf + (magic == labels_magic ? " (this looks like a label file)" : ""));
  }
  if (b.size() < 16) throw ganad::FormatError(name + ": too short for an IDX image header (" + std::to_string(b.size()) + " bytes)");
  const std::uint32_t count = be32(b.data() + 4), rows = be32(b.data() + 8), cols = be32(b.data() + 12);
  if (rows == 0 || cols == 0 || rows > 1 << 15 || cols > 1 << 15)
    throw ganad::FormatError(name + ": images of " + std::to_string(rows) + "x" + std::to_string(cols) + " pixels");
  const std::uint64_t need = std::uint64_t(count) * rows * cols;
  const std::uint64_t have = b.size() - 16;
  if (have != need)
    throw ganad::FormatError(name + ": header says " + std::to_string(count) + " images (" + std::to_string(need) +
                             " bytes of pixels) but the file holds " + std::to_string(have) +
                             (have < need ? " (truncated)" : " (trailing data)"));
  Images im;
  im.count = int(count);
  im.rows = int(rows);
  im.cols = int(cols);
  im.pixels.assign(b.begin() + 16, b.end());
  return im;
}

/// Parses an IDX label file held in memory.
inline std::vector<std::uint8_t> parse_labels(const std::vector<std::uint8_t>& b, const std::string& name) {
  if (b.size() < 4) throw ganad::FormatError(name + ": too short for an IDX label header (" + std::to_string(b.size()) + " bytes)");
  const std::uint32_t magic = be32(b.data());
  if (magic != labels_magic) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ": bad magic 0x%08x; an IDX label file starts with 0x%08x", magic, labels_magic);
    throw ganad::FormatError(name + buf + (magic == images_magic ? " (this looks like an image file)" : ""));
  }
  if (b.size() < 8) throw ganad::FormatError(name + ": too short for an IDX label header (" + std::to_string(b.size()) + " bytes)");
  const std::uint32_t count = be32(b.data() + 4);
  const std::uint64_t have = b.size() - 8;
  if (have != count)
    throw ganad::FormatError(name + ": header says " + std::to_string(count) + " labels but the file holds " +
                             std::to_string(have) + (have < count ? " (truncated)" : " (trailing data)"));
  return {b.begin() + 8, b.end()};
}

inline Images read_images(const std::string& path) { return parse_images(read_bytes(path), path); }
inline std::vector<std::uint8_t> read_labels(const std::string& path) { return parse_labels(read_bytes(path), path); }

/// Images and labels of one split, checked against each other.
struct Dataset {
  Images images;
  std::vector<std::uint8_t> labels;
};
inline Dataset read_dataset(const std::string& images_path, const std::string& labels_path) {
  Dataset d{read_images(images_path), read_labels(labels_path)};
  if (std::size_t(d.images.count) != d.labels.size())
    throw ganad::FormatError(images_path + " holds " + std::to_string(d.images.count) + " images but " + labels_path +
                             " holds " + std::to_string(d.labels.size()) + " labels");
  return d;
}

/// Images (and their labels, when `labels` is not empty) as a Dataset, pixels in [-1, 1].
inline io::Dataset to_dataset(const Images& im, const std::vector<std::uint8_t>& labels = {}) {
  io::Dataset d;
  const Eigen::Index p = Eigen::Index(im.rows) * im.cols;
  d.x.resize(im.count, p);
  for (Eigen::Index i = 0; i < d.x.size(); ++i) d.x.data()[i] = float(im.pixels[std::size_t(i)]) / 127.5f - 1.f;
  d.image = {1, im.rows, im.cols};
  for (int r = 0; r < im.count; ++r) d.ids.push_back("image " + std::to_string(r));
  for (std::uint8_t l : labels) d.labels.push_back(std::to_string(l));
  return d;
}

/// An IDX image file and, optionally, its label file, as a Dataset.
inline io::Dataset read_idx(const std::string& images_path, const std::string& labels_path = "") {
  if (labels_path.empty()) return to_dataset(read_images(images_path));
  const auto d = read_dataset(images_path, labels_path);
  return to_dataset(d.images, d.labels);
}

/// Writers, for tests and for making small datasets (gzip when `gz`).
inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    if (!f) throw ganad::IoError(path + ": cannot create");
    const bool ok = gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size());
    if (gzclose(f) != Z_OK || !ok) throw ganad::IoError(path + ": write failed");
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) throw ganad::IoError(path + ": write failed");
}
inline void put_be32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(v >> s));
}
inline void write_images(const std::string& path, const Images& im, bool gz = false) {
  std::vector<std::uint8_t> b;
  put_be32(b, images_magic);
  put_be32(b, std::uint32_t(im.count));
  put_be32(b, std::uint32_t(im.rows));
  put_be32(b, std::uint32_t(im.cols));
  b.insert(b.end(), im.pixels.begin(), im.pixels.end());
  write_bytes(path, b, gz);
}
inline void write_labels(const std::string& path, const std::vector<std::uint8_t>& labels, bool gz = false) {
  std::vector<std::uint8_t> b;
  put_be32(b, labels_magic);
  put_be32(b, std::uint32_t(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  write_bytes(path, b, gz);
}

}  // namespace ganad::io::idx
