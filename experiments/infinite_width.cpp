// infinite-width: the NTK at initialization becomes deterministic as the width grows — the remark
// "An additional point" at the end of "Seeing the Kernel Regime" in "Understanding the Neural
// Tangent Kernel" (Rajat V D, 2019), which cites Arora et al., "On Exact Computation with an
// Infinitely Wide Neural Net" (2019), and rests on Jacot, Gabriel & Hongler (2018).
//
// The post states it without a measurement; here it is measured. For fully connected nets
// (nn::MLP built by ntk::mlp_config) with one or two hidden layers of width n, relu and erf, the
// empirical NTK at initialization Θ_emp (ntk::empirical_ntk, structured method) is compared with
// the analytic one (ntk::infinite_width_kernel) on three input sets:
//   post      the post's two 1-D training inputs x = −2 and 0.5,
//   grid      16 points evenly spaced on [−3, 3] (1-D),
//   gaussian  16 points of N(0, I) in 10-D, drawn once from the run's seed.
// The relative Frobenius error ‖Θ_emp − Θ_ref‖_F/‖Θ_ref‖_F is drawn for many seeds per width and
// its log-log slope against the width is fitted on the median over seeds, with a bootstrap
// interval. Theory: −1/2. Θ_emp sums n per-unit terms; with one hidden layer in the NTK
// parameterization it is exactly their average (iid, mean Θ_∞), so E‖Θ_emp − Θ_∞‖² ∝ 1/n.
//
// NTK parameterization (z = σ_w/√n W h + σ_b b): Θ_ref = Θ_∞, the width-independent limit.
// Standard parameterization (z = W h + b, W ~ N(0, σ_w²/n), nn's LeCun init: biases start at 0
// but are trained): Θ itself has no finite limit — every layer fed by n units adds n·K to it
// (Θ′ = σ_w²Θ + n·K + 1), so it grows linearly with n. Measured three ways: ‖Θ_emp‖_F against n
// (slope → 1); Θ_emp against the library's finite-width standard kernel Θ_std(n)
// (InfiniteMlp::width = n); and Θ_emp/n against the deterministic lim Θ_std(n)/n (Θ_std is exactly
// affine in n, Θ_std(n) = n·A + B, so the limit is A = Θ_std(2) − Θ_std(1)).
//
// Outputs: errors.csv (one row per net, input set and reference), slopes.csv (every fitted slope),
// kernels.csv (the analytic kernels and Θ_emp of seed 0 at the smallest and largest width on the
// 1-D inputs) and summary.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autodiff/autodiff.hpp"
#include "experiments/common/options.hpp"
#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"
#include "experiments/common/progress.hpp"
#include "experiments/common/stats.hpp"
#include "nn/mlp.hpp"
#include "nn/random.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"

namespace {

namespace ad = autodiff;
using ad::Tensor;
using experiments::cell;

std::vector<std::size_t> powers_of_two(int from, int to) {
  std::vector<std::size_t> widths;
  for (int k = from; k <= to; ++k) widths.push_back(std::size_t{1} << k);
  return widths;
}

struct Settings {
  std::vector<std::size_t> widths_depth1 = powers_of_two(4, 14);  // one hidden layer
  std::vector<std::size_t> widths_depth2 = powers_of_two(4, 12);  // two hidden layers
  std::vector<std::size_t> depths = {1, 2};
  // Nets per width and configuration: `seeds`, but `seeds_wide` for nets of more than
  // `wide_params` weights (the two-hidden-layer nets of width 2048 and 4096, 4.2M and 16.8M
  // weights, whose initialization is most of the run time).
  std::size_t seeds = 30;
  std::size_t seeds_wide = 10;
  double wide_params = 2e6;
  std::vector<std::string> activations = {"relu", "erf"};
  std::vector<std::string> parameterizations = {"ntk", "standard"};
  double sw2 = 2.0;  // σ_w²: He scaling for relu, the value the library's docs use
  double sb2 = 0.1;  // σ_b², NTK parameterization (nn's standard one starts biases at 0)
  std::vector<double> post_inputs = {-2.0, 0.5};  // the post's two training inputs
  std::size_t grid_points = 16;
  double grid_half_width = 3.0;
  std::size_t random_points = 16;
  std::size_t random_dim = 10;
  std::size_t resamples = 2000;  // bootstrap resamples per slope
  double slope_margin = 0.05;    // a slope within this of the expected one agrees even if its CI misses it
};

// A set of inputs is a run of rows of its group's input matrix; the inputs of one dimension share
// one net per draw, so the post's pair and the 1-D grid come from one empirical NTK.
struct InputSet {
  std::string name;
  std::size_t first = 0, count = 0;
};
struct InputGroup {
  std::string name;
  Tensor x;  // (N, d)
  std::vector<InputSet> sets;
};

struct Depth {
  std::size_t depth = 1;
  std::vector<std::size_t> widths;
};

// Everything the run compares, parsed from the settings.
struct Plan {
  std::vector<Depth> depths;
  std::vector<nn::Activation> activations;
  std::vector<nn::Parameterization> parameterizations;
  std::vector<InputGroup> groups;
  std::uint64_t input_seed = 0;
};

// The infinite-width description of a net (standard: at hidden width `width`, σ_b² = 0).
ntk::InfiniteMlp infinite_mlp(std::size_t depth, nn::Activation activation, nn::Parameterization parameterization,
                              const Settings& s, std::size_t width) {
  const bool standard = parameterization == nn::Parameterization::standard;
  return {.depth = depth, .activation = activation, .sw2 = s.sw2, .sb2 = standard ? 0.0 : s.sb2,
          .parameterization = parameterization, .width = standard ? width : 0};
}

// ---- small matrix helpers --------------------------------------------------------------------------

Tensor block(const Tensor& m, const InputSet& set) {
  Tensor b = Tensor::empty({set.count, set.count});
  for (std::size_t i = 0; i < set.count; ++i)
    for (std::size_t j = 0; j < set.count; ++j) b(i, j) = m(set.first + i, set.first + j);
  return b;
}

double frobenius(const Tensor& m) {
  double sum = 0.0;
  for (std::size_t i = 0; i < m.size(); ++i) sum += m.flat(i) * m.flat(i);
  return std::sqrt(sum);
}

Tensor combine(double alpha, const Tensor& a, double beta, const Tensor& b) {  // α·A + β·B
  Tensor r = Tensor::empty(a.shape());
  for (std::size_t i = 0; i < a.size(); ++i) r.flat(i) = alpha * a.flat(i) + beta * b.flat(i);
  return r;
}

// ---- the analytic kernels --------------------------------------------------------------------------

// Per depth × activation × parameterization × input group: `limit` is Θ_∞ (NTK
// parameterization) or A = lim Θ_std(n)/n (standard); `at_width[w]` is the reference at the w-th
// width (Θ_∞ again, or the library's finite-width Θ_std(n)); `offset` is B in Θ_std(n) = n·A + B.
struct Reference {
  Tensor limit, offset;
  std::vector<Tensor> at_width;
};

class References {
 public:
  explicit References(const Plan& plan) : plan_(plan), table_(index(plan.depths.size(), 0, 0, 0)) {}
  Reference& at(std::size_t d, std::size_t a, std::size_t p, std::size_t g) { return table_[index(d, a, p, g)]; }
  const Reference& at(std::size_t d, std::size_t a, std::size_t p, std::size_t g) const {
    return table_[index(d, a, p, g)];
  }

 private:
  std::size_t index(std::size_t d, std::size_t a, std::size_t p, std::size_t g) const {
    return ((d * plan_.activations.size() + a) * plan_.parameterizations.size() + p) * plan_.groups.size() + g;
  }
  const Plan& plan_;
  std::vector<Reference> table_;
};

// Fills the references; returns the largest relative deviation of Θ_std(n) from n·A + B over the
// widths (rounding only: a check that A is the limit of Θ_std(n)/n).
double compute_references(const Plan& plan, const Settings& s, References& refs) {
  double worst = 0.0;
  for (std::size_t d = 0; d < plan.depths.size(); ++d)
    for (std::size_t a = 0; a < plan.activations.size(); ++a)
      for (std::size_t p = 0; p < plan.parameterizations.size(); ++p)
        for (std::size_t g = 0; g < plan.groups.size(); ++g) {
          const auto kernel_at = [&](std::size_t width) {
            const auto mlp = infinite_mlp(plan.depths[d].depth, plan.activations[a], plan.parameterizations[p], s, width);
            return ntk::infinite_width_kernel(plan.groups[g].x, mlp, ntk::KernelKind::ntk);
          };
          Reference& ref = refs.at(d, a, p, g);
          if (plan.parameterizations[p] == nn::Parameterization::ntk) {
            ref.limit = kernel_at(0);
            ref.offset = Tensor::zeros(ref.limit.shape());
            ref.at_width.assign(plan.depths[d].widths.size(), ref.limit);
            continue;
          }
          const Tensor one = kernel_at(1), two = kernel_at(2);
          ref.limit = combine(1.0, two, -1.0, one);
          ref.offset = combine(2.0, one, -1.0, two);
          for (std::size_t width : plan.depths[d].widths) {
            Tensor theta = kernel_at(width);
            const double deviation =
                frobenius(combine(1.0, theta, -1.0, combine(static_cast<double>(width), ref.limit, 1.0, ref.offset)));
            worst = std::max(worst, deviation / frobenius(theta));
            ref.at_width.push_back(std::move(theta));
          }
        }
  return worst;
}

// ---- the random nets --------------------------------------------------------------------------------

// One random draw of weights, used by every activation (MLP::init depends on the layout and
// the parameterization only, so the relu and erf nets of one seed have the same weights: common
// random numbers across activations).
struct Draw {
  std::size_t depth_index = 0, width_index = 0, group = 0, parameterization = 0, seed = 0;
  std::size_t depth = 0, width = 0;
  std::uint64_t net_seed = 0;
  double params = 0.0;  // weights of the net: the cost, for progress and scheduling
};

nn::MLP make_net(const Plan& plan, const Settings& s, const Draw& draw, std::size_t activation) {
  const auto mlp = infinite_mlp(draw.depth, plan.activations[activation], plan.parameterizations[draw.parameterization], s,
                                draw.width);
  return nn::MLP(ntk::mlp_config(mlp, plan.groups[draw.group].x.shape()[1], draw.width));
}

// Every net of the run; net k is seeded by seed + 1 + k (seed + 0 drew the Gaussian inputs).
std::vector<Draw> plan_draws(const Plan& plan, const Settings& s, std::uint64_t base_seed) {
  std::vector<Draw> draws;
  for (std::size_t d = 0; d < plan.depths.size(); ++d)
    for (std::size_t w = 0; w < plan.depths[d].widths.size(); ++w)
      for (std::size_t g = 0; g < plan.groups.size(); ++g)
        for (std::size_t p = 0; p < plan.parameterizations.size(); ++p) {
          Draw draw{d, w, g, p, 0, plan.depths[d].depth, plan.depths[d].widths[w], 0, 0.0};
          draw.params = static_cast<double>(make_net(plan, s, draw, 0).num_params());
          const std::size_t seeds = draw.params > s.wide_params ? s.seeds_wide : s.seeds;
          for (std::size_t seed = 0; seed < seeds; ++seed) {
            draw.seed = seed;
            draw.net_seed = base_seed + 1 + draws.size();
            draws.push_back(draw);
          }
        }
  return draws;
}

// Θ_emp of every draw and activation, [draw][activation], on the draw's whole input group.
std::vector<std::vector<Tensor>> empirical_kernels(const Plan& plan, const Settings& s, const std::vector<Draw>& draws,
                                                   unsigned threads) {
  // The widest nets first, so the threads finish together; results go to slot i whatever the order.
  std::vector<std::size_t> order(draws.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return draws[i].params > draws[j].params; });
  double total = 0.0;
  for (const Draw& draw : draws) total += draw.params;
  std::vector<std::vector<Tensor>> theta(draws.size(), std::vector<Tensor>(plan.activations.size()));
  experiments::Progress progress("empirical NTKs at initialization", total);
  experiments::parallel_for(
      draws.size(), threads,
      [&](std::size_t k) {
        const Draw& draw = draws[order[k]];
        Tensor weights;
        for (std::size_t a = 0; a < plan.activations.size(); ++a) {
          const nn::MLP net = make_net(plan, s, draw, a);
          if (a == 0) weights = net.init(draw.net_seed);
          theta[order[k]][a] = ntk::empirical_ntk(net, weights, plan.groups[draw.group].x,
                                                  ntk::NtkOptions{.method = ntk::NtkMethod::structured});
        }
      },
      &progress, [&](std::size_t k) { return draws[order[k]].params; });
  return theta;
}

// ---- errors and slopes ------------------------------------------------------------------------------

// One curve against width: a configuration, an input set and what Θ_emp is compared with.
struct SeriesKey {
  std::size_t depth_index, activation, parameterization;
  std::string inputs, reference;
  auto operator<=>(const SeriesKey&) const = default;
};
struct Series {
  std::vector<std::vector<double>> rel_error;       // [width][seed]
  std::vector<std::vector<double>> empirical_norm;  // [width][seed]: ‖Θ_emp‖_F (not divided by n)
};

const char* reference_name(nn::Parameterization p, bool per_width) {
  if (p == nn::Parameterization::ntk) return "infinite";
  return per_width ? "per-width-limit" : "standard-at-width";
}

std::map<SeriesKey, Series> measure_errors(const Plan& plan, const Settings& s, const References& refs,
                                           const std::vector<Draw>& draws, const std::vector<std::vector<Tensor>>& theta,
                                           experiments::Table& errors) {
  std::map<SeriesKey, Series> series;
  for (std::size_t i = 0; i < draws.size(); ++i) {
    const Draw& draw = draws[i];
    const std::size_t d = draw.depth_index, p = draw.parameterization, widths = plan.depths[d].widths.size();
    for (std::size_t a = 0; a < plan.activations.size(); ++a) {
      const Reference& ref = refs.at(d, a, p, draw.group);
      for (const InputSet& set : plan.groups[draw.group].sets) {
        const Tensor empirical = block(theta[i][a], set);
        const double norm = frobenius(empirical);
        // scale·Θ_emp against the reference.
        const auto compare = [&](bool per_width, const Tensor& reference, double scale) {
          const double ref_norm = frobenius(reference);
          const double error = frobenius(combine(scale, empirical, -1.0, reference)) / ref_norm;
          const std::string name = reference_name(plan.parameterizations[p], per_width);
          errors.add({cell(draw.depth), cell(s.activations[a]), cell(s.parameterizations[p]), cell(set.name),
                      cell(draw.width), cell(draw.seed), cell(static_cast<long long>(draw.net_seed)), cell(name),
                      cell(error), cell(scale * norm), cell(ref_norm)});
          Series& curve = series[{d, a, p, set.name, name}];
          if (curve.rel_error.empty()) {
            curve.rel_error.resize(widths);
            curve.empirical_norm.resize(widths);
          }
          curve.rel_error[draw.width_index].push_back(error);
          curve.empirical_norm[draw.width_index].push_back(norm);
        };
        compare(false, block(ref.at_width[draw.width_index], set), 1.0);
        if (plan.parameterizations[p] == nn::Parameterization::standard)
          compare(true, block(ref.limit, set), 1.0 / static_cast<double>(draw.width));
      }
    }
  }
  return series;
}

struct Statistic {
  const char* name;
  double (*of)(const std::vector<double>&);
};
double root_mean_square(const std::vector<double>& xs) {
  double sum = 0.0;
  for (double x : xs) sum += x * x;
  return std::sqrt(sum / static_cast<double>(xs.size()));
}
// The headline statistic first: the median (robust to the heavy tails of the erf nets' errors),
// then the mean and the root mean square (E‖Θ_emp − Θ_∞‖² ∝ 1/n holds exactly with one hidden
// layer, so the RMS is the statistic with the cleanest theory).
const Statistic kStatistics[] = {{"median", experiments::median}, {"mean", experiments::mean}, {"rms", root_mean_square}};

struct Fit {
  experiments::SlopeFit fit;
  std::size_t width_min = 0, width_max = 0;
};

// The log-log slope of statistic(samples) over the widths from index `first` on.
Fit fit_slope(const std::vector<std::size_t>& widths, const std::vector<std::vector<double>>& samples, std::size_t first,
              const Statistic& statistic, std::uint64_t seed, std::size_t resamples) {
  std::vector<double> x;
  std::vector<std::vector<double>> groups;
  for (std::size_t w = first; w < widths.size(); ++w) {
    x.push_back(static_cast<double>(widths[w]));
    groups.push_back(samples[w]);
  }
  return {experiments::loglog_slope(x, groups, statistic.of, seed, resamples), widths[first], widths.back()};
}

bool agrees_with(const Fit& f, double low, double high, double margin) {  // expected slope in [low, high]
  const bool overlaps = f.fit.ci.low <= high && f.fit.ci.high >= low;
  return overlaps || (f.fit.slope >= low - margin && f.fit.slope <= high + margin);
}

// A tally of the verdicts of one kind, for the overall verdicts.
struct Tally {
  std::size_t agree = 0, total = 0;
  std::vector<std::string> disagree, all;
  void add(bool ok, const std::string& config, const std::string& measured) {
    ++total;
    if (ok) ++agree; else disagree.push_back(config);
    all.push_back(fmt::format("{}: {}{}", config, measured, ok ? "" : " DISAGREES"));
  }
};

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment(
      "infinite-width",
      "The empirical NTK at initialization against the analytic infinite-width NTK, widths 2^4..2^14: relative "
      "error vs width (slope -1/2), NTK and standard parameterization");
  auto& app = experiment.app();
  app.add_option("--widths-depth1", s.widths_depth1, "hidden widths of the one-hidden-layer nets (increasing)")
      ->capture_default_str();
  experiment.quick(s.widths_depth1, powers_of_two(4, 8));
  app.add_option("--widths-depth2", s.widths_depth2, "hidden widths of the two-hidden-layer nets (increasing)")
      ->capture_default_str();
  experiment.quick(s.widths_depth2, powers_of_two(4, 8));
  app.add_option("--depths", s.depths, "numbers of hidden layers to run: 1 and/or 2")->capture_default_str();
  app.add_option("--seeds", s.seeds, "random nets per width and configuration")->check(CLI::Range(2, 100000))
      ->capture_default_str();
  experiment.quick(s.seeds, std::size_t{3});
  app.add_option("--seeds-wide", s.seeds_wide, "random nets per width for nets of more than --wide-params weights")
      ->check(CLI::Range(2, 100000))->capture_default_str();
  experiment.quick(s.seeds_wide, std::size_t{3});
  app.add_option("--wide-params", s.wide_params, "nets with more weights than this get --seeds-wide seeds")
      ->capture_default_str();
  app.add_option("--activations", s.activations, "activations (relu, erf, tanh, sigmoid, sin, identity)")
      ->capture_default_str();
  app.add_option("--parameterizations", s.parameterizations, "ntk and/or standard")->capture_default_str();
  app.add_option("--sw2", s.sw2, "sigma_w^2")->capture_default_str();
  app.add_option("--sb2", s.sb2, "sigma_b^2 of the NTK parameterization (the standard one starts biases at 0)")
      ->capture_default_str();
  app.add_option("--grid-points", s.grid_points, "points of the 1-D grid")->check(CLI::Range(2, 10000))
      ->capture_default_str();
  app.add_option("--grid-half-width", s.grid_half_width, "the grid spans [-this, this]")->capture_default_str();
  app.add_option("--random-points", s.random_points, "Gaussian input points")->check(CLI::Range(2, 10000))
      ->capture_default_str();
  app.add_option("--random-dim", s.random_dim, "dimension of the Gaussian inputs")->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--resamples", s.resamples, "bootstrap resamples per slope")->check(CLI::Range(10, 1000000))
      ->capture_default_str();

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    // ---- settings -------------------------------------------------------------------------------
    Plan plan;
    const auto add_depth = [&](std::size_t depth, const std::vector<std::size_t>& widths, const std::string& flag) {
      experiments::require(widths.size() >= 2, flag, "needs at least 2 widths for a slope");
      for (std::size_t i = 0; i < widths.size(); ++i) {
        experiments::require(widths[i] >= 1, flag, "widths must be >= 1");
        experiments::require(i == 0 || widths[i] > widths[i - 1], flag, "widths must be strictly increasing");
      }
      if (std::find(s.depths.begin(), s.depths.end(), depth) != s.depths.end()) plan.depths.push_back({depth, widths});
    };
    for (std::size_t depth : s.depths)
      experiments::require(depth == 1 || depth == 2, "--depths", fmt::format("hidden layers must be 1 or 2, got {}", depth));
    add_depth(1, s.widths_depth1, "--widths-depth1");
    add_depth(2, s.widths_depth2, "--widths-depth2");
    experiments::require(!plan.depths.empty(), "--depths", "give at least one depth");
    const auto require_number = [](double value, bool positive, const std::string& flag) {
      experiments::require(std::isfinite(value) && (positive ? value > 0.0 : value >= 0.0), flag,
                           fmt::format("must be a {} finite number, got {}", positive ? "positive" : "non-negative", value));
    };
    require_number(s.sw2, true, "--sw2");
    require_number(s.sb2, false, "--sb2");
    require_number(s.grid_half_width, true, "--grid-half-width");
    require_number(s.wide_params, false, "--wide-params");
    experiments::require(!s.activations.empty(), "--activations", "give at least one activation");
    for (const auto& name : s.activations) {
      try {
        plan.activations.push_back(nn::parse_activation(name));
      } catch (const std::exception& e) {
        throw std::invalid_argument(fmt::format("--activations: {}", e.what()));
      }
    }
    experiments::require(!s.parameterizations.empty(), "--parameterizations", "give ntk and/or standard");
    for (const auto& name : s.parameterizations) {
      experiments::require(name == "ntk" || name == "standard", "--parameterizations",
                           fmt::format("unknown parameterization '{}' (expected ntk or standard)", name));
      plan.parameterizations.push_back(nn::parse_parameterization(name));
    }

    // ---- inputs: the post's pair and the grid (1-D, one net), Gaussian points (10-D) ---------------
    const std::size_t n_post = s.post_inputs.size();
    Tensor one_d = Tensor::empty({n_post + s.grid_points, 1});
    for (std::size_t i = 0; i < n_post; ++i) one_d(i, 0) = s.post_inputs[i];
    for (std::size_t i = 0; i < s.grid_points; ++i)
      one_d(n_post + i, 0) =
          -s.grid_half_width + 2.0 * s.grid_half_width * static_cast<double>(i) / static_cast<double>(s.grid_points - 1);
    plan.input_seed = ctx.seed;
    plan.groups = {
        {"1-D", one_d, {{"post", 0, n_post}, {"grid", n_post, s.grid_points}}},
        {fmt::format("{}-D", s.random_dim), nn::standard_normal({s.random_points, s.random_dim}, plan.input_seed),
         {{"gaussian", 0, s.random_points}}}};

    References refs(plan);
    const double affine_deviation = compute_references(plan, s, refs);
    const std::vector<Draw> draws = plan_draws(plan, s, ctx.seed);
    const std::vector<std::vector<Tensor>> theta = empirical_kernels(plan, s, draws, ctx.threads);

    experiments::Table errors({"depth", "activation", "parameterization", "inputs", "width", "seed", "net_seed",
                               "reference", "rel_error", "empirical_norm", "reference_norm"});
    const std::map<SeriesKey, Series> series = measure_errors(plan, s, refs, draws, theta, errors);
    errors.write(ctx.file("errors.csv"));

    // ---- kernels on the 1-D inputs: the analytic ones, and seed 0 at the smallest and largest width --
    experiments::Table kernels({"depth", "activation", "parameterization", "inputs", "kernel", "width", "seed",
                                "normalization", "i", "j", "x_i", "x_j", "value"});
    for (std::size_t d = 0; d < plan.depths.size(); ++d)
      for (std::size_t a = 0; a < plan.activations.size(); ++a)
        for (std::size_t p = 0; p < plan.parameterizations.size(); ++p) {
          const bool standard = plan.parameterizations[p] == nn::Parameterization::standard;
          // kind "infinite": Θ_∞ or lim Θ_std(n)/n; "empirical": Θ_emp, divided by n when standard.
          const auto add = [&](const InputSet& set, const Tensor& m, const char* kind, std::size_t width,
                               long long seed, double scale) {
            for (std::size_t i = 0; i < set.count; ++i)
              for (std::size_t j = 0; j < set.count; ++j)
                kernels.add({cell(plan.depths[d].depth), cell(s.activations[a]), cell(s.parameterizations[p]),
                             cell(set.name), cell(kind), cell(width), cell(seed), cell(standard ? "per-width" : "none"),
                             cell(i), cell(j), cell(one_d(set.first + i, 0)), cell(one_d(set.first + j, 0)),
                             cell(scale * m(set.first + i, set.first + j))});
          };
          for (const InputSet& set : plan.groups[0].sets) {
            add(set, refs.at(d, a, p, 0).limit, "infinite", 0, -1, 1.0);
            for (std::size_t i = 0; i < draws.size(); ++i) {
              const Draw& draw = draws[i];
              const bool extreme = draw.width_index == 0 || draw.width_index + 1 == plan.depths[d].widths.size();
              if (draw.depth_index == d && draw.group == 0 && draw.parameterization == p && draw.seed == 0 && extreme)
                add(set, theta[i][a], "empirical", draw.width, 0, standard ? 1.0 / static_cast<double>(draw.width) : 1.0);
            }
          }
        }
    kernels.write(ctx.file("kernels.csv"));

    // ---- slopes, headlines, verdicts ------------------------------------------------------------
    experiments::Summary summary(ctx, "The NTK at initialization approaches its infinite-width limit",
                                 "Seeing the Kernel Regime");
    experiments::Table slopes({"depth", "activation", "parameterization", "inputs", "reference", "quantity",
                               "statistic", "fit_range", "width_min", "width_max", "slope", "ci_low", "ci_high",
                               "expected_low", "expected_high", "agrees"});
    std::uint64_t bootstrap_seed = ctx.seed + 1 + draws.size();  // after the nets' seeds
    // ‖B‖/‖A‖ of Θ_std(n) = n·A + B on an input set: the width beyond which the growing part dominates.
    const auto crossover_width = [&](const SeriesKey& key) {
      for (std::size_t g = 0; g < plan.groups.size(); ++g)
        for (const InputSet& set : plan.groups[g].sets)
          if (set.name == key.inputs) {
            const Reference& ref = refs.at(key.depth_index, key.activation, key.parameterization, g);
            return frobenius(block(ref.offset, set)) / frobenius(block(ref.limit, set));
          }
      return 0.0;
    };
    Tally ntk_tally, growth_tally, standard_tally, per_width_tally;
    for (const auto& [key, curve] : series) {
      const std::vector<std::size_t>& widths = plan.depths[key.depth_index].widths;
      const bool ntk_param = plan.parameterizations[key.parameterization] == nn::Parameterization::ntk;
      const std::string config = fmt::format("depth {} {} {} {}", plan.depths[key.depth_index].depth,
                                             s.activations[key.activation], s.parameterizations[key.parameterization],
                                             key.inputs);
      // Expected slope ranges. Errors: −1/2. Θ_emp/n against A: ‖B/n + fluctuations/n‖/‖A‖, an
      // O(1/n) bias plus O(1/√n) fluctuations, so between −1 (small n) and −1/2 (large n).
      // ‖Θ_emp‖_F: flat (NTK parameterization), ∝ n (standard, once n·A dominates B).
      const bool per_width = key.reference == "per-width-limit";
      const double err_low = per_width ? -1.0 : -0.5, err_high = -0.5;
      const auto add_row = [&](const char* quantity, const Statistic& statistic, const char* range, const Fit& f,
                               double low, double high) {
        const bool ok = agrees_with(f, low, high, s.slope_margin);
        slopes.add({cell(plan.depths[key.depth_index].depth), cell(s.activations[key.activation]),
                    cell(s.parameterizations[key.parameterization]), cell(key.inputs), cell(key.reference),
                    cell(quantity), cell(statistic.name), cell(range), cell(f.width_min), cell(f.width_max),
                    cell(f.fit.slope), cell(f.fit.ci.low), cell(f.fit.ci.high), cell(low), cell(high),
                    cell(ok ? "yes" : "no")});
        return ok;
      };
      std::map<std::string, Fit> fits;  // "<statistic> <range>"
      for (const Statistic& statistic : kStatistics)
        for (const char* range : {"all", "upper-half"}) {
          const std::size_t first = std::string(range) == "all" ? 0 : widths.size() / 2;
          if (widths.size() - first < 2) continue;
          const Fit f = fit_slope(widths, curve.rel_error, first, statistic, bootstrap_seed++, s.resamples);
          add_row("rel_error", statistic, range, f, err_low, err_high);
          fits[fmt::format("{} {}", statistic.name, range)] = f;
        }
      const auto also = [&](const char* name) {
        const auto it = fits.find(name);
        return it == fits.end() ? std::string("-") : experiments::with_ci(it->second.fit.slope, it->second.fit.ci);
      };
      const Fit& main_fit = fits.at("median all");
      const bool ok = agrees_with(main_fit, err_low, err_high, s.slope_margin);
      const std::string measured = experiments::with_ci(main_fit.fit.slope, main_fit.fit.ci);
      const std::string what = ntk_param ? "||Theta_emp - Theta_inf||/||Theta_inf||"
                               : per_width ? "||Theta_emp/n - lim Theta_std(n)/n||/||lim||"
                                           : "||Theta_emp - Theta_std(n)||/||Theta_std(n)||";
      const std::string fit_note =
          fmt::format("log-log fit of the median over seeds ({} per width, {} for nets over {:.3g} weights), widths {}..{}",
                      s.seeds, s.seeds_wide, s.wide_params, main_fit.width_min, main_fit.width_max);
      // The headlines: every NTK-parameterization curve; the standard ones on the Gaussian inputs
      // (every curve is in slopes.csv and in the overall verdicts' details).
      const bool headline = ntk_param || key.inputs == "gaussian";
      if (headline)
        summary.headline(fmt::format("slope of {} vs width, {}", what, config), main_fit.fit.slope, main_fit.fit.ci, fit_note);
      const std::string upper = also("median upper-half");
      if (ntk_param) {
        summary.verdict(
            fmt::format("{}: the NTK at initialization converges to the deterministic infinite-width NTK with error "
                        "O(width^-1/2)", config),
            "slope -0.5", measured, ok,
            fmt::format("off by {:+.3f}; agreement: -0.5 in the 95% CI or the slope within +-{} of it. Other fits: mean "
                        "{}, rms {}; upper half of the widths ({}..{}): median {}, rms {}",
                        main_fit.fit.slope + 0.5, s.slope_margin, also("mean all"), also("rms all"),
                        widths[widths.size() / 2], widths.back(), upper, also("rms upper-half")));
        ntk_tally.add(ok, config, measured);
      } else if (per_width) {
        per_width_tally.add(ok, config, fmt::format("{} (upper half {})", measured, upper));
      } else {
        standard_tally.add(ok, config, fmt::format("{} (upper half {}; n* = {:.3g})", measured, upper, crossover_width(key)));
        // The norm grows like n only once n·A dominates the width-independent B: the upper half.
        if (widths.size() >= 4) {
          const Fit growth =
              fit_slope(widths, curve.empirical_norm, widths.size() / 2, kStatistics[0], bootstrap_seed++, s.resamples);
          const bool grows = add_row("empirical_norm", kStatistics[0], "upper-half", growth, 1.0, 1.0);
          if (headline)
            summary.headline(fmt::format("slope of ||Theta_emp||_F vs width, {}", config), growth.fit.slope, growth.fit.ci,
                             fmt::format("median over seeds, widths {}..{}", growth.width_min, growth.width_max));
          growth_tally.add(grows, config, experiments::with_ci(growth.fit.slope, growth.fit.ci));
        }
      }
      if (ntk_param && widths.size() >= 4) {  // for the record: the NTK parameterization's norm is flat
        const Fit flat = fit_slope(widths, curve.empirical_norm, widths.size() / 2, kStatistics[0], bootstrap_seed++, s.resamples);
        add_row("empirical_norm", kStatistics[0], "upper-half", flat, 0.0, 0.0);
      }
    }
    slopes.write(ctx.file("slopes.csv"));
    const auto overall = [&](const std::string& claim, const std::string& expected, const Tally& t,
                             const std::string& why) {
      if (t.total == 0) return;
      summary.verdict(claim, expected, fmt::format("{} of {} configurations agree", t.agree, t.total), t.agree == t.total,
                      fmt::format("{}{}. Every configuration (95% CI): {}", why,
                                  t.disagree.empty() ? "" : fmt::format(". Disagree: {}", fmt::join(t.disagree, ", ")),
                                  fmt::join(t.all, "; ")));
    };
    overall("NTK parameterization, every configuration: the NTK at initialization becomes deterministic as the width "
            "grows (the post's \"An additional point\"; Jacot et al. 2018)",
            "error slope -0.5 everywhere", ntk_tally, "Fits of the median over seeds, all widths");
    overall("Standard parameterization: Theta has no finite limit, it grows like the width",
            "slope of ||Theta_emp||_F +1 everywhere (upper half of the widths)", growth_tally,
            "Every layer fed by n units adds n*K to Theta (dTheta/dW for W ~ N(0, sw2/n) is the layer input, summed "
            "over n units, instead of averaged as under the NTK parameterization's 1/sqrt(n) multiplier); Theta_std(n) "
            "= n*A + B exactly, so ||Theta|| ~ n once n >> ||B||/||A||");
    overall("Standard parameterization: Theta_emp follows the library's finite-width kernel Theta_std(n) with error "
            "O(width^-1/2)",
            "error slope -0.5 everywhere (all widths)", standard_tally,
            "The fluctuations of the layers fed by n units grow like sqrt(n), while B (the layers of fixed fan-in, "
            "e.g. the first layer's (x.x' + 1) term, x.x' not divided by d) does not grow: the relative error "
            "reaches its n^-1/2 regime only beyond n* = ||B||/||A|| and falls slower before it. Where the "
            "all-widths slope misses -0.5, the upper half of the widths should agree");
    overall("Standard parameterization: Theta/width converges to a deterministic kernel lim Theta_std(n)/n = A",
            "error slope between -1 and -0.5 everywhere (all widths)", per_width_tally,
            "Theta_emp/n - A = B/n + fluctuations/n: an O(1/n) bias plus O(n^-1/2) fluctuations. The limit A is the "
            "kernel of the layers fed by n units only (for one hidden layer the readout's NNGP): training under the "
            "standard parameterization with a learning rate ~ 1/n, the first layer's contribution vanishes "
            "(Sohl-Dickstein et al. 2020)");

    summary.settings = {{"widths_depth1", s.widths_depth1},
                        {"widths_depth2", s.widths_depth2},
                        {"seeds_per_width", s.seeds},
                        {"seeds_per_width_wide_nets", s.seeds_wide},
                        {"wide_net_params", s.wide_params},
                        {"activations", s.activations},
                        {"parameterizations", s.parameterizations},
                        {"sw2", s.sw2},
                        {"sb2_ntk_parameterization", s.sb2},
                        {"sb2_standard_parameterization", 0.0},
                        {"post_inputs", s.post_inputs},
                        {"grid_points", s.grid_points},
                        {"grid_half_width", s.grid_half_width},
                        {"random_points", s.random_points},
                        {"random_dim", s.random_dim},
                        {"bootstrap_resamples", s.resamples},
                        {"slope_margin", s.slope_margin},
                        {"slope_statistic", "median over seeds"},
                        {"empirical_ntk_method", "structured"}};
    summary.seeds.push_back(plan.input_seed);
    for (const Draw& draw : draws) summary.seeds.push_back(draw.net_seed);
    summary.expectation =
        "NTK parameterization: Theta_emp -> Theta_inf with relative Frobenius error O(width^-1/2) (slope -1/2). Standard "
        "parameterization: Theta grows like width (n*K from every layer fed by n units), so it has no finite limit; "
        "Theta_emp follows the width-dependent kernel Theta_std(n) with error O(width^-1/2), and Theta/width converges "
        "to lim Theta_std(n)/n.";
    std::size_t wide_nets = 0;
    for (const Draw& draw : draws) wide_nets += draw.params > s.wide_params ? 1 : 0;
    summary.extra = {
        {"nets", draws.size()},
        {"nets_with_seeds_wide", wide_nets},
        {"analytic_standard_kernel_affine_in_width_max_relative_deviation", affine_deviation},
        {"shared_weights",
         "MLP::init depends only on the layout and the parameterization, so the nets of different activations with one "
         "seed share their weights (common random numbers); the post's pair and the 1-D grid share each 1-D net"},
        {"standard_parameterization",
         "nn's standard parameterization with LeCun-normal init: W ~ N(0, sw2/fan_in), biases start at 0 (sb2 = 0) "
         "and their gradient counts in the NTK. Theta_std(n) = n*A + B exactly; A = lim Theta_std(n)/n"},
        {"cuts",
         fmt::format("none of the grid (depths x activations x parameterizations x 3 input sets x all widths); "
                     "seeds: {} per width, {} for the nets of more than {:.3g} weights (the two-hidden-layer nets of "
                     "width >= 2048 by default), whose initialization dominates the run time",
                     s.seeds, s.seeds_wide, s.wide_params)}};
    summary.write();
    std::fprintf(stderr, "infinite-width: %zu nets, %zu error rows; NTK parameterization: %zu of %zu slopes agree with "
                 "-1/2; results in %s\n", draws.size(), errors.rows(), ntk_tally.agree, ntk_tally.total, ctx.out.c_str());
  });
}
