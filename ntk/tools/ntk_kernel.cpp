// ntk-kernel: the infinite-width NTK or NNGP kernel (or the empirical NTK of a finite net at
// initialization) of the rows of a data file, for a fully connected net with L hidden layers and
// a scalar readout. CSV or .npy in and out, by extension. See docs/kernels.md.
//
//   ntk-kernel --input X.csv --depth 3 --activation relu --sw2 2 --sb2 0.1 --kind ntk --output K.csv
//   ntk-kernel --input X.npy --depth 2 --activation tanh --empirical --width 512 --seed 7 --output K.npy
//
// The settings (and the seed) go to stderr; errors are one line naming file and line, exit status
// 1 (bad data or settings) or 2 (bad command line), and leave no output file behind.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "nn/mlp.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/table_io.hpp"
#include "ntk/tools/mlp_flags.hpp"

namespace {

namespace ad = autodiff;

struct Settings {
  std::string input, input2, output;
  std::string kind = "ntk";
  ntk::tools::MlpFlags net;
  bool empirical = false;
  std::uint64_t seed = 0;
};

std::string shape(const ad::Tensor& t) { return fmt::format("{} x {}", t.shape()[0], t.shape()[1]); }

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) || std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

int run(const Settings& s) {
  // Settings first, before any file is read or written.
  const ntk::KernelKind kind = ntk::tools::parse_flag("--kind", ntk::parse_kernel_kind, s.kind);
  const ntk::InfiniteMlp mlp = s.net.mlp(s.empirical);
  if (s.empirical) {
    if (kind != ntk::KernelKind::ntk) throw ad::Error("--empirical computes the NTK of a finite net: use --kind ntk");
    if (s.net.width < 1) throw ad::Error("--empirical needs --width W >= 1 (the hidden width of the net)");
  }
  ntk::table_format(s.output);  // an unknown extension fails now, not after the computation
  if (same_file(s.output, s.input) || (!s.input2.empty() && same_file(s.output, s.input2)))
    throw ad::Error(fmt::format("--output {} would overwrite an input file", s.output));

  const ad::Tensor x1 = ntk::read_matrix(s.input);
  const ad::Tensor x2 = s.input2.empty() ? x1 : ntk::read_matrix(s.input2);
  if (x2.shape()[1] != x1.shape()[1])
    throw ad::Error(fmt::format("{} has {} columns but {} has {}: the points must have the same dimension", s.input,
                                x1.shape()[1], s.input2, x2.shape()[1]));
  const std::string inputs = s.input2.empty() ? fmt::format("the rows of {} ({})", s.input, shape(x1))
                                              : fmt::format("the rows of {} ({}) and of {} ({})", s.input, shape(x1),
                                                            s.input2, shape(x2));

  const auto start = std::chrono::steady_clock::now();
  ad::Tensor kernel;
  if (s.empirical) {
    const nn::MLPConfig config = ntk::mlp_config(mlp, x1.shape()[1], mlp.width);
    const nn::MLP model(config);
    std::fprintf(stderr, "ntk-kernel: empirical NTK at initialization of %s: %s, seed %llu\n", inputs.c_str(),
                 model.describe().c_str(), static_cast<unsigned long long>(s.seed));
    const ad::Tensor w = model.init(s.seed);
    kernel = s.input2.empty() ? ntk::empirical_ntk(model, w, x1) : ntk::empirical_ntk(model, w, x1, x2);
  } else {
    const std::string how = s.net.how(mlp);
    std::fprintf(stderr, "ntk-kernel: infinite-width %s of %s: %s (%s)\n", ntk::to_string(kind).c_str(), inputs.c_str(),
                 mlp.describe().c_str(), how.c_str());
    kernel = s.input2.empty() ? ntk::infinite_width_kernel(x1, mlp, kind) : ntk::infinite_width_kernel(x1, x2, mlp, kind);
  }
  if (!ad::all_finite(kernel)) throw ad::Error("the kernel has non-finite entries (overflow: are the inputs or variances huge?)");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ntk::write_matrix(s.output, kernel);
  std::fprintf(stderr, "ntk-kernel: wrote %s (%s) in %.3g s\n", s.output.c_str(), shape(kernel).c_str(), seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The infinite-width NTK or NNGP kernel (or the empirical NTK at initialization) of the rows of a data "
               "file, for a fully connected net Dense, φ, ..., Dense with --depth hidden layers and a scalar readout, "
               "in neural-tangents' conventions (input kernel sw2·x·x'/d + sb2). CSV or .npy by extension."};
  app.name("ntk-kernel");
  Settings s;
  app.add_option("--input", s.input, "data, one point per row (.csv or .npy)")->required();
  app.add_option("--input2", s.input2, "other points (columns of the kernel); default: --input again");
  app.add_option("--output", s.output, "where the kernel goes (.csv or .npy)")->required();
  app.add_option("--kind", s.kind, "ntk or nngp")->capture_default_str();
  s.net.add_to(app, "hidden width: of the net for --empirical, or in the standard parameterization");
  app.add_flag("--empirical", s.empirical, "the empirical NTK of a finite net at initialization instead");
  app.add_option("--seed", s.seed, "initialization seed for --empirical")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "ntk-kernel: error: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    return run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ntk-kernel: error: %s\n", e.what());
    return 1;
  }
}
