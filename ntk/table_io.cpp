#include "ntk/table_io.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "nn/io.hpp"

namespace ntk {

namespace ad = autodiff;

namespace {

std::string lowercase_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// The whole field as a double (not necessarily finite), or nothing.
std::optional<double> parse_number(std::string_view field) {
  std::string_view digits = field;
  const bool plus = !digits.empty() && digits.front() == '+';
  if (plus) digits.remove_prefix(1);
  if (digits.empty() || (plus && digits.front() == '-')) return std::nullopt;
  double value = 0.0;
  const char* end = digits.data() + digits.size();
  const auto [stop, error] = std::from_chars(digits.data(), end, value);
  if (stop != end) return std::nullopt;
  // Out of range: a well-formed number beyond double's range, 1e999 (then inf, reported as not
  // finite) or 1e-999 (then 0 or a subnormal): strtod rounds both as C does.
  if (error == std::errc::result_out_of_range) return std::strtod(std::string(digits).c_str(), nullptr);
  if (error != std::errc()) return std::nullopt;
  return value;
}

// How a field is shown in a message: quoted, and cut if long or binary.
std::string show(std::string_view field) {
  std::string shown;
  for (char c : field.substr(0, 40)) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return fmt::format("'{}{}'", shown, field.size() > 40 ? "..." : "");
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return fields;
}

void require_matrix(const std::string& path, const Tensor& t) {
  if (t.dim() != 2)
    throw ad::Error(fmt::format("{}: expected a 2-D array (one point per row), got shape {}", path, ad::to_string(t.shape())));
}

}  // namespace

namespace {

// "FILE.npz:NAME" -> {"FILE.npz", "NAME"}; anything else -> {path, ""} with no member.
std::pair<std::string, std::string> npz_path(const std::string& path) {
  const std::size_t colon = path.rfind(':');
  if (colon != std::string::npos && lowercase_extension(path.substr(0, colon)) == ".npz")
    return {path.substr(0, colon), path.substr(colon + 1)};
  return {path, ""};
}

}  // namespace

TableFormat table_format(const std::string& path) {
  if (path == "-") return TableFormat::csv;
  const std::string ext = lowercase_extension(npz_path(path).first);
  if (ext == ".csv") return TableFormat::csv;
  if (ext == ".npy") return TableFormat::npy;
  if (ext == ".npz") return TableFormat::npz;
  throw ad::Error(fmt::format("{}: unknown format '{}' (expected a .csv, .npy or .npz extension)", path, ext));
}

std::vector<std::size_t> parse_columns(const std::string& spec) {
  std::vector<std::size_t> columns;
  const auto bad = [&] {
    return ad::Error(fmt::format("bad column list '{}' (1-based columns and ranges, e.g. 2,3 or 2-5 or 2-)",
                                 spec.substr(0, 40)));
  };
  const auto number = [&](std::string_view text) {
    std::size_t value = 0;
    const auto [stop, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || stop != text.data() + text.size() || value == 0 || value > 1000000)
      throw bad();
    return value - 1;
  };
  for (std::string_view item : split_fields(spec)) {
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      columns.push_back(number(item));
      continue;
    }
    const std::size_t first = number(trim(item.substr(0, dash)));
    const std::string_view rest = trim(item.substr(dash + 1));
    if (rest.empty()) {
      columns.insert(columns.end(), {first, kOpenEnd});
      continue;
    }
    const std::size_t last = number(rest);
    if (last < first) throw bad();
    for (std::size_t c = first; c <= last; ++c) columns.push_back(c);
  }
  if (columns.size() > 1000000) throw bad();
  return columns;
}

Tensor read_csv(const std::string& path, const CsvOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ad::Error(fmt::format("{}: is a directory, not a file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ad::Error(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  return parse_csv(in, path, options);
}

Tensor parse_csv(std::istream& in, const std::string& path, const CsvOptions& options) {
  std::vector<double> values;
  std::size_t columns = 0, rows = 0, first_data_line = 0, line_number = 0;
  std::size_t all_fields = 0, all_fields_line = 0;  // with a column selection: the fields of every line
  bool header_allowed = true;
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    std::string_view text = line;
    if (line_number == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (trim(text).empty() || trim(text).front() == '#') continue;
    if (header_allowed && options.skip_header) {
      header_allowed = false;
      continue;
    }
    std::vector<std::string_view> fields = split_fields(text);
    std::vector<std::size_t> numbers;  // the original (1-based) field number of each kept field
    if (options.columns.empty()) {
      for (std::size_t f = 0; f < fields.size(); ++f) numbers.push_back(f + 1);
    } else {
      std::vector<std::string_view> kept;
      for (std::size_t k = 0; k < options.columns.size(); ++k) {
        const std::size_t c = options.columns[k];
        if (c == kOpenEnd) {  // the columns after the previous one (all, if it comes first)
          const std::size_t previous = k == 0 ? kOpenEnd : options.columns[k - 1];
          if (k > 0 && previous == kOpenEnd) continue;
          for (std::size_t f = previous == kOpenEnd ? 0 : previous + 1; f < fields.size(); ++f) {
            kept.push_back(fields[f]);
            numbers.push_back(f + 1);
          }
        } else if (c >= fields.size()) {
          throw ad::Error(fmt::format("{}:{}: no column {} (the line has {} field{})", path, line_number, c + 1,
                                      fields.size(), fields.size() == 1 ? "" : "s"));
        } else {
          kept.push_back(fields[c]);
          numbers.push_back(c + 1);
        }
      }
      if (all_fields == 0) {
        all_fields = fields.size();
        all_fields_line = line_number;
      }
      if (fields.size() != all_fields)
        throw ad::Error(fmt::format("{}:{}: {} field{}, expected {} as on line {}", path, line_number, fields.size(),
                                    fields.size() == 1 ? "" : "s", all_fields, all_fields_line));
      fields = std::move(kept);
      if (fields.empty()) throw ad::Error(fmt::format("{}:{}: the columns selected are empty", path, line_number));
    }
    std::vector<std::optional<double>> parsed;
    for (std::string_view field : fields) parsed.push_back(parse_number(field));
    if (header_allowed) {
      header_allowed = false;
      // Names: no field is a number, or empty, or starts like one ("1 2 3" is a bad data row).
      const auto looks_numeric = [](std::string_view f) {
        return f.empty() || std::isdigit(static_cast<unsigned char>(f.front())) || f.front() == '+' ||
               f.front() == '-' || f.front() == '.';
      };
      const bool names = std::none_of(parsed.begin(), parsed.end(), [](const auto& v) { return v.has_value(); }) &&
                         std::none_of(fields.begin(), fields.end(), looks_numeric);
      if (names) continue;
    }
    for (std::size_t f = 0; f < fields.size(); ++f) {
      const std::size_t number = numbers[f];
      if (fields[f].empty())
        throw ad::Error(fmt::format("{}:{}: field {} is empty (fields are separated by commas{})", path, line_number,
                                    number, number == 1 && first_data_line == 0 ? "; is it a pandas header? use --skip-header" : ""));
      if (!parsed[f])
        throw ad::Error(fmt::format("{}:{}: field {} {} is not a number", path, line_number, number, show(fields[f])));
      if (!std::isfinite(*parsed[f]))
        throw ad::Error(fmt::format("{}:{}: field {} {} is not a finite number", path, line_number, number, show(fields[f])));
    }
    if (columns == 0) {
      columns = fields.size();
      first_data_line = line_number;
    } else if (fields.size() != columns) {
      throw ad::Error(fmt::format("{}:{}: {} field{}, expected {} as on line {}", path, line_number, fields.size(),
                                  fields.size() == 1 ? "" : "s", columns, first_data_line));
    }
    for (const auto& v : parsed) values.push_back(*v);
    ++rows;
  }
  if (in.bad()) throw ad::Error(fmt::format("{}:{}: read error", path, line_number + 1));
  if (rows == 0) throw ad::Error(fmt::format("{}: no data rows", path));
  Tensor matrix = Tensor::zeros({rows, columns});
  std::copy(values.begin(), values.end(), matrix.data());
  return matrix;
}

void write_csv(const std::string& path, const Tensor& matrix) {
  require_matrix(path, matrix);
  const std::size_t rows = matrix.shape()[0], columns = matrix.shape()[1];
  const auto write_rows = [&](std::ostream& out) {
    // Rows are formatted into one buffer that goes out whenever it passes 1 MiB: the text of a
    // kernel (~20 bytes per entry) is never held whole.
    constexpr std::size_t kFlush = std::size_t{1} << 20;
    fmt::memory_buffer text;
    auto flush = [&] {
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      text.clear();
    };
    for (std::size_t i = 0; i < rows; ++i) {
      const double* row = matrix.data() + i * columns;
      for (std::size_t j = 0; j < columns; ++j) {
        if (j > 0) text.push_back(',');
        fmt::format_to(std::back_inserter(text), "{}", row[j]);  // shortest decimal that reads back exactly
      }
      text.push_back('\n');
      if (text.size() >= kFlush) flush();
    }
    flush();
  };
  if (path == "-") {  // standard output
    write_rows(std::cout);
    std::cout.flush();
    if (!std::cout) throw ad::Error(fmt::format("-: cannot write to standard output ({})", std::strerror(errno)));
    return;
  }
  nn::write_file_atomically(path, write_rows, "");
}

Tensor read_matrix(const std::string& path, const CsvOptions& options) {
  const TableFormat format = table_format(path);
  if (format == TableFormat::csv) return read_csv(path, options);
  Tensor t;
  try {
    if (format == TableFormat::npy) {
      t = nn::load_npy(path);
    } else {
      const auto [file, member] = npz_path(path);
      t = nn::load_npz(file, member);
    }
  } catch (const ad::Error& e) {
    std::string message = e.what();
    for (const char* who : {"load_npy: ", "load_npz: "})  // "load_npy: FILE: ..." -> "FILE: ..."
      if (message.rfind(who, 0) == 0) message.erase(0, 10);
    throw ad::Error(message);
  }
  if (t.dim() == 1) t.reshape({t.size(), 1});  // N numbers: N points of dimension 1
  require_matrix(path, t);
  if (t.shape()[0] == 0 || t.shape()[1] == 0)
    throw ad::Error(fmt::format("{}: empty array, shape {}", path, ad::to_string(t.shape())));
  const std::size_t columns = t.shape()[1];
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t.flat(i)))
      throw ad::Error(fmt::format("{}: entry ({}, {}) is {}, not a finite number", path, i / columns, i % columns, t.flat(i)));
  return t;
}

namespace {

void write_table(const std::string& path, const Tensor& matrix, Tensor* consumed) {
  require_matrix(path, matrix);
  const TableFormat format = table_format(path);
  if (format == TableFormat::npz) throw ad::Error(fmt::format("{}: .npz is read only: write .npy or .csv", path));
  if (format == TableFormat::csv) {
    write_csv(path, matrix);
    return;
  }
  try {
    if (consumed != nullptr)
      nn::save_npy(path, std::move(*consumed));
    else
      nn::save_npy(path, matrix);
  } catch (const ad::Error& e) {
    std::string message = e.what();
    if (message.rfind("save_npy: ", 0) == 0) message.erase(0, 10);
    throw ad::Error(message);
  }
}

}  // namespace

void write_matrix(const std::string& path, const Tensor& matrix) { write_table(path, matrix, nullptr); }

void write_matrix(const std::string& path, Tensor&& matrix) {
  Tensor consumed = std::move(matrix);
  write_table(path, consumed, &consumed);
}

}  // namespace ntk
