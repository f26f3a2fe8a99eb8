/// Model files: save() and load() for anything with describe(), save_state() and
/// load_state() (Sequential, Gan, Detector, or several of them in a bundle()). Files are
/// written to a temporary name and renamed into place, so a crash never leaves half a model
/// under the real name; a load that fails for any reason leaves the model as it was.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ganad/core/bytes.hpp"
#include "ganad/config.hpp"
#include "ganad/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#endif

namespace ganad {

/// File layout (little-endian):
///   "GANADMDL" | u32 version | u32 scalar bits | u64 FNV-1a of the description |
///   u32 length + description | u64 payload length | payload | u64 FNV-1a of all bytes before it
inline constexpr char model_magic[8] = {'G', 'A', 'N', 'A', 'D', 'M', 'D', 'L'};
/// 3: payloads may vary in size (a Detector's scorer state); older files are refused by name.
inline constexpr std::uint32_t model_format_version = 3;

namespace detail {

template <class Model>
concept Saveable = requires(const Model& cm, Model& m, ByteWriter& w, ByteReader& r) {
  typename Model::scalar_type;
  { cm.describe() } -> std::convertible_to<std::string>;
  cm.save_state(w);
  m.load_state(r);
};

/// The complete file image of `model`.
template <Saveable Model>
std::vector<unsigned char> model_file_bytes(const Model& model) {
  using T = typename Model::scalar_type;
  const std::string desc = model.describe();
  ByteWriter payload;
  model.save_state(payload);
  ByteWriter w;
  w.put_bytes({reinterpret_cast<const unsigned char*>(model_magic), sizeof model_magic});
  w.put(model_format_version);
  w.put(std::uint32_t(sizeof(T) * 8));
  w.put(fnv1a64({reinterpret_cast<const unsigned char*>(desc.data()), desc.size()}));
  w.put_string(desc);
  w.put(std::uint64_t(payload.bytes().size()));
  w.put_bytes(payload.bytes());
  w.put(fnv1a64(w.bytes()));
  return std::move(w.bytes());
}

inline std::string errno_text() { return std::strerror(errno); }

#if defined(__unix__) || defined(__APPLE__)
/// Removes what saves of `path` by processes that no longer exist left behind: path.tmp-<pid>
/// with no process <pid> (a save killed half-way). A crash loop then never fills the disk.
/// A temporary of a live process (another save in progress, or a reused pid) is left alone.
inline void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.size() > prefix.size() + 9 || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = ::pid_t(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == -1 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}
#endif

/// Writes bytes to path + ".tmp-<pid>", flushes it to disk, renames it over path (then
/// flushes the folder, so the rename itself is on disk). On any failure (a full disk, say)
/// the temporary is removed and path is as it was.
inline void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes) {
#if defined(__unix__) || defined(__APPLE__)
  remove_stale_temporaries(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
#else
  const std::string tmp = path + ".tmp";
#endif
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw IoError("save: cannot create '" + tmp + "': " + errno_text());
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
#if defined(__unix__) || defined(__APPLE__)
  ok = ok && ::fsync(::fileno(f)) == 0;
#endif
  const std::string why = ok ? "" : errno_text();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw IoError("save: cannot write '" + tmp + "': " + (why.empty() ? errno_text() : why));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = errno_text();
    std::remove(tmp.c_str());
    throw IoError("save: cannot rename '" + tmp + "' to '" + path + "': " + e);
  }
#if defined(__unix__) || defined(__APPLE__)
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const int dir = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    (void)::fsync(dir);  // best effort: the file itself is complete either way
    ::close(dir);
  }
#endif
}

}  // namespace detail

/// Writes `model` (a Sequential or a Gan) to `path`, atomically.
template <detail::Saveable Model>
void save(const Model& model, const std::string& path) {
  detail::write_file_atomically(path, detail::model_file_bytes(model));
}

namespace detail {

/// FormatError unless bytes start with the magic and this format version.
inline void check_prefix(std::span<const unsigned char> bytes, const std::string& where) {
  ByteReader h(bytes, where);
  if (std::memcmp(h.get_bytes(8).data(), model_magic, 8) != 0)
    throw FormatError(where + ": not a ganad model file (no GANADMDL magic at the start)");
  const auto file_version = h.get<std::uint32_t>();
  if (file_version != model_format_version)
    throw FormatError(where + ": model format version " + std::to_string(file_version) + (file_version < model_format_version ? " (an older ganad)" : "") +
                      "; this ganad (" + std::string(version()) + ") reads version " + std::to_string(model_format_version) +
                      " only: train again, or load the file with the ganad that wrote it");
}

/// Reads a whole model file image into `model` (load() and the fuzzer): every check, then
/// the payload, restoring the model's previous state if the payload disagrees with it.
template <Saveable Model>
void load_image(Model& model, std::span<const unsigned char> bytes, const std::string& where) {
  using T = typename Model::scalar_type;
  constexpr std::size_t header = 28;  // magic, version, scalar bits, fingerprint, description length
  if (bytes.size() < header + 16) throw FormatError(where + ": not a ganad model file (only " + std::to_string(bytes.size()) + " bytes)");
  check_prefix(bytes, where);
  ByteReader r(bytes, where);
  (void)r.get_bytes(12);
  const auto bits = r.get<std::uint32_t>();
  if (bits != sizeof(T) * 8)
    throw FormatError(where + ": the file holds " + std::to_string(bits) + "-bit parameters; this model uses " +
                      std::to_string(sizeof(T) * 8) + "-bit ones");
  const auto fingerprint = r.get<std::uint64_t>();
  const std::string desc = model.describe();
  const auto desc_len = r.get<std::uint32_t>();
  if (fingerprint != fnv1a64({reinterpret_cast<const unsigned char*>(desc.data()), desc.size()}) || desc_len != desc.size()) {
    std::string found = "(unreadable)";
    if (desc_len <= r.remaining()) {
      const auto d = r.get_bytes(desc_len);
      found.assign(d.begin(), d.end());
    }
    throw FormatError(where + ": the file holds another architecture.\n  file:  " + found + "\n  model: " + desc);
  }
  const std::uint64_t stored = [&] {
    ByteReader tail(bytes.last(8), where);
    return tail.get<std::uint64_t>();
  }();
  if (stored != fnv1a64(bytes.first(bytes.size() - 8))) throw FormatError(where + ": corrupt (checksum mismatch)");
  (void)r.get_bytes(desc_len);
  const auto payload = r.get<std::uint64_t>();
  if (r.remaining() < 8 || payload != r.remaining() - 8) throw FormatError(where + ": corrupt (payload length)");
  ByteReader body(bytes.subspan(r.position(), std::size_t(payload)), where);
  // A payload that passed the checksum can still disagree with the model (a count that does
  // not fit): load into the model, and put its old state back if anything is wrong.
  ByteWriter before;
  model.save_state(before);
  try {
    model.load_state(body);
    if (body.remaining() != 0) throw FormatError(where + ": corrupt (" + std::to_string(body.remaining()) + " bytes left over)");
  } catch (const Error& e) {
    ByteReader restore(before.bytes(), "restore");
    model.load_state(restore);
    if (dynamic_cast<const FormatError*>(&e)) throw;
    throw FormatError(where + ": " + e.what());
  }
}

}  // namespace detail

/// Reads `path` into `model`, which must have the same architecture and scalar type. Throws
/// IoError (cannot read) or FormatError (not a model, other version, type or architecture,
/// truncated, corrupt); `model` is unchanged then. Reads no more than the file holds (and
/// only its first 12 bytes unless they are a ganad model file's), and allocates nothing a
/// corrupt count asks for beyond that.
template <detail::Saveable Model>
void load(Model& model, const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw IoError("load: cannot open '" + path + "': " + detail::errno_text());
  const auto size = std::uint64_t(in.tellg());
  in.seekg(0);
  const std::string where = "load '" + path + "'";
  std::vector<unsigned char> bytes(std::size_t(std::min<std::uint64_t>(size, 12)));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()))) throw IoError(where + ": read failed");
  if (bytes.size() == 12) detail::check_prefix(bytes, where);  // shorter: load_image says so
  bytes.resize(std::size_t(size));
  if (size > 12 && !in.read(reinterpret_cast<char*>(bytes.data() + 12), std::streamsize(size - 12))) throw IoError(where + ": read failed");
  detail::load_image(model, bytes, where);
}

/// The architecture line a model file was saved with (what describe() returned), read from
/// its header without loading it: to tell which model type to load a file into. IoError or
/// FormatError as load().
inline std::string model_description(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("model_description: cannot open '" + path + "': " + detail::errno_text());
  const std::string where = "model_description '" + path + "'";
  std::vector<unsigned char> head(28);
  if (!in.read(reinterpret_cast<char*>(head.data()), 28)) throw FormatError(where + ": not a ganad model file (too short)");
  detail::check_prefix(head, where);
  ByteReader r(head, where);
  (void)r.get_bytes(24);
  const auto len = r.get<std::uint32_t>();
  std::string desc(std::min<std::uint32_t>(len, 1u << 20), '\0');
  if (len > (1u << 20) || !in.read(desc.data(), std::streamsize(len))) throw FormatError(where + ": corrupt (description length)");
  return desc;
}

/// Several saveable objects in one model file, e.g. save(bundle(gan, reconstruction), path).
template <class... Parts>
struct Bundle {
  std::tuple<Parts&...> parts;
  using scalar_type = typename std::remove_cvref_t<std::tuple_element_t<0, std::tuple<Parts...>>>::scalar_type;
  [[nodiscard]] std::string describe() const {
    std::string s;
    std::apply([&](const auto&... p) { ((s += (s.empty() ? "" : " + ") + p.describe()), ...); }, parts);
    return s;
  }
  void save_state(ByteWriter& w) const {
    std::apply([&](const auto&... p) { (p.save_state(w), ...); }, parts);
  }
  void load_state(ByteReader& r) {
    std::apply([&](auto&... p) { (p.load_state(r), ...); }, parts);
  }
};
template <class... Parts>
Bundle<Parts...> bundle(Parts&... parts) {
  return {std::tie(parts...)};
}
/// load(bundle(gan, scorer), path): the bundle is a temporary of references.
template <class... Parts>
void load(Bundle<Parts...>&& b, const std::string& path) {
  load(b, path);
}

}  // namespace ganad
