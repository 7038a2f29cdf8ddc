// ntk-kernel as built where MPI was found: the same program as ntk/tools/ntk_kernel.cpp, which
// started by mpirun (or mpiexec, srun) on several ranks writes the kernel as one .npy with MPI-IO,
// each rank computing and writing its pieces of rows (distributed/kernel_file.hpp), so that a
// kernel larger than one rank's memory can be written. The file equals the single-process output
// byte for byte. See docs/distributed.md.
//
//   mpirun -np 4 ntk-kernel --input X.npy --depth 3 --activation relu --kind ntk --output K.npy
//
// Without a launcher, or on one rank, it is ntk::kernel_cli unchanged, and MPI is never initialized
// (Open MPI's singleton start-up alone takes half a second). Over ranks: --output must be .npy and
// --empirical is refused; every error ends every rank — one message from rank 0 (naming the
// failing rank when not all failed), exit status 1 (2 for a bad command line), no output file.
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "distributed/context.hpp"
#include "distributed/kernel_file.hpp"
#include "ntk/cli/kernel_cli.hpp"
#include "ntk/cli/kernel_flags.hpp"

namespace {

namespace dist = distributed;
using autodiff::Tensor;

const char* const kFooter =
    "Over MPI ranks: mpirun -np R ntk-kernel ... --output K.npy computes the kernel in pieces of rows dealt to the "
    "ranks, each rank holding only the piece it computes, and writes one .npy with MPI-IO, equal byte for byte to "
    "this program's output without mpirun (docs/distributed.md). Every rank reads the inputs; --output must be .npy; "
    "--empirical runs on one process only.";

// A checksum of a matrix's shape and bytes (FNV-1a), to compare what the ranks read.
unsigned long long checksum(const Tensor& t) {
  unsigned long long h = 1469598103934665603ull;
  auto mix = [&](const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  for (std::size_t extent : t.shape()) mix(&extent, sizeof extent);
  mix(t.data(), t.size() * sizeof(double));
  return h;
}

int run(MPI_Comm comm, const ntk::tools::KernelFlags& s) {
  const int me = dist::rank(comm), ranks = dist::size(comm);
  const double begin = MPI_Wtime();
  ntk::tools::KernelSettings settings;
  dist::collectively(comm, [&] {
    settings = ntk::tools::check(s);
    if (s.empirical)
      throw dist::Error("--empirical is not computed over MPI ranks (the empirical NTK of a finite net is one process's "
                        "work): run ntk-kernel without mpirun");
    if (s.output == "-" || ntk::table_format(s.output) != ntk::TableFormat::npy)
      throw dist::Error(fmt::format("--output {}: over MPI ranks the kernel is written as one .npy (MPI-IO); CSV is "
                                    "written by one process: run ntk-kernel without mpirun",
                                    s.output));
  });
  Tensor x1, x2;
  dist::collectively(comm, [&] { std::tie(x1, x2) = ntk::tools::read_inputs(s, settings.csv); });
  dist::require_same(comm, {checksum(x1), checksum(x2)}, [&](const dist::Values&, const dist::Values&) {
    return fmt::format("the ranks read different data from {}{}: is every rank reading the same files?", s.input,
                       s.input2.empty() ? "" : " or " + s.input2);
  });
  const std::string inputs = ntk::tools::describe_inputs(s, x1, x2);
  const double read_seconds = MPI_Wtime() - begin;
  std::optional<ntk::KernelRows> kernel;
  dist::collectively(comm, [&] {
    if (s.input2.empty()) kernel.emplace(std::move(x1), settings.mlp, settings.kind);
    else kernel.emplace(std::move(x1), std::move(x2), settings.mlp, settings.kind);
    dist::release_free_memory();  // (what reading and preparing held, before the pieces)
  });
  if (me == 0)
    std::fprintf(stderr, "ntk-kernel: %s; %d ranks\n", ntk::tools::describe_infinite_kernel(s, settings, inputs).c_str(),
                 ranks);
  const dist::KernelFileResult written =
      dist::write_kernel_npy(comm, *kernel, s.output, [](const Tensor& piece) { ntk::tools::require_finite_kernel(piece); });
  if (me == 0) {
    const std::string shape = fmt::format("{} x {}", kernel->rows(), kernel->columns());
    std::fprintf(stderr, "ntk-kernel: %s; %zu pieces of %zu rows over %d ranks\n",
                 ntk::tools::wrote_text(s.output, shape, MPI_Wtime() - begin, read_seconds, written.compute_seconds,
                                        written.write_seconds)
                     .c_str(),
                 written.pieces, written.rows_per_piece, ranks);
  }
  return 0;
}

int over_ranks(int argc, char** argv) {
  dist::MpiSession mpi(&argc, &argv);
  const MPI_Comm comm = MPI_COMM_WORLD;
  if (dist::size(comm) == 1) return ntk::kernel_cli(argc, argv, kFooter);  // a launcher that did not say how many
  const bool root = dist::rank(comm) == 0;
  CLI::App app;
  ntk::tools::KernelFlags s;
  s.add_to(app, kFooter);
  // Every rank parses the same command line: all end alike, rank 0 speaks.
  if (const std::optional<int> status = ntk::tools::parse_command_line(app, argc, argv, root)) return *status;
  return dist::exit_status(comm, "ntk-kernel", [&] { return run(comm, s); });
}

}  // namespace

int main(int argc, char** argv) {
  const int launched = dist::launcher_ranks();
  if (launched == -1 || launched == 1) return ntk::kernel_cli(argc, argv, kFooter);
  return over_ranks(argc, argv);
}
