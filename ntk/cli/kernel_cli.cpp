#include "ntk/cli/kernel_cli.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "nn/mlp.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/cli/mlp_flags.hpp"
#include "ntk/table_io.hpp"

namespace {

namespace ad = autodiff;

struct Settings {
  std::string input, input2, output;
  std::string kind = "ntk";
  ntk::tools::MlpFlags net;
  bool empirical = false;
  std::uint64_t seed = 0;
  bool skip_header = false;
  std::string columns;
};

std::string shape(const ad::Tensor& t) { return fmt::format("{} x {}", t.shape()[0], t.shape()[1]); }

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) || std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

int run(const Settings& s) {
  // Settings first, before any file is read or written.
  const ntk::InfiniteMlp mlp = s.net.mlp(s.empirical);
  const ntk::KernelKind kind = ntk::tools::parse_flag("--kind", ntk::parse_kernel_kind, s.kind);
  if (s.empirical) {
    if (kind != ntk::KernelKind::ntk) throw ad::Error("--empirical computes the NTK of a finite net: use --kind ntk");
    if (s.net.width < 1) throw ad::Error("--empirical needs --width W >= 1 (the hidden width of the net)");
  }
  // An unknown or read-only format fails now, not after the computation.
  if (ntk::table_format(s.output) == ntk::TableFormat::npz)
    throw ad::Error(fmt::format("--output {}: .npz is read only: write .npy, .csv or - (CSV on standard output)", s.output));
  if (s.output != "-" && (same_file(s.output, s.input) || (!s.input2.empty() && same_file(s.output, s.input2))))
    throw ad::Error(fmt::format("--output {} would overwrite an input file", s.output));
  ntk::CsvOptions csv;
  csv.skip_header = s.skip_header;
  if (!s.columns.empty()) csv.columns = ntk::tools::parse_flag("--columns", ntk::parse_columns, s.columns);

  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto begin = Clock::now();
  const ad::Tensor x1 = ntk::read_matrix(s.input, csv);
  const ad::Tensor other = s.input2.empty() ? ad::Tensor() : ntk::read_matrix(s.input2, csv);
  const ad::Tensor& x2 = s.input2.empty() ? x1 : other;  // (a reference: no copy of the data)
  if (x2.shape()[1] != x1.shape()[1])
    throw ad::Error(fmt::format("{} has {} columns but {} has {}: the points must have the same dimension", s.input,
                                x1.shape()[1], s.input2, x2.shape()[1]));
  const std::string inputs = s.input2.empty() ? fmt::format("the rows of {} ({})", s.input, shape(x1))
                                              : fmt::format("the rows of {} ({}) and of {} ({})", s.input, shape(x1),
                                                            s.input2, shape(x2));

  const double read_seconds = since(begin);
  const auto start = Clock::now();
  // A progress bar on stderr once a kernel pass has run for 2 s, redrawn at most 5 times a second;
  // the hook is removed however the computation ends.
  bool drawn = false;
  auto last_draw = start;
  ntk::set_kernel_progress([&](double fraction) {
    const auto now = Clock::now();
    if (now - start < std::chrono::seconds(2) || (drawn && now - last_draw < std::chrono::milliseconds(200) && fraction < 1.0))
      return;
    const int filled = static_cast<int>(fraction * 40.0 + 0.5);
    std::fprintf(stderr, "\rntk-kernel: [%s%s] %3.0f%% of this pass, %.0f s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(40 - filled), '.').c_str(), 100.0 * fraction, since(start));
    drawn = true;
    last_draw = now;
  });
  struct ProgressOff {
    bool& drawn;
    ~ProgressOff() {
      ntk::set_kernel_progress({});
      if (drawn) std::fputc('\n', stderr);
    }
  };
  std::optional<ProgressOff> progress_off(ProgressOff{drawn});
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
  progress_off.reset();
  const double compute_seconds = since(start);
  const auto written = Clock::now();
  const std::string kernel_shape = shape(kernel);
  ntk::write_matrix(s.output, std::move(kernel));  // (its memory goes back as it is written)
  const double write_seconds = since(written);
  // The whole run, read to write, and where it went.
  std::fprintf(stderr, "ntk-kernel: wrote %s (%s) in %.3g s (read %.3g s, kernel %.3g s, write %.3g s)\n",
               s.output == "-" ? "standard output" : s.output.c_str(), kernel_shape.c_str(), since(begin), read_seconds,
               compute_seconds, write_seconds);
  return 0;
}

}  // namespace

namespace ntk {

int kernel_cli(int argc, const char* const* argv) {
  CLI::App app{"The infinite-width NTK or NNGP kernel (or the empirical NTK at initialization) of the rows of a data "
               "file, for a fully connected net Dense, φ, ..., Dense with --depth hidden layers and a scalar readout, "
               "in neural-tangents' conventions (input kernel sw2·x·x'/d + sb2). CSV, .npy or .npz by extension."};
  app.name("ntk-kernel");
  app.set_version_flag("--version", std::string("ntk-kernel ") + NTK_VERSION);
  Settings s;
  app.add_option("--input", s.input,
                 "data, one point per row (.csv, .npy, or FILE.npz:NAME; a 1-D array is N points of dimension 1)")
      ->required();
  app.add_option("--input2", s.input2, "other points (columns of the kernel); default: --input again");
  app.add_option("--output", s.output, "where the kernel goes (.csv or .npy; - for CSV on standard output)")->required();
  app.add_flag("--skip-header", s.skip_header, "CSV: drop the first line (a header, e.g. pandas' with an index column)");
  app.add_option("--columns", s.columns, "CSV: the columns to read, 1-based, e.g. 2- to leave out a pandas index column");
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

}  // namespace ntk
