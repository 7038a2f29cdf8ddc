#include "experiments/common/output.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#ifndef NTK_AUTODIFF_VERSION
#define NTK_AUTODIFF_VERSION "unknown"
#endif

namespace experiments {

namespace fs = std::filesystem;

void prepare_output_folder(const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec || !fs::is_directory(folder))
    throw std::runtime_error(fmt::format("cannot create output folder {} ({})", folder.string(), ec.message()));
  fs::remove(folder / "summary.json", ec);
  if (ec) throw std::runtime_error(fmt::format("cannot remove the old {} ({})", (folder / "summary.json").string(), ec.message()));
}

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  const fs::path temporary = path.string() + ".partial";
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("cannot open {} ({})", temporary.string(), std::strerror(errno)));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error(fmt::format("writing {} failed", temporary.string()));
    fs::rename(temporary, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

Cell cell(double v) { return v; }
Cell cell(std::size_t v) { return static_cast<long long>(v); }
Cell cell(long long v) { return v; }
Cell cell(int v) { return static_cast<long long>(v); }
Cell cell(const std::string& v) { return v; }
Cell cell(const char* v) { return std::string(v); }

namespace {

std::string field(const Cell& c) {
  if (const double* d = std::get_if<double>(&c)) {
    if (std::isnan(*d)) return "nan";
    if (std::isinf(*d)) return *d > 0 ? "inf" : "-inf";
    return fmt::format("{}", *d);  // shortest round-trip
  }
  if (const long long* i = std::get_if<long long>(&c)) return fmt::format("{}", *i);
  return std::get<std::string>(c);
}

void check_name(const std::string& s, const char* what) {
  if (s.find_first_of(",\"\n\r") != std::string::npos)
    throw std::logic_error(fmt::format("CSV {} '{}' contains a comma, quote or line break", what, s));
}

}  // namespace

Table::Table(std::vector<std::string> columns) : columns_(std::move(columns)) {
  for (const auto& c : columns_) check_name(c, "column name");
}

void Table::add(std::vector<Cell> row) {
  if (row.size() != columns_.size())
    throw std::logic_error(fmt::format("table row has {} fields for {} columns", row.size(), columns_.size()));
  for (const auto& c : row)
    if (const auto* s = std::get_if<std::string>(&c)) check_name(*s, "field");
  rows_.push_back(std::move(row));
}

std::string Table::csv() const {
  std::string text;
  for (std::size_t j = 0; j < columns_.size(); ++j) text += (j ? "," : "") + columns_[j];
  text += '\n';
  for (const auto& row : rows_) {
    for (std::size_t j = 0; j < row.size(); ++j) {
      if (j) text += ',';
      text += field(row[j]);
    }
    text += '\n';
  }
  return text;
}

void Table::write(const fs::path& path) const { write_file_atomic(path, csv()); }

Summary::Summary(const Context& context, std::string title, std::string post_section)
    : context_(context), title_(std::move(title)), section_(std::move(post_section)) {}

namespace {
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

void Summary::headline(const std::string& name, double value, const Interval& ci, const std::string& description) {
  headlines_.push_back({{"name", name},
                        {"value", finite_or_null(value)},
                        {"ci_low", finite_or_null(ci.low)},
                        {"ci_high", finite_or_null(ci.high)},
                        {"ci_level", ci.level},
                        {"ci_method", ci.method},
                        {"description", description}});
}

void Summary::headline(const std::string& name, double value, const std::string& description) {
  headlines_.push_back({{"name", name}, {"value", finite_or_null(value)}, {"description", description}});
}

void Summary::verdict(const std::string& claim, const std::string& expected, const std::string& measured, bool agrees,
                      const std::string& detail) {
  verdicts_.push_back({{"claim", claim},
                       {"expected", expected},
                       {"measured", measured},
                       {"agrees", agrees},
                       {"detail", detail}});
}

void Summary::write() const {
  nlohmann::json j;
  j["experiment"] = context_.name;
  j["title"] = title_;
  j["post"] = "Understanding the Neural Tangent Kernel, Rajat V D (2019)";
  j["post_section"] = section_;
  j["expectation"] = expectation;
  j["library_version"] = NTK_AUTODIFF_VERSION;
  j["command_line"] = context_.command_line;
  j["seed"] = context_.seed;
  j["seeds"] = seeds;
  j["threads"] = context_.threads;
  j["quick"] = context_.quick;
  j["settings"] = settings;
  j["headlines"] = headlines_;
  j["verdicts"] = verdicts_;
  j["extra"] = extra;
  j["seconds"] = context_.seconds();
  write_file_atomic(context_.file("summary.json"), j.dump(2) + "\n");
}

std::string with_ci(double value, const Interval& ci, int digits) {
  return fmt::format("{:.{}g} [{:.{}g}, {:.{}g}]", value, digits, ci.low, digits, ci.high, digits);
}

}  // namespace experiments
