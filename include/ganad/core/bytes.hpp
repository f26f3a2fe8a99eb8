/// Little-endian byte buffers for model files: a writer that appends, and a reader that
/// never reads past its end (a short buffer is a FormatError, never undefined behaviour).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ganad/core/error.hpp"

namespace ganad {

namespace detail {
template <class U>
U to_little(U v) {
  if constexpr (std::endian::native == std::endian::big) {
    U r = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) r = U((r << 8) | ((v >> (8 * i)) & 0xff));
    return r;
  }
  return v;
}
template <class T>
using bits_of = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
}  // namespace detail

/// FNV-1a, 64 bit. Any single changed byte changes the hash (each step is a bijection).
inline std::uint64_t fnv1a64(std::span<const unsigned char> bytes, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char b : bytes) h = (h ^ b) * 0x100000001b3ULL;
  return h;
}

class ByteWriter {
 public:
  template <class U>
    requires std::is_integral_v<U>
  void put(U v) {
    const auto le = detail::to_little(std::make_unsigned_t<U>(v));
    append(&le, sizeof le);
  }
  template <class F>
    requires std::is_floating_point_v<F>
  void put_float(F v) {
    put(std::bit_cast<detail::bits_of<F>>(v));
  }
  template <class F>
  void put_floats(std::span<const F> values) {
    if constexpr (std::endian::native == std::endian::little) append(values.data(), values.size_bytes());  // the same bytes, in bulk
    else
      for (F v : values) put_float(v);
  }
  void put_bytes(std::span<const unsigned char> b) { append(b.data(), b.size()); }
  void put_string(const std::string& s) {
    put(std::uint32_t(s.size()));
    append(s.data(), s.size());
  }
  [[nodiscard]] std::vector<unsigned char>& bytes() { return bytes_; }

 private:
  void append(const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    bytes_.insert(bytes_.end(), c, c + n);
  }
  std::vector<unsigned char> bytes_;
};

class ByteReader {
 public:
  ByteReader(std::span<const unsigned char> bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  template <class U>
    requires std::is_integral_v<U>
  U get() {
    std::make_unsigned_t<U> v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return U(detail::to_little(v));
  }
  template <class F>
    requires std::is_floating_point_v<F>
  F get_float() {
    return std::bit_cast<F>(get<detail::bits_of<F>>());
  }
  template <class F>
  void get_floats(std::span<F> out) {
    if constexpr (std::endian::native == std::endian::little) {
      if (!out.empty()) std::memcpy(out.data(), take(out.size_bytes()), out.size_bytes());
    } else {
      for (F& v : out) v = get_float<F>();
    }
  }
  std::span<const unsigned char> get_bytes(std::size_t n) { return {take(n), n}; }
  /// What put_string wrote (its length is checked against the bytes left first).
  std::string get_string() {
    const auto n = get<std::uint32_t>();
    const auto b = get_bytes(n);
    return {b.begin(), b.end()};
  }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - pos_; }
  [[nodiscard]] std::size_t position() const { return pos_; }

 private:
  const unsigned char* take(std::size_t n) {
    if (n > remaining())
      throw FormatError(what_ + ": truncated: needs " + std::to_string(n) + " more bytes at offset " +
                        std::to_string(pos_) + ", only " + std::to_string(remaining()) + " left");
    const unsigned char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::span<const unsigned char> bytes_;
  std::size_t pos_ = 0;
  std::string what_;
};

}  // namespace ganad
