/// Image files in: PNG, JPEG, BMP and PGM/PPM through stb_image (Debian's libstb-dev), any
/// size, resized to the size asked for (area filter when shrinking, bilinear when growing),
/// grayscale or RGB as asked; a folder's subfolder names become labels. Files decode in
/// parallel. stb is header-only: define GANAD_STB_IMPLEMENTATION in exactly one source file
/// before including this header (or compile stb_image and stb_image_resize yourself).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "ganad/io/dataset.hpp"  // first: ganad before other headers that include <immintrin.h>
#include "ganad/kernels/parallel.hpp"

#if defined(GANAD_STB_IMPLEMENTATION)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#endif
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

namespace ganad::io {

struct ImageOptions {
  /// Every image is resized to height x width; 0 x 0 keeps the size of the images, which
  /// must then all be the same.
  int height = 0, width = 0;
  /// 1: grayscale, 3: RGB (grayscale files are repeated to three channels); 0: RGB if any
  /// file of the set has colour, else grayscale.
  int channels = 0;
};

/// Largest image accepted, in pixels (a corrupt header cannot make the reader allocate more).
inline constexpr long long max_image_pixels = 1LL << 26;
/// File name extensions read as images (lower case).
inline constexpr std::string_view image_extensions[] = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pnm"};

namespace detail {

inline bool is_image_file(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return std::find(std::begin(image_extensions), std::end(image_extensions), ext) != std::end(image_extensions);
}

/// stb_image 2.27 reads a PGM/PPM header's numbers into an int without an overflow check
/// (undefined behaviour on a 10-digit width, found by the fuzzer). Refuses such headers
/// first: "" or the reason. Looks at the first three numbers after "P5"/"P6", as stb does.
inline std::string pnm_header_problem(const unsigned char* b, std::size_t n) {
  if (n < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return {};
  std::size_t i = 2;
  for (int field = 0; field < 3; ++field) {
    while (i < n && (std::isspace(b[i]) || b[i] == '#')) {
      if (b[i] == '#')
        while (i < n && b[i] != '\n' && b[i] != '\r') ++i;
      else
        ++i;
    }
    std::size_t digits = 0;
    while (i < n && b[i] >= '0' && b[i] <= '9') ++i, ++digits;
    if (digits >= 10) return "a PGM/PPM header number with " + std::to_string(digits) + " digits";
    if (digits == 0) break;
  }
  return {};
}

/// pnm_header_problem for a file: reads its first 4 KiB when it starts with 'P'.
inline std::string pnm_file_problem(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  unsigned char head[4096];
  const std::size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return pnm_header_problem(head, n);
}

/// Checks a header's size, then decodes to `channels` (1 or 3) interleaved 8-bit samples and
/// resizes to height x width (unless 0), writing C x H x W floats in [-1, 1] to `out`.
/// Returns "" or the reason it failed. Thread-safe (stb's failure reason is thread-local).
inline std::string decode_into(const unsigned char* bytes, std::size_t size, int channels, int height, int width, float* out,
                               std::vector<unsigned char>& scratch) {
  int w = 0, h = 0, comp = 0;
  if (size > std::size_t(1) << 31) return "larger than 2 GiB";
  if (auto p = pnm_header_problem(bytes, size); !p.empty()) return p;
  if (!stbi_info_from_memory(bytes, int(size), &w, &h, &comp)) return std::string("not a PNG, JPEG, BMP or PGM/PPM image (") + stbi_failure_reason() + ")";
  if (w <= 0 || h <= 0 || (long long)w * h > max_image_pixels)
    return "image of " + std::to_string(w) + " x " + std::to_string(h) + " pixels exceeds the limit of " + std::to_string(max_image_pixels);
  int dw = 0, dh = 0, dc = 0;
  unsigned char* px = stbi_load_from_memory(bytes, int(size), &dw, &dh, &dc, channels);
  if (!px) return std::string("cannot decode (") + stbi_failure_reason() + ")";
  if (dw != w || dh != h) {
    stbi_image_free(px);
    return "the header and the decoded image disagree on the size";
  }
  const int oh = height ? height : h, ow = width ? width : w;
  const unsigned char* src = px;
  if (oh != h || ow != w) {
    scratch.resize(std::size_t(oh) * std::size_t(ow) * std::size_t(channels));
    const stbir_filter filter = (oh < h || ow < w) ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
    const int ok = stbir_resize_uint8_generic(px, w, h, 0, scratch.data(), ow, oh, 0, channels, STBIR_ALPHA_CHANNEL_NONE, 0,
                                              STBIR_EDGE_CLAMP, filter, STBIR_COLORSPACE_LINEAR, nullptr);
    if (!ok) {
      stbi_image_free(px);
      return "cannot resize";
    }
    src = scratch.data();
  }
  const std::size_t plane = std::size_t(oh) * std::size_t(ow);
  for (int c = 0; c < channels; ++c)
    for (std::size_t p = 0; p < plane; ++p) out[std::size_t(c) * plane + p] = float(src[p * std::size_t(channels) + std::size_t(c)]) / 127.5f - 1.f;
  stbi_image_free(px);
  return {};
}

/// Asks Linux to back a large buffer with 2 MiB pages (transparent huge pages in "madvise"
/// mode): filling 188 MB of decoded images then takes 90 page faults instead of 46,000, which
/// in a virtual machine cost more than decoding the PNGs. A hint: ignored where unsupported.
inline void advise_huge_pages([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t huge = std::uintptr_t(1) << 21;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(huge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

/// The file's bytes into `out` (reusing its capacity): one open, fstat, read and close on
/// POSIX systems, which for small images costs less than the decode itself.
inline bool read_whole_file(const std::string& path, std::vector<unsigned char>& out) {
#if defined(__unix__) || defined(__APPLE__)
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && st.st_size > 0 && std::uint64_t(st.st_size) <= (std::uint64_t(1) << 31);
  if (ok) {
    out.resize(std::size_t(st.st_size));
    std::size_t got = 0;
    while (ok && got < out.size()) {
      const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
      ok = r > 0;
      got += ok ? std::size_t(r) : 0;
    }
  }
  ::close(fd);
  return ok;
#else
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  out.resize(size > 0 ? std::size_t(size) : 0);
  const bool ok = size > 0 && std::fread(out.data(), 1, out.size(), f) == out.size();
  std::fclose(f);
  return ok;
#endif
}

/// ValueError naming the field unless `o` asks for a size and channels the readers can give.
inline void check_options(const ImageOptions& o) {
  if (o.channels != 0 && o.channels != 1 && o.channels != 3)
    throw ValueError("ImageOptions::channels must be 0, 1 or 3, not " + std::to_string(o.channels));
  if (o.height < 0 || o.width < 0 || (o.height == 0) != (o.width == 0) || (long long)o.height * o.width > max_image_pixels)
    throw ValueError("ImageOptions: height and width must both be 0 (keep) or both positive, not " + std::to_string(o.height) + " x " +
                     std::to_string(o.width));
}

}  // namespace detail

/// Decodes one image held in memory to a 1 x (C*H*W) Dataset; `name` is for messages.
inline Dataset decode_image(std::string_view bytes, const std::string& name, const ImageOptions& options = {}) {
  detail::check_options(options);
  int w = 0, h = 0, comp = 0;
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (auto p = detail::pnm_header_problem(b, bytes.size()); !p.empty()) throw FormatError(name + ": " + p);
  if (bytes.size() > std::size_t(1) << 31 || !stbi_info_from_memory(b, int(bytes.size()), &w, &h, &comp))
    throw FormatError(name + ": not a PNG, JPEG, BMP or PGM/PPM image");
  const int c = options.channels ? options.channels : (comp >= 3 ? 3 : 1);
  if ((long long)w * h > max_image_pixels) throw FormatError(name + ": image of " + std::to_string(w) + " x " + std::to_string(h) + " pixels is too large");
  const int oh = options.height ? options.height : h, ow = options.width ? options.width : w;
  Dataset d;
  d.x.resize(1, Eigen::Index(c) * oh * ow);
  std::vector<unsigned char> scratch;
  const std::string err = detail::decode_into(b, bytes.size(), c, options.height, options.width, d.x.data(), scratch);
  if (!err.empty()) throw FormatError(name + ": " + err);
  d.image = {c, oh, ow};
  d.ids = {name};
  return d;
}

/// Reads image files in the given order into one Dataset (labels left empty). Decodes in
/// parallel; on any failure throws for the first failing file in the list, returning nothing.
inline Dataset read_images(const std::vector<std::string>& files, const ImageOptions& options = {}) {
  detail::check_options(options);
  if (files.empty()) throw ValueError("read_images: no files");
  const auto n = std::ptrdiff_t(files.size());
  // Pass 1, headers only, when the size or the channels are to be found: sizes and whether
  // any file has colour.
  std::vector<std::string> errors(files.size());
  int height = options.height, width = options.width, channels = options.channels;
  if (!height || !channels) {
    std::vector<int> ws(files.size()), hs(files.size()), comps(files.size());
    kernels::parallel_for_dynamic(n, [&](std::ptrdiff_t i) {
      const auto k = std::size_t(i);
      if (errors[k] = detail::pnm_file_problem(files[k]); !errors[k].empty()) return;
      if (!stbi_info(files[k].c_str(), &ws[k], &hs[k], &comps[k])) {
        std::error_code ec;
        errors[k] = std::filesystem::exists(files[k], ec) ? std::string("not a PNG, JPEG, BMP or PGM/PPM image (") + stbi_failure_reason() + ")"
                                                          : std::string("cannot open");
      } else if ((long long)ws[k] * hs[k] > max_image_pixels) {
        errors[k] = "image of " + std::to_string(ws[k]) + " x " + std::to_string(hs[k]) + " pixels is too large";
      }
    });
    for (std::size_t k = 0; k < files.size(); ++k)
      if (!errors[k].empty()) throw FormatError(files[k] + ": " + errors[k]);
    if (!height) {
      height = hs[0];
      width = ws[0];
      for (std::size_t k = 1; k < files.size(); ++k)
        if (hs[k] != height || ws[k] != width)
          throw FormatError(files[k] + ": " + std::to_string(ws[k]) + " x " + std::to_string(hs[k]) + " pixels, but " + files[0] + " is " +
                            std::to_string(width) + " x " + std::to_string(height) + "; ask for one size (ImageOptions::height, width)");
    }
    if (!channels) channels = std::any_of(comps.begin(), comps.end(), [](int c) { return c >= 3; }) ? 3 : 1;
  }

  Dataset d;
  d.image = {channels, height, width};
  d.x.resize(n, Eigen::Index(d.image.size()));
  detail::advise_huge_pages(d.x.data(), std::size_t(d.x.size()) * sizeof(float));
  // Pass 2: decode each file straight into its row.
  kernels::parallel_for_dynamic(n, [&](std::ptrdiff_t i) {
    thread_local std::vector<unsigned char> bytes, scratch;
    const auto k = std::size_t(i);
    if (!detail::read_whole_file(files[k], bytes)) {
      errors[k] = "cannot open or read";
      return;
    }
    errors[k] = detail::decode_into(bytes.data(), bytes.size(), channels, height, width, d.x.row(Eigen::Index(i)).data(), scratch);
  });
  for (std::size_t k = 0; k < files.size(); ++k)
    if (!errors[k].empty()) throw FormatError(files[k] + ": " + errors[k]);
  d.ids = files;
  return d;
}

/// The image files of a folder and their labels (see read_image_folder).
struct ImageFiles {
  std::vector<std::string> files;
  std::vector<std::string> labels;  ///< one per file, or empty when the images are not in subfolders
};

/// Every image file under `folder` (recursively, in sorted path order, hidden files and
/// folders skipped). Images inside subfolders take the first-level subfolder's name as their
/// label (folder/cat/x.png -> "cat"), as torchvision's ImageFolder; a folder must not mix
/// images at its top level with images in subfolders.
inline ImageFiles list_image_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw IoError(folder + ": not a folder");
  // Relative paths with '/' mapped to '\x01': a plain string sort then orders them
  // component by component, as path comparison does, at a fraction of its cost.
  std::vector<std::string> found;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::none, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && detail::is_image_file(it->path())) {
      std::string rel = it->path().lexically_relative(folder).generic_string();
      std::replace(rel.begin(), rel.end(), '/', '\x01');
      found.push_back(std::move(rel));
    }
  }
  if (ec) throw IoError(folder + ": cannot list (" + ec.message() + ")");
  if (found.empty()) throw FormatError(folder + ": no image files (.png, .jpg, .jpeg, .bmp, .pgm, .ppm)");
  std::sort(found.begin(), found.end());
  ImageFiles out;
  std::size_t top = 0;
  const std::string base = (fs::path(folder) / "").string();
  for (auto& rel : found) {
    const auto slash = rel.find('\x01');
    top += slash == std::string::npos ? 1 : 0;
    out.labels.push_back(slash == std::string::npos ? std::string() : rel.substr(0, slash));
    std::replace(rel.begin(), rel.end(), '\x01', char(fs::path::preferred_separator));
    out.files.push_back(base + rel);
  }
  if (top != 0 && top != found.size())
    throw FormatError(folder + ": has " + std::to_string(top) + " images at its top level and " + std::to_string(found.size() - top) +
                      " in subfolders; put all in class subfolders (their names are the labels) or none");
  if (top != 0) out.labels.clear();
  return out;
}

/// Image rows converted to another geometry: resized per channel plane (area filter when
/// shrinking, bilinear when growing, as the file readers) and converted between grayscale
/// and RGB (gray repeated to three channels; RGB to gray with stb's weights 77, 150, 29 / 256).
inline Dataset convert_images(const Dataset& d, ImageGeometry to) {
  const ImageGeometry from = d.image;
  if (!from.is_image()) throw ValueError("convert_images: the data set holds a table, not images");
  if ((to.channels != 1 && to.channels != 3) || to.height <= 0 || to.width <= 0 || (long long)to.height * to.width > max_image_pixels)
    throw ValueError("convert_images: cannot convert to " + std::to_string(to.channels) + " x " + std::to_string(to.height) + " x " +
                     std::to_string(to.width));
  if (from == to) return d;
  Dataset out;
  out.labels = d.labels;
  out.ids = d.ids;
  out.image = to;
  out.x.resize(d.x.rows(), Eigen::Index(to.size()));
  const std::size_t in_plane = std::size_t(from.height) * std::size_t(from.width), out_plane = std::size_t(to.height) * std::size_t(to.width);
  const stbir_filter filter = (to.height < from.height || to.width < from.width) ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
  std::vector<float> mixed(in_plane * std::size_t(to.channels));
  for (Eigen::Index r = 0; r < d.x.rows(); ++r) {
    const float* src = d.x.row(r).data();
    for (int c = 0; c < to.channels; ++c)  // channels first, at the source size
      for (std::size_t p = 0; p < in_plane; ++p)
        mixed[std::size_t(c) * in_plane + p] = from.channels == to.channels ? src[std::size_t(c) * in_plane + p]
                                               : to.channels == 3           ? src[p]
                                                                            : (77.f * src[p] + 150.f * src[in_plane + p] + 29.f * src[2 * in_plane + p]) / 256.f;
    for (int c = 0; c < to.channels; ++c) {
      float* dst = out.x.row(r).data() + std::size_t(c) * out_plane;
      if (to.height == from.height && to.width == from.width) {
        std::copy_n(mixed.data() + std::size_t(c) * in_plane, in_plane, dst);
      } else if (!stbir_resize_float_generic(mixed.data() + std::size_t(c) * in_plane, from.width, from.height, 0, dst, to.width, to.height, 0, 1,
                                             STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, filter, STBIR_COLORSPACE_LINEAR, nullptr)) {
        throw ValueError("convert_images: cannot resize " + (d.ids.empty() ? "row " + std::to_string(r) : d.ids[std::size_t(r)]));
      }
    }
  }
  return out;
}

/// Channels, height and width of an image file, from its header only.
inline ImageGeometry image_file_geometry(const std::string& file) {
  int w = 0, h = 0, c = 0;
  if (auto p = detail::pnm_file_problem(file); !p.empty()) throw FormatError(file + ": " + p);
  if (!stbi_info(file.c_str(), &w, &h, &c)) throw FormatError(file + ": not a PNG, JPEG, BMP or PGM/PPM image (" + stbi_failure_reason() + ")");
  return {c, h, w};
}

/// Every image of a folder (list_image_folder) as one Dataset, labelled by subfolder.
inline Dataset read_image_folder(const std::string& folder, const ImageOptions& options = {}) {
  ImageFiles f = list_image_folder(folder);
  Dataset d = read_images(f.files, options);
  d.labels = std::move(f.labels);
  return d;
}

}  // namespace ganad::io
