/// CSV tables in: numeric feature columns, an optional header, an optional label column.
/// Every problem is an IoError (cannot read) or a FormatError naming the file, the line and
/// the column; nothing is returned half-read. Needs nothing beyond the standard library.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "ganad/io/dataset.hpp"

namespace ganad::io {

enum class CsvHeader {
  detect,  ///< the first line is a header when one of its fields is not a number
  present,
  absent,
};

struct CsvOptions {
  CsvHeader header = CsvHeader::detect;
  char delimiter = ',';
  /// Columns to read as features, by header name or 0-based index ("3"); empty: every
  /// column but the label.
  std::vector<std::string> features{};
  /// The label column (name or index); empty: none. Labels are kept as text.
  std::string label{};
};

namespace detail {

/// Splits one line into fields: RFC 4180 quotes ("a,b", "say ""hi""") and spaces around
/// unquoted fields trimmed.
inline std::vector<std::string> split_csv_line(std::string_view line, char delim, const std::string& name, std::size_t line_no) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (true) {
    std::string field;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t') && line[i] != delim) ++i;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field += line[i++];
      }
      if (!closed) throw FormatError(place(name, line_no, out.size() + 1) + "unterminated quote (fields spanning lines are not supported)");
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      if (i < line.size() && line[i] != delim)
        throw FormatError(place(name, line_no, out.size() + 1) + "text after a closing quote; expected '" + std::string(1, delim) + "'");
    } else {
      const std::size_t start = i;
      while (i < line.size() && line[i] != delim) ++i;
      std::size_t end = i;
      while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
      field.assign(line.substr(start, end - start));
    }
    out.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the delimiter
  }
  return out;
}

/// A whole field as a float, rounded once (as strtof; not through double); false if it is
/// not a number. Out-of-range values give infinity, which the caller refuses.
inline bool parse_number(const std::string& s, float& v) {
  if (s.empty()) return false;
  const char* b = s.data() + (s[0] == '+' ? 1 : 0);
  const auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range && p == s.data() + s.size()) {
    v = std::numeric_limits<float>::infinity();
    return true;
  }
  return ec == std::errc() && p == s.data() + s.size();
}

/// The index of column `spec` (a header name, else a 0-based index).
inline std::size_t resolve_column(const std::string& spec, const std::vector<std::string>& header, std::size_t columns,
                                  const std::string& name, const char* what) {
  for (std::size_t c = 0; c < header.size(); ++c)
    if (header[c] == spec) return c;
  std::size_t idx = 0;
  const auto [p, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), idx);
  if (!spec.empty() && ec == std::errc() && p == spec.data() + spec.size()) {
    if (idx < columns) return idx;
    throw ValueError(name + ": " + what + " column " + spec + " does not exist; the file has " + std::to_string(columns) +
                     " columns (0-based indices 0-" + std::to_string(columns - 1) + ")");
  }
  std::string names;
  for (std::size_t c = 0; c < header.size() && c < 12; ++c) names += (c ? ", " : "") + header[c];
  throw ValueError(name + ": no " + what + " column '" + spec + "'" +
                   (header.empty() ? std::string(" (the file has no header; name columns by 0-based index)") : "; the header has " + names + (header.size() > 12 ? ", ..." : "")));
}

}  // namespace detail

/// Parses CSV text already in memory; `name` is for messages.
inline Dataset parse_csv(std::string_view text, const std::string& name, const CsvOptions& options = {}) {
  using detail::place;
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    throw ValueError("CsvOptions::delimiter cannot be a quote or a line break");
  // Lines, with their 1-based numbers; blank lines are skipped.
  std::vector<std::pair<std::size_t, std::string_view>> lines;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    ++line_no;
    if (line_no == 1 && l.size() >= 3 && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);  // UTF-8 byte-order mark
    if (l.find_first_not_of(" \t") != std::string_view::npos) lines.emplace_back(line_no, l);
    pos = end + 1;
  }
  if (lines.empty()) throw FormatError(name + ": no data (the file is empty)");
  if (text.find('\0') != std::string_view::npos) throw FormatError(name + ": contains NUL bytes; not a text CSV file");

  std::vector<std::string> header;
  auto first = detail::split_csv_line(lines[0].second, options.delimiter, name, lines[0].first);
  bool has_header = options.header == CsvHeader::present;
  if (options.header == CsvHeader::detect) {
    float v = 0;
    for (const auto& f : first) has_header = has_header || !detail::parse_number(f, v);
  }
  if (has_header) header = first;
  const std::size_t columns = first.size();
  const std::size_t data_start = has_header ? 1 : 0;
  if (lines.size() <= data_start) throw FormatError(name + ": no data rows after the header");

  const bool has_label = !options.label.empty();
  const std::size_t label_col = has_label ? detail::resolve_column(options.label, header, columns, name, "label") : columns;
  std::vector<std::size_t> cols;
  if (options.features.empty()) {
    for (std::size_t c = 0; c < columns; ++c)
      if (c != label_col) cols.push_back(c);
  } else {
    for (const auto& f : options.features) {
      const std::size_t c = detail::resolve_column(f, header, columns, name, "feature");
      if (c == label_col) throw ValueError(name + ": column '" + f + "' is both a feature and the label");
      cols.push_back(c);
    }
  }
  if (cols.empty()) throw ValueError(name + ": no feature columns (the file has only the label column)");

  Dataset d;
  const std::size_t rows = lines.size() - data_start;
  d.x.resize(Eigen::Index(rows), Eigen::Index(cols.size()));
  d.ids.reserve(rows);
  if (has_label) d.labels.reserve(rows);
  for (std::size_t c : cols) d.feature_names.push_back(has_header ? header[c] : "column " + std::to_string(c));
  for (std::size_t r = 0; r < rows; ++r) {
    const auto& [no, l] = lines[data_start + r];
    const auto fields = detail::split_csv_line(l, options.delimiter, name, no);
    if (fields.size() != columns)
      throw FormatError(name + ":" + std::to_string(no) + ": " + std::to_string(fields.size()) + " fields; " + (has_header ? "the header has " : "the first line has ") +
                        std::to_string(columns));
    for (std::size_t k = 0; k < cols.size(); ++k) {
      float v = 0;
      const std::string& f = fields[cols[k]];
      if (!detail::parse_number(f, v))
        throw FormatError(place(name, no, cols[k] + 1) + "(" + d.feature_names[k] + ") " + (f.empty() ? std::string("empty field") : "'" + f + "' is not a number"));
      if (!std::isfinite(v))
        throw FormatError(place(name, no, cols[k] + 1) + "(" + d.feature_names[k] + ") '" + f + "' is not a finite float");
      d.x(Eigen::Index(r), Eigen::Index(k)) = v;
    }
    if (has_label) d.labels.push_back(fields[label_col]);
    d.ids.push_back("line " + std::to_string(no));
  }
  return d;
}

/// Reads a CSV file (see CsvOptions).
inline Dataset read_csv(const std::string& path, const CsvOptions& options = {}) {
  return parse_csv(read_file(path), path, options);
}

}  // namespace ganad::io
