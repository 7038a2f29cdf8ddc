// The ntk-kernel command line — its flags, their checks, the reading of its inputs and its log
// lines — shared by ntk::kernel_cli (one process) and the MPI main in distributed/tools/ntk_kernel.cpp
// (`mpirun -np R ntk-kernel`), so that both take the same flags with the same help and messages.
// Needs CLI11 (its users link it; the libraries do not).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "autodiff/tensor.hpp"
#include "ntk/cli/mlp_flags.hpp"
#include "ntk/infinite.hpp"
#include "ntk/table_io.hpp"

namespace ntk::tools {

struct KernelFlags {
  std::string input, input2, output;
  std::string kind = "ntk";
  MlpFlags net;
  bool empirical = false;
  std::uint64_t seed = 0;
  bool skip_header = false;
  std::string columns;

  // The program's name, description, --version and every flag; `footer` closes --help.
  void add_to(CLI::App& app, const std::string& footer = "");
};

// Parses argv into `app`: nothing when the program goes on, else the exit status to end with — 0
// after --help or --version (printed when `speak`), 2 for a bad command line (its message on stderr
// when `speak`).
std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv, bool speak = true);

// The settings after every check that reads no file (autodiff::Error naming the flag): the net,
// the kernel, the CSV options; the output's format (not .npz) and that it is no input file.
struct KernelSettings {
  InfiniteMlp mlp;
  KernelKind kind = KernelKind::ntk;
  CsvOptions csv;
};
KernelSettings check(const KernelFlags& flags);

// --input, and --input2 (empty without it), with the same number of columns.
std::pair<autodiff::Tensor, autodiff::Tensor> read_inputs(const KernelFlags& flags, const CsvOptions& csv);

// "the rows of X (N x d)" or "the rows of X (...) and of X2 (...)" for the log lines; x2 empty
// without --input2.
std::string describe_inputs(const KernelFlags& flags, const autodiff::Tensor& x1, const autodiff::Tensor& x2);
// "infinite-width ntk of <inputs>: <net> (<closed form or the quadrature>)".
std::string describe_infinite_kernel(const KernelFlags& flags, const KernelSettings& settings, const std::string& inputs);

// "N x M" of a matrix.
std::string shape_text(const autodiff::Tensor& t);

// Throws the error every ntk-kernel run gives for a kernel (or a piece) with an Inf or a NaN.
void require_finite_kernel(const autodiff::Tensor& kernel);

// The closing log line: "wrote K.npy (N x M) in T s (read ..., kernel ..., write ...)".
std::string wrote_text(const std::string& output, const std::string& shape, double total, double read, double kernel,
                       double write);

}  // namespace ntk::tools
