#include "ntk/cli/kernel_flags.hpp"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

namespace ntk::tools {

namespace ad = autodiff;

namespace {

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) || std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

}  // namespace

void KernelFlags::add_to(CLI::App& app, const std::string& footer) {
  app.description("The infinite-width NTK or NNGP kernel (or the empirical NTK at initialization) of the rows of a data "
                  "file, for a fully connected net Dense, φ, ..., Dense with --depth hidden layers and a scalar readout, "
                  "in neural-tangents' conventions (input kernel sw2·x·x'/d + sb2). CSV, .npy or .npz by extension.");
  app.name("ntk-kernel");
  app.set_version_flag("--version", std::string("ntk-kernel ") + NTK_VERSION);
  if (!footer.empty()) app.footer(footer);
  app.add_option("--input", input,
                 "data, one point per row (.csv, .npy, or FILE.npz:NAME; a 1-D array is N points of dimension 1)")
      ->required();
  app.add_option("--input2", input2, "other points (columns of the kernel); default: --input again");
  app.add_option("--output", output, "where the kernel goes (.csv or .npy; - for CSV on standard output)")->required();
  app.add_flag("--skip-header", skip_header, "CSV: drop the first line (a header, e.g. pandas' with an index column)");
  app.add_option("--columns", columns, "CSV: the columns to read, 1-based, e.g. 2- to leave out a pandas index column");
  app.add_option("--kind", kind, "ntk or nngp")->capture_default_str();
  net.add_to(app, "hidden width: of the net for --empirical, or in the standard parameterization");
  app.add_flag("--empirical", empirical, "the empirical NTK of a finite net at initialization instead");
  app.add_option("--seed", seed, "initialization seed for --empirical")->capture_default_str();
}

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv, bool speak) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return speak ? app.exit(e) : 0;  // --help, --version
    if (speak) std::fprintf(stderr, "ntk-kernel: error: %s (see --help)\n", e.what());
    return 2;
  }
  return std::nullopt;
}

KernelSettings check(const KernelFlags& s) {
  KernelSettings out;
  out.mlp = s.net.mlp(s.empirical);
  out.kind = parse_flag("--kind", ntk::parse_kernel_kind, s.kind);
  if (s.empirical) {
    if (out.kind != ntk::KernelKind::ntk) throw ad::Error("--empirical computes the NTK of a finite net: use --kind ntk");
    if (s.net.width < 1) throw ad::Error("--empirical needs --width W >= 1 (the hidden width of the net)");
  }
  // An unknown or read-only format fails now, not after the computation.
  if (ntk::table_format(s.output) == ntk::TableFormat::npz)
    throw ad::Error(fmt::format("--output {}: .npz is read only: write .npy, .csv or - (CSV on standard output)", s.output));
  if (s.output != "-" && (same_file(s.output, s.input) || (!s.input2.empty() && same_file(s.output, s.input2))))
    throw ad::Error(fmt::format("--output {} would overwrite an input file", s.output));
  out.csv.skip_header = s.skip_header;
  if (!s.columns.empty()) out.csv.columns = parse_flag("--columns", ntk::parse_columns, s.columns);
  return out;
}

std::pair<ad::Tensor, ad::Tensor> read_inputs(const KernelFlags& s, const CsvOptions& csv) {
  ad::Tensor x1 = ntk::read_matrix(s.input, csv);
  ad::Tensor x2 = s.input2.empty() ? ad::Tensor() : ntk::read_matrix(s.input2, csv);
  if (!s.input2.empty() && x2.shape()[1] != x1.shape()[1])
    throw ad::Error(fmt::format("{} has {} columns but {} has {}: the points must have the same dimension", s.input,
                                x1.shape()[1], s.input2, x2.shape()[1]));
  return {std::move(x1), std::move(x2)};
}

std::string shape_text(const ad::Tensor& t) { return fmt::format("{} x {}", t.shape()[0], t.shape()[1]); }

std::string describe_inputs(const KernelFlags& s, const ad::Tensor& x1, const ad::Tensor& x2) {
  return s.input2.empty() ? fmt::format("the rows of {} ({})", s.input, shape_text(x1))
                          : fmt::format("the rows of {} ({}) and of {} ({})", s.input, shape_text(x1), s.input2,
                                        shape_text(x2));
}

std::string describe_infinite_kernel(const KernelFlags& s, const KernelSettings& settings, const std::string& inputs) {
  return fmt::format("infinite-width {} of {}: {} ({})", ntk::to_string(settings.kind), inputs, settings.mlp.describe(),
                     s.net.how(settings.mlp));
}

void require_finite_kernel(const ad::Tensor& kernel) {
  if (!ad::all_finite(kernel)) throw ad::Error("the kernel has non-finite entries (overflow: are the inputs or variances huge?)");
}

std::string wrote_text(const std::string& output, const std::string& shape, double total, double read, double kernel,
                       double write) {
  return fmt::format("wrote {} ({}) in {:.3g} s (read {:.3g} s, kernel {:.3g} s, write {:.3g} s)",
                     output == "-" ? "standard output" : output, shape, total, read, kernel, write);
}

}  // namespace ntk::tools
