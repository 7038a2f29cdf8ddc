// gradient-flow: the training residual along the eigenvectors of the initial NTK, for real
// gradient descent and for the linear ODE of the kernel regime ("Gradient Flow" in "Understanding
// the Neural Tangent Kernel", Rajat V D, 2019).
//
// Why: the post's convergence proof says that when the NTK stays at H₀ = H(w₀) the residual
// u = y(w) − ȳ obeys u̇ = −H₀u, so u(t) = e^{−H₀t}u(0) and, in the eigenbasis H₀ = VΛVᵀ, each
// component cᵢ = vᵢᵀu decays on its own at its eigenvalue's rate: cᵢ(t) = e^{−λᵢt}cᵢ(0). That is
// exact for the linearized model; for a real net it holds only in the lazy regime (κ ≪ 1). Here the
// components of real gradient descent are set against the ODE (ntk::GradientFlow) for a narrow net
// (width 10: κ not small) and a wide one (width 400: κ 5× smaller), and each mode's decay rate is
// fitted and divided by its eigenvalue (1 in the kernel regime).
//
// Nets: 2 hidden layers, ReLU, PyTorch's default init (the post's), not centred. Two data sets:
//   smooth-8   8 points evenly spaced in [−3, 3], targets ȳ = sin(x) (8 modes; our choice — the
//              post's 2-point set has only 2);
//   post-2     the post's x = [−2, 0.5], ȳ = [3, −1].
// Loss ½‖y − ȳ‖² (the post's), full-batch gradient descent. The NTK of a standard-parameterized
// net grows with its width, so one learning rate cannot suit both widths: each draw takes
// η = lr_fraction / λ_max(H₀), and the time is t = steps·η. Gradient descent then decays mode i by
// (1 − ηλᵢ) per step, a rate −ln(1 − ηλᵢ)/η that exceeds λᵢ by at most a factor
// −ln(1 − f)/f (1.0101 for f = 0.02): the discretization's share of the ratio, stated in summary.json.
//
// Fitted rate of mode i: least squares slope of −ln|cᵢ(t)| against t over the records with
// t ≤ min(T, window/λᵢ) (the ODE's component falls by e^{−window} there; at least 3 records).
// A finite net's kernel moves by about κ‖H₀‖ while it trains (the post's κ argument), and that
// change mixes the modes: a mode's own rate λᵢ can dominate its dynamics only where λᵢ ≳ κ·λ_max.
// The rates are therefore also summarized over those "resolved" modes alone (κ and λ_max of the
// same draw), besides all modes.
//
//   modes.csv         dataset, width, seed, step, t, mode, eigenvalue, real and linear component
//   eigenvectors.csv  dataset, width, seed, mode, point, eigenvalue, V[point, mode], u0[point]
//   rates.csv         dataset, width, seed, mode, eigenvalue, fitted rate, ratio, initial component,
//                     resolved (λᵢ ≥ κ·λ_max)
//   mode_rates.csv    per data set, width and mode (by rank): medians over seeds with intervals
//   nets.csv          dataset, width, seed, learning rate, kappa, largest mode-curve deviation
//   summary.json      headlines and verdicts
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autodiff/ops.hpp"
#include "experiments/common/options.hpp"
#include "experiments/common/points.hpp"
#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"
#include "experiments/common/progress.hpp"
#include "experiments/common/stats.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/flow.hpp"
#include "ntk/kappa.hpp"

namespace {

namespace ad = autodiff;
using ad::Tensor;
using experiments::cell;

struct Settings {
  std::vector<std::size_t> widths = {10, 400};  // narrow (κ not small), wide (κ smaller)
  std::vector<std::string> datasets = {"smooth-8", "post-2"};
  std::size_t seeds = 10;
  double lr_fraction = 0.02;  // η = lr_fraction / λ_max(H₀)
  std::size_t steps = 1200;
  std::size_t record_every = 25;
  double window = 4.0;  // fit mode i over t <= window / λᵢ
  double kappa_tolerance = 1e-4;
};

struct DataSet {
  std::string name;
  std::vector<double> x, y;
};

DataSet make_dataset(const std::string& name) {
  if (name == "post-2") return {name, {-2.0, 0.5}, {3.0, -1.0}};
  if (name == "smooth-8") {
    DataSet d{name, {}, {}};
    for (int i = 0; i < 8; ++i) {
      const double x = -3.0 + 6.0 * i / 7.0;
      d.x.push_back(x);
      d.y.push_back(std::sin(x));
    }
    return d;
  }
  throw std::invalid_argument(fmt::format("--datasets: unknown data set '{}' (smooth-8 or post-2)", name));
}

struct ModeRecord {
  std::size_t step;
  std::vector<double> real, linear;  // per mode, ascending eigenvalue
};

struct Draw {
  double learning_rate = 0.0;
  std::vector<double> eigenvalues, u0;
  std::vector<std::vector<double>> vectors;  // vectors[mode][point]
  std::vector<ModeRecord> records;
  std::vector<double> fitted_rate;  // per mode
  double kappa = 0.0;
  bool kappa_converged = false;
  double max_deviation = 0.0;  // max over t, modes of |c_real − c_lin| / ‖u0‖
};

// Least-squares decay rate −d ln|c|/dt over the records with t <= horizon (NaN if fewer than 3).
double fitted_rate(const std::vector<ModeRecord>& records, std::size_t mode, double learning_rate, double horizon) {
  std::vector<double> t, log_c;
  for (const ModeRecord& r : records) {
    const double time = static_cast<double>(r.step) * learning_rate;
    if (time > horizon) break;
    const double c = std::fabs(r.real[mode]);
    if (c == 0.0) continue;
    t.push_back(time);
    log_c.push_back(std::log(c));
  }
  if (t.size() < 3) return std::numeric_limits<double>::quiet_NaN();
  return -experiments::fit_line(t, log_c).slope;
}

Draw run_draw(const Settings& s, const DataSet& data, std::size_t width, std::uint64_t seed) {
  nn::MLPConfig config;  // 1 → width → width → 1, ReLU, standard parameterization, PyTorch's default init
  config.hidden = {width, width};
  const nn::MLP net(config);
  const Tensor x = experiments::as_column(data.x), y_target = experiments::as_column(data.y);
  const Tensor w0 = net.init(seed);
  const std::size_t n = data.x.size();

  Draw d;
  const Tensor y0 = net.predict(w0, x);
  Tensor u0 = Tensor::empty({n});
  for (std::size_t i = 0; i < n; ++i) u0.flat(i) = y0.flat(i) - data.y[i];
  const ntk::GradientFlow flow(ntk::empirical_ntk(net, w0, x), u0);
  const ntk::SymmetricEigen& eigen = flow.eigen();
  d.eigenvalues.assign(eigen.values.data(), eigen.values.data() + n);
  d.u0.assign(u0.data(), u0.data() + n);
  d.vectors.assign(n, std::vector<double>(n));
  for (std::size_t m = 0; m < n; ++m)
    for (std::size_t p = 0; p < n; ++p) d.vectors[m][p] = eigen.vectors(p, m);
  const double top = d.eigenvalues.back();
  if (!(top > 0.0)) throw std::runtime_error(fmt::format("gradient-flow: the NTK at seed {} has no positive eigenvalue", seed));
  d.learning_rate = s.lr_fraction / top;

  nn::TrainConfig train_config;
  train_config.learning_rate = d.learning_rate;
  train_config.max_steps = s.steps;
  nn::GradientDescent descent(net, w0, x, y_target, train_config);
  const Tensor vt = ad::transpose(eigen.vectors);
  double u0_norm = 0.0;
  for (double v : d.u0) u0_norm += v * v;
  u0_norm = std::sqrt(u0_norm);
  for (std::size_t step = 0;; ++step) {
    if (step % s.record_every == 0 || step == s.steps) {
      // Vᵀu by the same product GradientFlow uses for Vᵀu(0): at step 0 both are the same numbers.
      const Tensor y = step == 0 ? y0 : net.predict(descent.w(), x);
      Tensor u = Tensor::empty({n});
      for (std::size_t i = 0; i < n; ++i) u.flat(i) = y.flat(i) - data.y[i];
      const Tensor real = ad::matmul(vt, u);
      const Tensor linear = flow.modes(static_cast<double>(step) * d.learning_rate);
      ModeRecord r{step, std::vector<double>(real.data(), real.data() + n),
                   std::vector<double>(linear.data(), linear.data() + n)};
      for (std::size_t m = 0; m < n; ++m)
        d.max_deviation = std::max(d.max_deviation, std::fabs(r.real[m] - r.linear[m]) / u0_norm);
      d.records.push_back(std::move(r));
    }
    if (step == s.steps) break;
    descent.step();
  }
  const double end = static_cast<double>(s.steps) * d.learning_rate;
  for (std::size_t m = 0; m < n; ++m)
    d.fitted_rate.push_back(fitted_rate(d.records, m, d.learning_rate, std::min(end, s.window / d.eigenvalues[m])));

  ntk::KappaOptions kappa_options;
  kappa_options.tolerance = s.kappa_tolerance;
  kappa_options.seed = seed;
  const ntk::KappaResult k = ntk::kappa(net, w0, x, y_target, kappa_options);
  d.kappa = k.kappa;
  d.kappa_converged = k.converged;
  return d;
}

// λᵢ ≥ κ·λ_max: the kernel's drift during training (≈ κ‖H₀‖) is below the mode's own rate.
bool resolved(const Draw& d, std::size_t mode) { return d.eigenvalues[mode] >= d.kappa * d.eigenvalues.back(); }

struct MedianCi {
  double median;
  experiments::Interval ci;
};

std::string describe(const MedianCi& m) {
  return std::isfinite(m.median) ? experiments::with_ci(m.median, m.ci) : std::string("none");
}

MedianCi median_ci(const std::vector<double>& xs, std::uint64_t seed) {
  return {experiments::median(xs), experiments::bootstrap_ci(xs, experiments::median, seed)};
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment(
      "gradient-flow", "The residual along the eigenvectors of the initial NTK: real gradient descent against the "
                       "linear ODE u(t) = exp(-H0 t) u(0), for a narrow and a wide net");
  auto& app = experiment.app();
  app.add_option("--widths", s.widths, "hidden widths (2 hidden layers), narrow to wide")->capture_default_str();
  experiment.quick(s.widths, std::vector<std::size_t>{10, 200});
  app.add_option("--datasets", s.datasets, "data sets: smooth-8 (8 points, sin) and/or post-2 (the post's 2 points)")
      ->capture_default_str();
  app.add_option("--seeds", s.seeds, "initializations per width and data set (>= 2: intervals)")->check(CLI::Range(2, 100000))->capture_default_str();
  experiment.quick(s.seeds, std::size_t{2});
  app.add_option("--lr-fraction", s.lr_fraction, "learning rate = this / largest eigenvalue of the initial NTK")
      ->check(CLI::Range(1e-9, 1.0))->capture_default_str();
  app.add_option("--steps", s.steps, "gradient descent steps")->check(CLI::Range(1, 100000000))->capture_default_str();
  experiment.quick(s.steps, std::size_t{400});
  app.add_option("--record-every", s.record_every, "steps between records of the components")
      ->check(CLI::Range(1, 100000000))->capture_default_str();
  experiment.quick(s.record_every, std::size_t{10});
  app.add_option("--window", s.window, "fit mode i over t <= window / eigenvalue_i")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--kappa-tolerance", s.kappa_tolerance, "relative tolerance of kappa")->check(CLI::Range(1e-12, 0.1))
      ->capture_default_str();

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    experiments::require(!s.widths.empty(), "--widths", "needs at least one width");
    for (std::size_t w : s.widths) experiments::require(w >= 1, "--widths", "widths must be positive");
    experiments::require(std::is_sorted(s.widths.begin(), s.widths.end()) &&
                             std::adjacent_find(s.widths.begin(), s.widths.end()) == s.widths.end(),
                         "--widths", "must be strictly increasing (narrow first)");
    experiments::require(!s.datasets.empty(), "--datasets", "needs at least one data set");
    std::vector<DataSet> datasets;
    for (const std::string& name : s.datasets) datasets.push_back(make_dataset(name));

    const std::size_t n_width = s.widths.size(), n_data = datasets.size();
    const std::size_t tasks = n_data * n_width * s.seeds;
    const auto task_of = [&](std::size_t dataset, std::size_t width, std::size_t seed) {
      return (dataset * n_width + width) * s.seeds + seed;
    };
    std::vector<Draw> draws(tasks);
    {
      const auto cost = [&](std::size_t i) {
        const double w = static_cast<double>(s.widths[(i / s.seeds) % n_width]);
        return static_cast<double>(datasets[i / (s.seeds * n_width)].x.size()) * (w * w + 100.0);
      };
      double total = 0.0;
      for (std::size_t i = 0; i < tasks; ++i) total += cost(i);
      experiments::Progress progress("gradient-flow: training (data set, width, seed)", total);
      experiments::parallel_for(tasks, ctx.threads, [&](std::size_t i) {
        const std::size_t d = i / (s.seeds * n_width), w = (i / s.seeds) % n_width, k = i % s.seeds;
        draws[i] = run_draw(s, datasets[d], s.widths[w], ctx.seed + k);
      }, &progress, cost);
    }

    experiments::Table modes({"dataset", "width", "seed", "step", "t", "mode", "eigenvalue", "real_component",
                              "linear_component"});
    experiments::Table vectors({"dataset", "width", "seed", "mode", "point", "x", "eigenvalue", "eigenvector", "u0"});
    experiments::Table rates({"dataset", "width", "seed", "mode", "eigenvalue", "fitted_rate", "ratio",
                              "initial_component", "relative_initial_component", "resolved"});
    experiments::Table nets({"dataset", "width", "seed", "learning_rate", "end_time", "kappa", "kappa_converged",
                             "max_deviation", "smallest_eigenvalue", "largest_eigenvalue"});
    for (std::size_t d = 0; d < n_data; ++d)
      for (std::size_t w = 0; w < n_width; ++w)
        for (std::size_t k = 0; k < s.seeds; ++k) {
          const Draw& draw = draws[task_of(d, w, k)];
          const auto seed = static_cast<long long>(ctx.seed + k);
          const auto width = s.widths[w];
          const std::string& name = datasets[d].name;
          const std::size_t n = draw.eigenvalues.size();
          double u0_norm = 0.0;
          for (double v : draw.u0) u0_norm += v * v;
          u0_norm = std::sqrt(u0_norm);
          for (const ModeRecord& r : draw.records)
            for (std::size_t m = 0; m < n; ++m)
              modes.add({cell(name), cell(width), cell(seed), cell(r.step), cell(static_cast<double>(r.step) * draw.learning_rate),
                         cell(m), cell(draw.eigenvalues[m]), cell(r.real[m]), cell(r.linear[m])});
          for (std::size_t m = 0; m < n; ++m) {
            for (std::size_t p = 0; p < n; ++p)
              vectors.add({cell(name), cell(width), cell(seed), cell(m), cell(p), cell(datasets[d].x[p]),
                           cell(draw.eigenvalues[m]), cell(draw.vectors[m][p]), cell(draw.u0[p])});
            const double c0 = draw.records.front().real[m];
            rates.add({cell(name), cell(width), cell(seed), cell(m), cell(draw.eigenvalues[m]), cell(draw.fitted_rate[m]),
                       cell(draw.fitted_rate[m] / draw.eigenvalues[m]), cell(c0), cell(std::fabs(c0) / u0_norm),
                       cell(resolved(draw, m) ? 1 : 0)});
          }
          nets.add({cell(name), cell(width), cell(seed), cell(draw.learning_rate),
                    cell(static_cast<double>(s.steps) * draw.learning_rate), cell(draw.kappa),
                    cell(draw.kappa_converged ? 1 : 0), cell(draw.max_deviation), cell(draw.eigenvalues.front()),
                    cell(draw.eigenvalues.back())});
        }
    modes.write(ctx.file("modes.csv"));
    vectors.write(ctx.file("eigenvectors.csv"));
    rates.write(ctx.file("rates.csv"));
    nets.write(ctx.file("nets.csv"));
    const auto norm = [](const std::vector<double>& v) {
      double sum = 0.0;
      for (double x : v) sum += x * x;
      return std::sqrt(sum);
    };

    experiments::Summary summary(ctx, "The residual along the eigenvectors of the initial NTK, real against linear",
                                 "Gradient Flow");
    for (std::size_t k = 0; k < s.seeds; ++k) summary.seeds.push_back(ctx.seed + k);
    summary.settings = {{"widths", s.widths},
                        {"depth", 2},
                        {"activation", "relu"},
                        {"init", "torch_default"},
                        {"datasets", s.datasets},
                        {"smooth-8", "8 points evenly spaced in [-3, 3], targets sin(x)"},
                        {"post-2", "x = [-2, 0.5], targets [3, -1]"},
                        {"seeds", s.seeds},
                        {"lr_fraction", s.lr_fraction},
                        {"steps", s.steps},
                        {"record_every", s.record_every},
                        {"window", s.window},
                        {"kappa_tolerance", s.kappa_tolerance},
                        {"loss", "sum of squares / 2"}};
    summary.expectation =
        "In the kernel regime (kappa small: the wide net) every component of the residual along an eigenvector of the "
        "initial NTK decays on its own at its eigenvalue's rate (fitted rate / eigenvalue = 1) and the real components "
        "follow exp(-lambda t) c(0); the narrow net (kappa not small) leaves the ODE.";
    const double discretization = -std::log(1.0 - s.lr_fraction) / s.lr_fraction;
    summary.extra = {{"discretization_factor_top_mode", discretization},
                     {"discretization_note", "gradient descent decays mode i at -ln(1 - eta lambda_i)/eta, at most this "
                                             "factor above lambda_i (the top mode); slower modes less"},
                     {"rate_fit", fmt::format("least squares slope of -ln|c_i(t)| over t <= min(T, {} / lambda_i)", s.window)}};

    // Per data set and width: κ, the ratio fitted rate / eigenvalue over all modes and seeds, the
    // largest deviation of the real mode curves from the linear ones.
    std::uint64_t bootstrap_seed = ctx.seed + 7000;
    std::vector<std::vector<MedianCi>> ratio_error(n_data, std::vector<MedianCi>(n_width)),
        resolved_error(n_data, std::vector<MedianCi>(n_width)), deviation(n_data, std::vector<MedianCi>(n_width)),
        kappa(n_data, std::vector<MedianCi>(n_width));
    std::vector<std::vector<std::size_t>> resolved_count(n_data, std::vector<std::size_t>(n_width, 0));
    experiments::Table mode_rates({"dataset", "width", "mode", "seeds", "eigenvalue_median", "ratio_median", "ratio_low",
                                   "ratio_high", "relative_initial_component_median", "resolved_fraction"});
    for (std::size_t d = 0; d < n_data; ++d)
      for (std::size_t w = 0; w < n_width; ++w) {
        std::vector<double> errors, deviations, kappas, ratios, resolved_errors;
        const std::size_t n = datasets[d].x.size();
        for (std::size_t m = 0; m < n; ++m) {
          std::vector<double> eigenvalues, mode_ratios, components;
          double resolved_draws = 0.0;
          for (std::size_t k = 0; k < s.seeds; ++k) {
            const Draw& draw = draws[task_of(d, w, k)];
            eigenvalues.push_back(draw.eigenvalues[m]);
            const double ratio = draw.fitted_rate[m] / draw.eigenvalues[m];
            if (std::isfinite(ratio)) mode_ratios.push_back(ratio);
            components.push_back(std::fabs(draw.records.front().real[m]) / norm(draw.u0));
            if (resolved(draw, m)) resolved_draws += 1.0;
          }
          const bool enough = mode_ratios.size() >= 2;
          const MedianCi r = enough ? median_ci(mode_ratios, bootstrap_seed++) : MedianCi{std::numeric_limits<double>::quiet_NaN(), {}};
          mode_rates.add({cell(datasets[d].name), cell(s.widths[w]), cell(m), cell(mode_ratios.size()),
                          cell(experiments::median(eigenvalues)), cell(r.median), cell(enough ? r.ci.low : r.median),
                          cell(enough ? r.ci.high : r.median), cell(experiments::median(components)),
                          cell(resolved_draws / static_cast<double>(s.seeds))});
        }
        for (std::size_t k = 0; k < s.seeds; ++k) {
          const Draw& draw = draws[task_of(d, w, k)];
          std::vector<double> resolved_modes;
          for (std::size_t m = 0; m < draw.eigenvalues.size(); ++m) {
            const double ratio = draw.fitted_rate[m] / draw.eigenvalues[m];
            if (resolved(draw, m) && std::isfinite(ratio)) {
              resolved_modes.push_back(std::fabs(ratio - 1.0));
              ++resolved_count[d][w];
            }
          }
          if (!resolved_modes.empty()) resolved_errors.push_back(experiments::median(resolved_modes));
          // Per seed: the median over modes of |ratio − 1|.
          std::vector<double> per_mode;
          for (std::size_t m = 0; m < draw.eigenvalues.size(); ++m) {
            const double ratio = draw.fitted_rate[m] / draw.eigenvalues[m];
            if (std::isfinite(ratio)) {
              per_mode.push_back(std::fabs(ratio - 1.0));
              ratios.push_back(ratio);
            }
          }
          errors.push_back(per_mode.empty() ? std::numeric_limits<double>::quiet_NaN() : experiments::median(per_mode));
          deviations.push_back(draw.max_deviation);
          kappas.push_back(draw.kappa);
        }
        const std::string label = fmt::format("{}, width {}", datasets[d].name, s.widths[w]);
        kappa[d][w] = median_ci(kappas, bootstrap_seed++);
        ratio_error[d][w] = median_ci(errors, bootstrap_seed++);
        deviation[d][w] = median_ci(deviations, bootstrap_seed++);
        resolved_error[d][w] = resolved_errors.size() >= 2 ? median_ci(resolved_errors, bootstrap_seed++)
                                                           : MedianCi{std::numeric_limits<double>::quiet_NaN(), {}};
        summary.headline("kappa, " + label, kappa[d][w].median, kappa[d][w].ci, "median over seeds of kappa(w0)");
        const std::string resolved_description =
            fmt::format("median over seeds of the median over the modes with lambda_i >= kappa lambda_max ({} modes of "
                        "{} seeds; none: no value)",
                        resolved_count[d][w], resolved_errors.size());
        if (std::isfinite(resolved_error[d][w].median))
          summary.headline("|fitted rate / eigenvalue - 1| over resolved modes, " + label, resolved_error[d][w].median,
                           resolved_error[d][w].ci, resolved_description);
        else
          summary.headline("|fitted rate / eigenvalue - 1| over resolved modes, " + label, resolved_error[d][w].median,
                           resolved_description);
        summary.headline("|fitted rate / eigenvalue - 1|, " + label, ratio_error[d][w].median, ratio_error[d][w].ci,
                         "median over seeds of the median over modes");
        const MedianCi r = median_ci(ratios, bootstrap_seed++);
        summary.headline("fitted rate / eigenvalue, " + label, r.median, r.ci, "median over modes and seeds");
        summary.headline("max |c_real - c_linear| / ||u0||, " + label, deviation[d][w].median, deviation[d][w].ci,
                         "median over seeds of the largest deviation over modes and time");
      }
    const std::size_t narrow = 0, wide = n_width - 1;
    for (std::size_t d = 0; d < n_data; ++d) {
      const std::string name = datasets[d].name;
      const auto& kn = kappa[d][narrow];
      const auto& kw = kappa[d][wide];
      summary.verdict(fmt::format("the wide net is lazier than the narrow one ({})", name),
                      "kappa(wide) < kappa(narrow)",
                      fmt::format("{} (width {}), {} (width {})", experiments::with_ci(kn.median, kn.ci), s.widths[narrow],
                                  experiments::with_ci(kw.median, kw.ci), s.widths[wide]),
                      kw.ci.high < kn.ci.low, fmt::format("ratio {:.3g}", kw.median / kn.median));
      // Kernel regime: each mode decays at its eigenvalue's rate. "Agrees" when the wide net's typical
      // mode is within 5% of its eigenvalue (discretization alone contributes up to the factor above).
      const auto& ew = ratio_error[d][wide];
      const auto& en = ratio_error[d][narrow];
      const double tolerance = 0.05;
      summary.verdict(fmt::format("in the kernel regime each mode decays at its eigenvalue's rate ({})", name),
                      fmt::format("wide net: |fitted rate / eigenvalue - 1| < {} (median over modes), and smaller than "
                                  "the narrow net's",
                                  tolerance),
                      fmt::format("{} (width {}), {} (width {})", experiments::with_ci(ew.median, ew.ci), s.widths[wide],
                                  experiments::with_ci(en.median, en.ci), s.widths[narrow]),
                      ew.ci.high < tolerance && ew.median < en.median,
                      fmt::format("discretization alone: up to {:.4f} - 1 for the top mode", discretization));
      const auto& rw = resolved_error[d][wide];
      const auto& rn = resolved_error[d][narrow];
      summary.verdict(fmt::format("modes faster than the kernel's drift (lambda_i >= kappa lambda_max) decay at their "
                                  "eigenvalue's rate ({})", name),
                      fmt::format("wide net: |fitted rate / eigenvalue - 1| < {} over those modes", tolerance),
                      fmt::format("{} (width {}, {} modes), {} (width {}, {} modes)", describe(rw), s.widths[wide],
                                  resolved_count[d][wide], describe(rn), s.widths[narrow], resolved_count[d][narrow]),
                      std::isfinite(rw.median) && rw.ci.high < tolerance,
                      "an analysis beyond the post: kappa ~ the relative drift of the kernel, which mixes modes slower "
                      "than it; mode_rates.csv has every mode");
      const auto& dw = deviation[d][wide];
      const auto& dn = deviation[d][narrow];
      summary.verdict(fmt::format("the real mode curves follow the linear ODE for the wide net, not the narrow one ({})", name),
                      "max |c_real - c_linear| / ||u0||: wide << narrow",
                      fmt::format("{} (width {}), {} (width {})", experiments::with_ci(dw.median, dw.ci), s.widths[wide],
                                  experiments::with_ci(dn.median, dn.ci), s.widths[narrow]),
                      dw.ci.high < dn.ci.low, fmt::format("ratio {:.3g}", dw.median / dn.median));
    }
    mode_rates.write(ctx.file("mode_rates.csv"));
    summary.write();
    std::fprintf(stderr, "gradient-flow: results in %s\n", ctx.out.c_str());
  });
}
