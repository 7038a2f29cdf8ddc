#include "ntk/table_io.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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

TableFormat table_format(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  if (ext == ".csv") return TableFormat::csv;
  if (ext == ".npy") return TableFormat::npy;
  throw ad::Error(fmt::format("{}: unknown format '{}' (expected a .csv or .npy extension)", path, ext));
}

Tensor read_csv(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ad::Error(fmt::format("{}: is a directory, not a file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ad::Error(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  std::vector<double> values;
  std::size_t columns = 0, rows = 0, first_data_line = 0, line_number = 0;
  bool header_allowed = true;
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    std::string_view text = line;
    if (line_number == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (trim(text).empty() || trim(text).front() == '#') continue;
    const std::vector<std::string_view> fields = split_fields(text);
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
      if (fields[f].empty())
        throw ad::Error(fmt::format("{}:{}: field {} is empty (fields are separated by commas)", path, line_number, f + 1));
      if (!parsed[f])
        throw ad::Error(fmt::format("{}:{}: field {} {} is not a number", path, line_number, f + 1, show(fields[f])));
      if (!std::isfinite(*parsed[f]))
        throw ad::Error(fmt::format("{}:{}: field {} {} is not a finite number", path, line_number, f + 1, show(fields[f])));
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
  nn::write_file_atomically(
      path,
      [&](std::ostream& out) {
        // Rows are formatted into one buffer that goes to the file whenever it passes 1 MiB: the
        // text of a kernel (~20 bytes per entry) is never held whole.
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
      },
      "");
}

Tensor read_matrix(const std::string& path) {
  if (table_format(path) == TableFormat::csv) return read_csv(path);
  Tensor t;
  try {
    t = nn::load_npy(path);
  } catch (const ad::Error& e) {
    std::string message = e.what();
    if (message.rfind("load_npy: ", 0) == 0) message.erase(0, 10);  // "load_npy: FILE: ..." -> "FILE: ..."
    throw ad::Error(message);
  }
  require_matrix(path, t);
  if (t.shape()[0] == 0 || t.shape()[1] == 0)
    throw ad::Error(fmt::format("{}: empty array, shape {}", path, ad::to_string(t.shape())));
  const std::size_t columns = t.shape()[1];
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t.flat(i)))
      throw ad::Error(fmt::format("{}: entry ({}, {}) is {}, not a finite number", path, i / columns, i % columns, t.flat(i)));
  return t;
}

void write_matrix(const std::string& path, const Tensor& matrix) {
  require_matrix(path, matrix);
  if (table_format(path) == TableFormat::csv) {
    write_csv(path, matrix);
    return;
  }
  try {
    nn::save_npy(path, matrix);
  } catch (const ad::Error& e) {
    std::string message = e.what();
    if (message.rfind("save_npy: ", 0) == 0) message.erase(0, 10);
    throw ad::Error(message);
  }
}

}  // namespace ntk
