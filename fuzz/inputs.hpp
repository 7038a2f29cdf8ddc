// How a fuzzer's bytes are fed to the readers and to ntk-kernel's command line: shared by the
// libFuzzer targets (fuzz/*.cpp, built with -DNTK_FUZZ=ON and clang) and by the normal test suite,
// which replays every input kept in fuzz/regressions/ (tests/ntk_fuzz_regressions.cpp) in every
// build, so an input that once crashed stays fixed without a fuzzer. Every input must end in a
// result or an autodiff::Error (an exit status for the CLI): anything else escapes and is a
// finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "nn/io.hpp"
#include "ntk/cli/kernel_cli.hpp"
#include "ntk/table_io.hpp"

namespace fuzz_inputs {

// The bytes as an .npy, then as an .npz.
inline void npy(std::string_view bytes) {
  try {
    (void)nn::parse_npy(bytes, "fuzz.npy");
  } catch (const autodiff::Error&) {
  }
  try {
    (void)nn::parse_npz(bytes, "", "fuzz.npz");
  } catch (const autodiff::Error&) {
  }
}

// The first byte picks the options (skip a header, a column selection), the rest is the CSV.
inline void csv(std::string_view bytes) {
  if (bytes.empty()) return;
  static const char* const column_specs[] = {"", "2-", "1,3", "2-3", "3,1,1", "1-"};
  const auto selector = static_cast<unsigned char>(bytes[0]);
  ntk::CsvOptions options;
  options.skip_header = (selector & 1) != 0;
  try {
    const std::string spec = column_specs[(selector >> 1) % 6];
    if (!spec.empty()) options.columns = ntk::parse_columns(spec);
    std::istringstream in{std::string(bytes.substr(1))};
    (void)ntk::parse_csv(in, "fuzz.csv", options);
  } catch (const autodiff::Error&) {
  }
}

// Writes the small data files CLI inputs may name (a.csv, b.npy, c.npz) into the current folder.
inline void write_cli_files() {
  const auto write = [](const char* name, const std::string& bytes) {
    std::FILE* f = std::fopen(name, "wb");
    if (f == nullptr) std::abort();
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  };
  write("a.csv", "x1,x2\n1,2\n3,4.5\n-1,0\n");
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
  header.resize(117, ' ');
  header += '\n';
  std::string npy_file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
  for (double v : {0.5, -1.0, 2.0}) npy_file.append(reinterpret_cast<const char*>(&v), sizeof v);
  write("b.npy", npy_file);
  write("c.npz", std::string("PK\x05\x06", 4) + std::string(18, '\0'));  // an empty archive
}

// Runs ntk-kernel in-process on the arguments, one per line of `bytes` (in the current folder).
// Inputs with a number beyond 16 in any argument are skipped: they only ask for big, slow
// computations (--width 100000), not for bugs in the handling. Returns the exit status (-1: skipped).
inline int cli(std::string_view bytes) {
  std::vector<std::string> args{"ntk-kernel"};
  std::string current;
  for (char c : bytes) {
    if (c == '\n') {
      args.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) args.push_back(current);
  if (args.size() > 32) return -1;
  for (const std::string& arg : args) {
    const std::size_t eq = arg.find('=');
    const std::string value = eq == std::string::npos ? arg : arg.substr(eq + 1);
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && !(number >= -16.0 && number <= 16.0)) return -1;
  }
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return ntk::kernel_cli(static_cast<int>(argv.size()), argv.data());
}

}  // namespace fuzz_inputs
