#include "ntk/cli/kernel_cli.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "nn/mlp.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/cli/kernel_flags.hpp"
#include "ntk/table_io.hpp"

namespace {

namespace ad = autodiff;
using ntk::tools::KernelFlags;
using ntk::tools::shape_text;

int run(const KernelFlags& s) {
  // Settings first, before any file is read or written.
  const ntk::tools::KernelSettings settings = ntk::tools::check(s);
  const ntk::InfiniteMlp& mlp = settings.mlp;

  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto begin = Clock::now();
  const auto [x1, other] = ntk::tools::read_inputs(s, settings.csv);
  const ad::Tensor& x2 = s.input2.empty() ? x1 : other;  // (a reference: no copy of the data)
  const std::string inputs = ntk::tools::describe_inputs(s, x1, other);

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
    std::fprintf(stderr, "ntk-kernel: %s\n", ntk::tools::describe_infinite_kernel(s, settings, inputs).c_str());
    const ntk::KernelKind kind = settings.kind;
    kernel = s.input2.empty() ? ntk::infinite_width_kernel(x1, mlp, kind) : ntk::infinite_width_kernel(x1, x2, mlp, kind);
  }
  ntk::tools::require_finite_kernel(kernel);
  progress_off.reset();
  const double compute_seconds = since(start);
  const auto written = Clock::now();
  const std::string kernel_shape = shape_text(kernel);
  ntk::write_matrix(s.output, std::move(kernel));  // (its memory goes back as it is written)
  const double write_seconds = since(written);
  // The whole run, read to write, and where it went.
  std::fprintf(stderr, "ntk-kernel: %s\n",
               ntk::tools::wrote_text(s.output, kernel_shape, since(begin), read_seconds, compute_seconds, write_seconds).c_str());
  return 0;
}

}  // namespace

namespace ntk {

int kernel_cli(int argc, const char* const* argv, const std::string& footer) {
  CLI::App app;
  KernelFlags s;
  s.add_to(app, footer);
  if (const std::optional<int> status = ntk::tools::parse_command_line(app, argc, argv)) return *status;
  try {
    return run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ntk-kernel: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace ntk
