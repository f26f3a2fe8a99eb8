// libFuzzer target for the CSV reader: any bytes, with the first byte choosing the options,
// must give a Dataset or a ganad::Error, never a crash, a hang or an out-of-bounds access.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <ganad/io/csv.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ganad::io::CsvOptions o;
  o.header = ganad::io::CsvHeader(data[0] % 3);
  o.delimiter = (data[0] & 4) ? ';' : ',';
  if (data[0] & 8) o.label = "0";
  if (data[0] & 16) o.features = {"1", "label"};
  try {
    const auto d = ganad::io::parse_csv({reinterpret_cast<const char*>(data + 1), size - 1}, "fuzz", o);
    if (d.x.rows() != std::ptrdiff_t(d.ids.size())) __builtin_trap();
  } catch (const ganad::Error&) {
  }
  return 0;
}
