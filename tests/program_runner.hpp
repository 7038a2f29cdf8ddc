// Running a built program (bin/<name>) as a process in the tests of the command-line tools: its
// exit status, stdout and stderr, through files in a scratch folder. Shared by tests/ntk_cli.cpp
// and tests/cli_inputs.cpp.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

namespace test_support {

// The folder of the running test program: build/bin, where the tools are built too.
inline std::filesystem::path bin_dir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path(); }

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `bytes` to `path` and returns the path.
inline std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

struct ProgramResult {
  int status = -1;  // the exit status (-1: killed by a signal)
  std::string out, err;
  std::size_t err_lines() const {
    std::size_t n = 0;
    for (char c : err) n += c == '\n';
    return n;
  }
};

// `program` with `args` (already quoted where needed), stdout and stderr captured through files
// in `scratch`.
inline ProgramResult run_program(const std::filesystem::path& program, const std::string& args,
                                 const std::filesystem::path& scratch) {
  const std::string out = (scratch / "stdout.txt").string(), err = (scratch / "stderr.txt").string();
  const std::string command = fmt::format("'{}' {} > '{}' 2> '{}'", program.string(), args, out, err);
  const int raw = std::system(command.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read_bytes(out), read_bytes(err)};
}

}  // namespace test_support
