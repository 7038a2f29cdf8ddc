// Runs an experiment binary (build/bin/<name>, next to the test program) as a process into a
// scratch folder and reads back what it wrote: the tests of experiments check the outputs'
// shapes and the invariants that must hold exactly, end to end through the command line.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"

namespace experiments_test {

namespace fs = std::filesystem;

inline fs::path bin_dir() { return fs::read_symlink("/proc/self/exe").parent_path(); }

inline const fs::path& scratch() {
  static const test_support::ScratchDir dir("experiments_test");
  return dir.path();
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Run {
  int status = -1;
  std::string err;  // stderr
  fs::path out;     // the --out folder
};

// `name` --out <scratch>/<folder> <args>; stderr captured.
inline Run run(const std::string& name, const std::string& args, const std::string& folder) {
  Run r;
  r.out = scratch() / folder;
  const fs::path err = scratch() / (folder + ".stderr");
  const std::string command = (bin_dir() / name).string() + " --out " + r.out.string() + " " + args + " 2> " + err.string();
  const int raw = std::system(command.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.err = read_text(err);
  return r;
}

// A tidy CSV as written by experiments::Table.
struct Csv {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;

  std::size_t index(const std::string& column) const {
    for (std::size_t j = 0; j < columns.size(); ++j)
      if (columns[j] == column) return j;
    throw std::runtime_error("no column " + column);
  }
  double number(std::size_t row, const std::string& column) const { return std::stod(rows.at(row).at(index(column))); }
  const std::string& text(std::size_t row, const std::string& column) const { return rows.at(row).at(index(column)); }
  std::vector<double> numbers(const std::string& column) const {
    std::vector<double> v;
    for (std::size_t i = 0; i < rows.size(); ++i) v.push_back(number(i, column));
    return v;
  }
};

inline Csv read_csv(const fs::path& path) {
  std::istringstream in(read_text(path));
  Csv csv;
  std::string line;
  auto split = [](const std::string& l) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream s(l);
    while (std::getline(s, field, ',')) fields.push_back(field);
    if (!l.empty() && l.back() == ',') fields.emplace_back();
    return fields;
  };
  if (!std::getline(in, line)) throw std::runtime_error(path.string() + ": empty");
  csv.columns = split(line);
  while (std::getline(in, line)) {
    csv.rows.push_back(split(line));
    if (csv.rows.back().size() != csv.columns.size())
      throw std::runtime_error(path.string() + ": a row with " + std::to_string(csv.rows.back().size()) + " fields");
  }
  return csv;
}

inline nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_text(path)); }

// Every file of a folder but summary.json (which states the run time), by name: what must be
// bit-identical between runs at different thread counts.
inline std::map<std::string, std::string> data_files(const fs::path& folder) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename() != "summary.json") files[entry.path().filename().string()] = read_text(entry.path());
  return files;
}

// Every data file of two runs' folders is byte for byte the same (same names, same bytes).
inline void check_same_data_files(const fs::path& a_folder, const fs::path& b_folder) {
  const auto a = data_files(a_folder), b = data_files(b_folder);
  REQUIRE(a.size() == b.size());
  for (const auto& [name, bytes] : a) {
    INFO(name);
    REQUIRE(b.count(name) == 1);
    CHECK(b.at(name) == bytes);
  }
}

// A bad command line and the option its error message must name.
struct BadCommandLine {
  const char* args;
  const char* flag;
};

// Each bad command line ends `binary` with exit status 2 and a message naming the flag.
inline void check_refused(const std::string& binary, std::initializer_list<BadCommandLine> cases) {
  int k = 0;
  for (const auto& c : cases) {
    const Run r = run(binary, c.args, binary + "_bad" + std::to_string(k++));
    INFO(c.args << " -> " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(c.flag) != std::string::npos);
  }
}

// No file of the folder is a leftover of an atomic write.
inline bool no_partial_files(const fs::path& folder) {
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().string().find(".partial") != std::string::npos) return false;
  return true;
}

}  // namespace experiments_test
