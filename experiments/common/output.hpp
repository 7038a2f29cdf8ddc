// Why: an experiment's results are read by plotting scripts, by the report and by tests, and an
// interrupted run must never leave something that looks complete. So every file is written
// aside and renamed into place, tables are tidy CSV (one row per width/α/seed/step, one column
// per variable, a header row), and summary.json — written last — states the settings, seeds,
// library version, run time, the headline numbers with their confidence intervals and the
// verdicts against the post or theory. A folder without summary.json is an unfinished run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/common/options.hpp"
#include "experiments/common/stats.hpp"

namespace experiments {

// Creates the folder and removes a summary.json left by an earlier run (so a run that fails
// half-way leaves no complete-looking result).
void prepare_output_folder(const std::filesystem::path& folder);

// Writes `bytes` to path + ".partial" and renames it over path: all or nothing.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

// One CSV field: numbers as the shortest decimal that reads back to the same double ("nan",
// "inf" for non-finite), integers exactly, strings as they are (no commas or quotes allowed).
using Cell = std::variant<double, long long, std::string>;
Cell cell(double v);
Cell cell(std::size_t v);
Cell cell(long long v);
Cell cell(int v);
Cell cell(const std::string& v);
Cell cell(const char* v);

// A tidy table, written as CSV with a header row.
class Table {
 public:
  explicit Table(std::vector<std::string> columns);
  void add(std::vector<Cell> row);  // one value per column, in order
  std::size_t rows() const { return rows_.size(); }
  const std::vector<std::string>& columns() const { return columns_; }
  std::string csv() const;
  void write(const std::filesystem::path& path) const;  // atomically

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
};

// summary.json. The experiment fills `settings` (its options after --quick), adds headlines
// (a number with its confidence interval) and verdicts (a claim of the post or of theory, what
// was expected, what was measured, whether they agree and by how much), and names its section
// of the post; write() adds the run's facts and writes the file atomically.
class Summary {
 public:
  Summary(const Context& context, std::string title, std::string post_section);

  nlohmann::json settings = nlohmann::json::object();
  std::vector<std::uint64_t> seeds;  // every seed the run drew from
  std::string expectation;           // what the post or theory expects, in a sentence or two
  nlohmann::json extra = nlohmann::json::object();  // anything else worth keeping

  void headline(const std::string& name, double value, const Interval& ci, const std::string& description);
  void headline(const std::string& name, double value, const std::string& description);  // exact: no CI
  void verdict(const std::string& claim, const std::string& expected, const std::string& measured, bool agrees,
               const std::string& detail);
  void write() const;

 private:
  const Context& context_;
  std::string title_, section_;
  nlohmann::json headlines_ = nlohmann::json::array();
  nlohmann::json verdicts_ = nlohmann::json::array();
};

// "0.472 [0.451, 0.493]": a value and its interval with `digits` significant digits.
std::string with_ci(double value, const Interval& ci, int digits = 3);

}  // namespace experiments
