// kappa-alpha: "Scaling the Output" of "Understanding the Neural Tangent Kernel" (Rajat V D,
// 2019) on the post's neural network instead of its 1-parameter toy model.
//
// Why: the post shows that multiplying a model that outputs 0 at initialization by α divides
// Chizat, Oyallon & Bach's inverse relative scale κ by α, so a large α makes any model lazy: its
// weights and its tangent kernel barely move while it trains. Its companion code measured this on
// a width-100 two-hidden-layer ReLU net (relative NTK change 108.5 at α = 0.01 down to 6.8e-5 at
// α = 1000, log-log slope about −1.35). This experiment redoes both on many draws:
//
//   model      y(w) = α (f(X, w) − f(X, w0)), f an MLP 1 → 100 → 100 → 1, ReLU, PyTorch's default
//              initialization (nn::Scaled(nn::centered(net, seed), α)): y(w0) = 0 exactly;
//   data       X = (−2, 0.5), ȳ = (3, −1), the post's 2-point data set;
//   α          10^linspace(−2, 3, 16); draws k = 0..19 of the network from seed + k.
//
//   kappa.csv     κ_α by ntk::kappa (matrix-free, tolerance 1e-10) with its three factors, and
//                 κ_α·α, which is the same number at every α (y(w0) = 0, so κ_α = ‖ȳ‖·ratio/α
//                 and the ratio ‖∇²y‖/‖∇y‖² scales as α/α²): the log-log slope is exactly −1;
//   training.csv  full-batch gradient descent on ½‖y(w) − ȳ‖²/α² (the post's normalized loss,
//                 so the outputs move on the same time scale at every α), learning rate 3e-4,
//                 4000 steps: the relative change of the 2×2 empirical NTK of the scaled model,
//                 ‖H_end − H_0‖_F/‖H_0‖_F, the relative weight change ‖w_end − w0‖/‖w0‖, the
//                 final normalized loss; a loss that turns non-finite is recorded as diverged.
//                 Three diagnostics explain what the slopes alone do not: the final residual of
//                 the linearized model (the kernel regime's prediction), how many hidden ReLUs
//                 changed sides at a training input (each makes the NTK jump), and η λmax(Θ)/α²
//                 at the start and the end (gradient descent is stable near a fit only below 2);
//   per_alpha.csv medians over the draws with bootstrap intervals, per α (what the figures band).
//
// Lazy-training theory: the weights move ~‖ȳ‖/(α‖∇f‖), so for large α the weight change and the
// NTK change (first order in the weight change) both fall like 1/α (slope −1). Two things bend
// that for this net: ReLU is not twice differentiable (κ does not see its kinks), and at the
// smallest α the NTK grows until gradient descent reaches the edge of stability, so the NTK change
// there is set by the learning rate.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "experiments/common/options.hpp"
#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"
#include "experiments/common/progress.hpp"
#include "experiments/common/stats.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/kappa.hpp"

namespace {

using autodiff::Tensor;
using experiments::cell;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The post's values ("Scaling the Output", companion code): relative NTK change at α = 0.01 and
// α = 1000, and the log-log slope of the NTK change with the first α left out.
constexpr double kPostNtkChangeSmallAlpha = 108.5, kPostSmallAlpha = 0.01;
constexpr double kPostNtkChangeLargeAlpha = 6.8e-5, kPostLargeAlpha = 1000.0;
constexpr double kPostNtkSlope = -1.35;
constexpr double kLazySlopeTolerance = 0.05;  // "slope −1 to leading order" (1/α² corrections)

struct Settings {
  std::size_t width = 100;  // both hidden layers
  double log10_alpha_min = -2.0, log10_alpha_max = 3.0;
  std::size_t alphas = 16;
  std::size_t seeds = 20;  // the post drew one network per α; ≥ 10 draws for the intervals
  double learning_rate = 3e-4;
  std::size_t steps = 4000;
  double kappa_tolerance = 1e-10;
  double lazy_alpha_min = 10.0;  // the lazy range α ≥ this, where theory predicts slope −1
  std::vector<double> x = {-2.0, 0.5};
  std::vector<double> y = {3.0, -1.0};
};

std::vector<double> alpha_grid(const Settings& s) {
  std::vector<double> alphas(s.alphas);
  for (std::size_t i = 0; i < s.alphas; ++i)
    alphas[i] = std::pow(10.0, s.log10_alpha_min + (s.log10_alpha_max - s.log10_alpha_min) * static_cast<double>(i) /
                                                       static_cast<double>(s.alphas - 1));
  return alphas;
}

Tensor column_tensor(const std::vector<double>& values) {
  Tensor t = Tensor::zeros({values.size(), 1});
  for (std::size_t i = 0; i < values.size(); ++i) t.flat(i) = values[i];
  return t;
}

// ‖a − b‖ / ‖b‖ over all entries (Frobenius for matrices); 0 exactly when a equals b.
double relative_distance(const Tensor& a, const Tensor& b) {
  double diff = 0.0, base = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff += (a.flat(i) - b.flat(i)) * (a.flat(i) - b.flat(i));
    base += b.flat(i) * b.flat(i);
  }
  return std::sqrt(diff) / std::sqrt(base);
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (std::size_t i = 0; i < t.size(); ++i) m = std::max(m, std::fabs(t.flat(i)));
  return m;
}

// The sign pattern of every hidden pre-activation of the MLP at every input (true: active). ReLU
// nets are piecewise linear in the hidden pre-activations, so the NTK jumps where a unit crosses
// its kink: counting the units that changed sides separates those jumps from the smooth change.
std::vector<bool> activation_pattern(const nn::MLP& net, const Tensor& w, const std::vector<double>& inputs) {
  std::vector<bool> pattern;
  const auto& layers = net.layers();
  for (double input : inputs) {
    std::vector<double> h = {input};
    for (std::size_t l = 0; l + 1 < layers.size(); ++l) {
      const nn::Dense& layer = layers[l];
      const std::size_t in = layer.config().in, out = layer.config().out;
      std::vector<double> next(out);
      for (std::size_t j = 0; j < out; ++j) {
        double z = 0.0;
        for (std::size_t i = 0; i < in; ++i) z += w.flat(layer.weight().offset + j * in + i) * h[i];
        z *= layer.weight_multiplier();
        if (layer.config().bias) z += layer.bias_multiplier() * w.flat(layer.bias().offset + j);
        pattern.push_back(z > 0.0);
        next[j] = std::max(z, 0.0);
      }
      h = std::move(next);
    }
  }
  return pattern;
}

std::size_t count_flips(const std::vector<bool>& a, const std::vector<bool>& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i] ? 1 : 0;
  return n;
}

// ‖r_T‖/‖r_0‖ for gradient descent on the linearized model: its residual r = y − ȳ follows
// r ← (I − (η/α²) Θ0) r exactly, Θ0 the scaled model's NTK at w0 (the loss is divided by α²).
// The kernel regime's prediction of the final residual.
double linearized_relative_residual(const Tensor& ntk0, const Tensor& residual0, double learning_rate, double alpha,
                                    std::size_t steps) {
  const std::size_t m = residual0.size();
  std::vector<double> r(m), next(m);
  double r0 = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    r[i] = residual0.flat(i);
    r0 += r[i] * r[i];
  }
  const double rate = learning_rate / (alpha * alpha);
  for (std::size_t t = 0; t < steps; ++t) {
    for (std::size_t i = 0; i < m; ++i) {
      double theta_r = 0.0;
      for (std::size_t j = 0; j < m; ++j) theta_r += ntk0.flat(i * m + j) * r[j];
      next[i] = r[i] - rate * theta_r;
    }
    r.swap(next);
  }
  double rt = 0.0;
  for (double v : r) rt += v * v;
  return std::sqrt(rt / r0);
}

// The largest eigenvalue of a symmetric 2×2 or general m×m kernel matrix, by power iteration on
// the (positive semidefinite) NTK: for the stability number of gradient descent.
double largest_eigenvalue(const Tensor& kernel) {
  const std::size_t m = static_cast<std::size_t>(std::llround(std::sqrt(static_cast<double>(kernel.size()))));
  if (m == 2) {  // closed form
    const double a = kernel.flat(0), b = 0.5 * (kernel.flat(1) + kernel.flat(2)), d = kernel.flat(3);
    return 0.5 * (a + d) + std::sqrt(0.25 * (a - d) * (a - d) + b * b);
  }
  std::vector<double> v(m, 1.0), next(m);
  double lambda = 0.0;
  for (int it = 0; it < 1000; ++it) {
    double n = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
      next[i] = 0.0;
      for (std::size_t j = 0; j < m; ++j) next[i] += kernel.flat(i * m + j) * v[j];
      n += next[i] * next[i];
    }
    n = std::sqrt(n);
    if (n == 0.0) return 0.0;
    for (std::size_t i = 0; i < m; ++i) v[i] = next[i] / n;
    if (std::fabs(n - lambda) <= 1e-14 * n) return n;
    lambda = n;
  }
  return lambda;
}

// Geometric means need positive draws: a run can reach a loss of exactly 0, and a 0-step run
// moves nothing.
bool all_positive(const std::vector<double>& v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](double d) { return d > 0.0; });
}

struct Outcome {
  // at w0
  double output_at_w0 = kNaN;  // max |y(w0)|: exactly 0 by the centering
  ntk::KappaResult kappa;
  // after training
  double ntk_change = kNaN, weight_change = kNaN, initial_loss = kNaN, final_loss = kNaN, relative_residual = kNaN;
  double linearized_residual = kNaN;  // the same for the linearized model (kernel regime)
  double activation_flips = kNaN;  // hidden units × inputs whose ReLU changed sides
  // η λmax(Θ)/α² at w0 and at the end: the top curvature of the normalized loss near a fit (its
  // Gauss–Newton part) times η; gradient descent is stable on it only below 2.
  double stability_start = kNaN, stability_end = kNaN;
  bool diverged = false;
  std::size_t steps_done = 0;  // updates made before the end (or before the loss turned non-finite)
};

// One (α, draw): κ at w0, then gradient descent on the normalized loss and how far the NTK and
// the weights moved.
Outcome run_one(const nn::MLP& net, const nn::Model& model, const Tensor& w0, const Tensor& x, const Tensor& y,
                double alpha, const Settings& s) {
  Outcome o;
  const Tensor output_at_w0 = model.predict(w0, x);
  o.output_at_w0 = max_abs(output_at_w0);
  ntk::KappaOptions kappa_options;
  kappa_options.tolerance = s.kappa_tolerance;
  o.kappa = ntk::kappa(model, w0, x, y, kappa_options);

  const Tensor ntk_start = ntk::empirical_ntk(model, w0, x);
  o.stability_start = s.learning_rate * largest_eigenvalue(ntk_start) / (alpha * alpha);
  o.linearized_residual =
      linearized_relative_residual(ntk_start, output_at_w0 - y, s.learning_rate, alpha, s.steps);
  nn::TrainConfig config;
  config.learning_rate = s.learning_rate;
  config.max_steps = s.steps;
  config.loss = nn::LossConfig{.reduction = nn::Reduction::sum, .divisor = alpha * alpha};
  nn::GradientDescent descent(model, w0, x, y, config);
  for (std::size_t step = 0;; ++step) {
    double loss = kNaN;
    // The inputs were checked by the constructor, so evaluate() throws only for a non-finite
    // loss: the run diverged at this step.
    try {
      loss = descent.evaluate();
    } catch (const autodiff::Error&) {
      o.diverged = true;
      o.steps_done = step;
      o.final_loss = std::numeric_limits<double>::infinity();
      return o;
    }
    if (step == 0) o.initial_loss = loss;
    if (step == s.steps) {
      o.final_loss = loss;
      o.steps_done = step;
      break;
    }
    descent.update();
  }
  const Tensor& w_end = descent.w();
  o.weight_change = relative_distance(w_end, w0);
  o.activation_flips =
      static_cast<double>(count_flips(activation_pattern(net, w0, s.x), activation_pattern(net, w_end, s.x)));
  const Tensor ntk_end = ntk::empirical_ntk(model, w_end, x);
  o.ntk_change = relative_distance(ntk_end, ntk_start);
  o.stability_end = s.learning_rate * largest_eigenvalue(ntk_end) / (alpha * alpha);
  // ½‖y − ȳ‖²/α² = final_loss, so ‖y − ȳ‖/‖ȳ‖ = α √(2 final_loss)/‖ȳ‖.
  o.relative_residual = alpha * std::sqrt(2.0 * o.final_loss) / std::sqrt(autodiff::sum(y * y).item());
  return o;
}

// A quantity of training.csv per α: its finite draws (diverged runs left out).
std::vector<std::vector<double>> finite_groups(const std::vector<std::vector<Outcome>>& outcomes,
                                               double Outcome::*field) {
  std::vector<std::vector<double>> groups(outcomes.size());
  for (std::size_t a = 0; a < outcomes.size(); ++a)
    for (const Outcome& o : outcomes[a])
      if (!o.diverged && std::isfinite(o.*field)) groups[a].push_back(o.*field);
  return groups;
}

struct RangeFit {
  experiments::SlopeFit fit;
  std::size_t points = 0;
  double alpha_low = kNaN, alpha_high = kNaN;
};

// Log-log slope of statistic(group) against α over the α with `from` ≤ α (index ≥ first_index),
// and only positive finite draws (a 0-step run moves nothing; the bootstrap may resample any draw
// and the geometric mean takes logs); NaN when fewer than two α remain.
RangeFit fit_range(const std::vector<double>& alphas, const std::vector<std::vector<double>>& groups,
                   std::size_t first_index, double from, const experiments::Statistic& statistic,
                   std::uint64_t seed) {
  std::vector<double> xs;
  std::vector<std::vector<double>> ys;
  for (std::size_t a = first_index; a < alphas.size(); ++a)
    if (alphas[a] >= from * (1.0 - 1e-12) && all_positive(groups[a])) {
      xs.push_back(alphas[a]);
      ys.push_back(groups[a]);
    }
  RangeFit r;
  r.points = xs.size();
  if (xs.size() < 2) {
    r.fit.slope = r.fit.intercept = r.fit.ci.low = r.fit.ci.high = kNaN;
    return r;
  }
  r.alpha_low = xs.front();
  r.alpha_high = xs.back();
  r.fit = experiments::loglog_slope(xs, ys, statistic, seed);
  return r;
}

nlohmann::json fit_json(const RangeFit& r, const std::string& statistic) {
  return {{"slope", r.fit.slope},        {"intercept_ln", r.fit.intercept}, {"ci_low", r.fit.ci.low},
          {"ci_high", r.fit.ci.high},    {"alpha_low", r.alpha_low},        {"alpha_high", r.alpha_high},
          {"points", r.points},          {"statistic", statistic}};
}

std::string slope_text(const RangeFit& r) {
  return fmt::format("{:.3f} [{:.3f}, {:.3f}] over alpha in [{:.3g}, {:.3g}] ({} values)", r.fit.slope, r.fit.ci.low,
                     r.fit.ci.high, r.alpha_low, r.alpha_high, r.points);
}

// The index of the α closest to `target` on a log scale, if within 1% of it; else alphas.size().
std::size_t alpha_index_near(const std::vector<double>& alphas, double target) {
  std::size_t best = 0;
  for (std::size_t a = 1; a < alphas.size(); ++a)
    if (std::fabs(std::log(alphas[a] / target)) < std::fabs(std::log(alphas[best] / target))) best = a;
  return std::fabs(std::log(alphas[best] / target)) < 0.01 ? best : alphas.size();
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment(
      "kappa-alpha", "Centered width-100 ReLU nets scaled by alpha: kappa_alpha and how far the NTK and the weights move "
                     "in training (\"Scaling the Output\", Understanding the Neural Tangent Kernel, Rajat V D, 2019)");
  auto& app = experiment.app();
  app.add_option("--width", s.width, "width of both hidden layers")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--log10-alpha-min", s.log10_alpha_min, "alpha = 10^linspace(this, --log10-alpha-max, --alphas)")
      ->check(CLI::Range(-8.0, 8.0))->capture_default_str();
  app.add_option("--log10-alpha-max", s.log10_alpha_max, "largest alpha, log10")
      ->check(CLI::Range(-8.0, 8.0))->capture_default_str();
  app.add_option("--alphas", s.alphas, "number of alpha values")->check(CLI::Range(2, 10000))->capture_default_str();
  experiment.quick(s.alphas, std::size_t{5});
  app.add_option("--seeds", s.seeds, "networks drawn (draw k from seed + k)")->check(CLI::Range(1, 100000))
      ->capture_default_str();
  experiment.quick(s.seeds, std::size_t{3});
  app.add_option("--lr", s.learning_rate, "learning rate of gradient descent")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--steps", s.steps, "gradient-descent steps (0: no training)")->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  experiment.quick(s.steps, std::size_t{300});
  app.add_option("--kappa-tolerance", s.kappa_tolerance, "relative tolerance of ntk::kappa (matrix-free)")
      ->check(CLI::Range(1e-15, 0.1))->capture_default_str();
  app.add_option("--lazy-alpha-min", s.lazy_alpha_min, "the lazy range alpha >= this, where theory predicts slope -1")
      ->check(CLI::PositiveNumber)->capture_default_str();

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    experiments::require(s.log10_alpha_min < s.log10_alpha_max, "--log10-alpha-min",
                         "must be below --log10-alpha-max");
    const std::vector<double> alphas = alpha_grid(s);
    const std::size_t n_alpha = alphas.size(), n_seed = s.seeds;
    const Tensor x = column_tensor(s.x), y = column_tensor(s.y);

    nn::MLPConfig net_config;
    net_config.hidden = {s.width, s.width};
    const auto net = std::make_shared<const nn::MLP>(net_config);
    std::vector<std::shared_ptr<nn::Centered>> centered(n_seed);  // draw k centered at init(seed + k)
    for (std::size_t k = 0; k < n_seed; ++k) centered[k] = nn::centered(net, ctx.seed + k);

    // Task t = (α index a, draw k), a = t / n_seed: every result lands in its own slot.
    std::vector<std::vector<Outcome>> outcomes(n_alpha, std::vector<Outcome>(n_seed));
    {
      experiments::Progress progress("kappa and training per (alpha, seed)", static_cast<double>(n_alpha * n_seed));
      experiments::parallel_for(
          n_alpha * n_seed, ctx.threads,
          [&](std::size_t t) {
            const std::size_t a = t / n_seed, k = t % n_seed;
            const nn::Scaled model(centered[k], alphas[a]);
            outcomes[a][k] = run_one(*net, model, centered[k]->w0(), x, y, alphas[a], s);
          },
          &progress);
    }

    // ---- Tables ----
    experiments::Table kappa_table({"alpha", "seed", "kappa", "residual_norm", "jacobian_norm", "hessian_norm", "ratio",
                                    "kappa_times_alpha", "output_at_w0", "converged", "hessian_products"});
    experiments::Table training_table({"alpha", "seed", "ntk_change", "weight_change", "initial_loss", "final_loss",
                                       "relative_residual", "linearized_relative_residual", "activation_flips", "stability_start", "stability_end", "diverged",
                                       "steps_done"});
    for (std::size_t a = 0; a < n_alpha; ++a)
      for (std::size_t k = 0; k < n_seed; ++k) {
        const Outcome& o = outcomes[a][k];
        const auto seed = static_cast<long long>(ctx.seed + k);
        kappa_table.add({cell(alphas[a]), cell(seed), cell(o.kappa.kappa), cell(o.kappa.residual_norm),
                         cell(o.kappa.jacobian_norm), cell(o.kappa.hessian_norm), cell(o.kappa.ratio),
                         cell(o.kappa.kappa * alphas[a]), cell(o.output_at_w0), cell(o.kappa.converged ? 1 : 0),
                         cell(o.kappa.hessian_products)});
        training_table.add({cell(alphas[a]), cell(seed), cell(o.ntk_change), cell(o.weight_change), cell(o.initial_loss),
                            cell(o.final_loss), cell(o.relative_residual), cell(o.linearized_residual),
                            cell(o.activation_flips), cell(o.stability_start), cell(o.stability_end), cell(o.diverged ? 1 : 0),
                            cell(o.steps_done)});
      }
    kappa_table.write(ctx.file("kappa.csv"));
    training_table.write(ctx.file("training.csv"));

    // ---- κ: κ_α·α per draw, its spread across α, and the per-draw log-log slope ----
    double worst_output = 0.0, worst_spread = 0.0, worst_slope_gap = 0.0;
    double worst_jacobian_spread = 0.0, worst_hessian_spread = 0.0;  // of ‖∇y‖/α and ‖∇²y‖/α: which factor varies
    const auto relative_spread = [](const std::vector<double>& v) {
      return (experiments::maximum(v) - experiments::minimum(v)) / experiments::median(v);
    };
    bool all_converged = true;
    std::vector<double> kappa_one(n_seed);  // κ_α·α, the unscaled centered net's κ (median over α)
    std::vector<double> log_alpha(n_alpha);
    for (std::size_t a = 0; a < n_alpha; ++a) log_alpha[a] = std::log(alphas[a]);
    for (std::size_t k = 0; k < n_seed; ++k) {
      std::vector<double> scaled_back(n_alpha), log_kappa(n_alpha), jacobian(n_alpha), hessian(n_alpha);
      for (std::size_t a = 0; a < n_alpha; ++a) {
        const Outcome& o = outcomes[a][k];
        worst_output = std::max(worst_output, o.output_at_w0);
        all_converged = all_converged && o.kappa.converged;
        scaled_back[a] = o.kappa.kappa * alphas[a];
        jacobian[a] = o.kappa.jacobian_norm / alphas[a];
        hessian[a] = o.kappa.hessian_norm / alphas[a];
        log_kappa[a] = std::log(o.kappa.kappa);
      }
      kappa_one[k] = experiments::median(scaled_back);
      worst_spread = std::max(worst_spread, relative_spread(scaled_back));
      worst_jacobian_spread = std::max(worst_jacobian_spread, relative_spread(jacobian));
      worst_hessian_spread = std::max(worst_hessian_spread, relative_spread(hessian));
      worst_slope_gap = std::max(worst_slope_gap, std::fabs(experiments::fit_line(log_alpha, log_kappa).slope + 1.0));
    }

    // ---- Training: per-α medians with bootstrap intervals, slopes ----
    const auto ntk_groups = finite_groups(outcomes, &Outcome::ntk_change);
    const auto weight_groups = finite_groups(outcomes, &Outcome::weight_change);
    const auto residual_groups = finite_groups(outcomes, &Outcome::relative_residual);
    const auto flip_groups = finite_groups(outcomes, &Outcome::activation_flips);
    const auto stability_groups = finite_groups(outcomes, &Outcome::stability_end);
    const experiments::Statistic median = [](const std::vector<double>& v) { return experiments::median(v); };
    const experiments::Statistic geometric = [](const std::vector<double>& v) { return experiments::geometric_mean(v); };
    std::uint64_t bootstrap_seed = ctx.seed + 1'000'003;  // one fresh bootstrap stream per interval
    const auto median_ci = [&](const std::vector<double>& v) {
      return v.size() >= 2 ? experiments::bootstrap_ci(v, median, bootstrap_seed++)
                           : experiments::Interval{kNaN, kNaN, 0.95, "fewer than 2 finite draws"};
    };

    experiments::Table per_alpha({"alpha", "quantity", "median", "ci_low", "ci_high", "geometric_mean", "minimum",
                                  "maximum", "finite_draws", "diverged"});
    nlohmann::json per_alpha_json = nlohmann::json::array();
    // The bootstrap intervals of the medians, drawn once and used by the table, headlines and verdicts.
    std::vector<experiments::Interval> ntk_ci(n_alpha), weight_ci(n_alpha);
    std::size_t diverged_total = 0;
    std::vector<std::size_t> diverged_per_alpha(n_alpha, 0);
    for (std::size_t a = 0; a < n_alpha; ++a)
      for (const Outcome& o : outcomes[a]) diverged_per_alpha[a] += o.diverged ? 1 : 0;
    for (std::size_t a = 0; a < n_alpha; ++a) {
      diverged_total += diverged_per_alpha[a];
      nlohmann::json entry = {{"alpha", alphas[a]}, {"diverged", diverged_per_alpha[a]}};
      experiments::Interval residual_ci, flips_ci, stability_ci;
      const std::tuple<const char*, const std::vector<double>*, experiments::Interval*> quantities[] = {
          {"ntk_change", &ntk_groups[a], &ntk_ci[a]},
          {"weight_change", &weight_groups[a], &weight_ci[a]},
          {"relative_residual", &residual_groups[a], &residual_ci},
          {"activation_flips", &flip_groups[a], &flips_ci},
          {"stability_end", &stability_groups[a], &stability_ci}};
      for (const auto& [name, draws, interval] : quantities) {
        const bool any = !draws->empty();
        const double med = any ? experiments::median(*draws) : kNaN;
        const experiments::Interval ci = *interval = median_ci(*draws);
        per_alpha.add({cell(alphas[a]), cell(name), cell(med), cell(ci.low), cell(ci.high),
                       cell(all_positive(*draws) ? experiments::geometric_mean(*draws) : kNaN),
                       cell(any ? experiments::minimum(*draws) : kNaN), cell(any ? experiments::maximum(*draws) : kNaN),
                       cell(draws->size()), cell(diverged_per_alpha[a])});
        entry[name] = {{"median", med}, {"ci_low", ci.low}, {"ci_high", ci.high}};
      }
      per_alpha_json.push_back(entry);
    }
    per_alpha.write(ctx.file("per_alpha.csv"));

    const double lowest = alphas.front();
    const RangeFit ntk_post_range = fit_range(alphas, ntk_groups, 1, 0.0, median, ctx.seed + 11);
    const RangeFit ntk_all = fit_range(alphas, ntk_groups, 0, 0.0, median, ctx.seed + 12);
    const RangeFit ntk_post_range_gm = fit_range(alphas, ntk_groups, 1, 0.0, geometric, ctx.seed + 13);
    const RangeFit ntk_lazy = fit_range(alphas, ntk_groups, 0, s.lazy_alpha_min, median, ctx.seed + 14);
    const RangeFit weight_all = fit_range(alphas, weight_groups, 0, 0.0, median, ctx.seed + 15);
    const RangeFit weight_lazy = fit_range(alphas, weight_groups, 0, s.lazy_alpha_min, median, ctx.seed + 16);
    double worst_residual = 0.0;
    for (const auto& g : residual_groups)
      for (double r : g) worst_residual = std::max(worst_residual, r);
    const double smallest_alpha_residual = residual_groups.front().empty() ? kNaN : experiments::maximum(residual_groups.front());
    // Kernel regime at the largest α: |final residual / the linearized model's − 1| per draw, and
    // how many of those runs had a ReLU change sides.
    std::vector<double> linearization_gaps;
    std::size_t flips_at_largest = 0;
    for (const Outcome& o : outcomes.back()) {
      linearization_gaps.push_back(o.diverged ? std::numeric_limits<double>::infinity()
                                              : std::fabs(o.relative_residual / o.linearized_residual - 1.0));
      flips_at_largest += (!o.diverged && o.activation_flips > 0.0) ? 1 : 0;
    }
    const double linearization_gap = experiments::median(linearization_gaps);
    const double worst_linearization_gap = experiments::maximum(linearization_gaps);

    // The smooth part of the NTK change: per draw, the log-log slope over the lazy range using only
    // the runs in which no ReLU changed sides (those jump; see activation_pattern), at least 3 α.
    std::vector<double> smooth_slopes;
    for (std::size_t k = 0; k < n_seed; ++k) {
      std::vector<double> lx, ly;
      for (std::size_t a = 0; a < n_alpha; ++a) {
        const Outcome& o = outcomes[a][k];
        if (alphas[a] >= s.lazy_alpha_min * (1.0 - 1e-12) && !o.diverged && o.activation_flips == 0.0 && o.ntk_change > 0.0) {
          lx.push_back(std::log(alphas[a]));
          ly.push_back(std::log(o.ntk_change));
        }
      }
      if (lx.size() >= 3) smooth_slopes.push_back(experiments::fit_line(lx, ly).slope);
    }
    const double smooth_slope = smooth_slopes.empty() ? kNaN : experiments::median(smooth_slopes);
    const experiments::Interval smooth_slope_ci = median_ci(smooth_slopes);
    double flips_lazy_mean = 0.0;  // mean flips per run at the lowest α of the lazy range, for the detail
    std::size_t lazy_first = n_alpha;
    for (std::size_t a = 0; a < n_alpha && lazy_first == n_alpha; ++a)
      if (alphas[a] >= s.lazy_alpha_min * (1.0 - 1e-12)) lazy_first = a;
    std::size_t runs_with_flips_lazy = 0, runs_lazy = 0;
    for (std::size_t a = lazy_first; a < n_alpha; ++a)
      for (const Outcome& o : outcomes[a]) {
        runs_lazy += o.diverged ? 0 : 1;
        runs_with_flips_lazy += (!o.diverged && o.activation_flips > 0.0) ? 1 : 0;
      }
    if (lazy_first < n_alpha && !flip_groups[lazy_first].empty()) flips_lazy_mean = experiments::mean(flip_groups[lazy_first]);

    // ---- Summary ----
    experiments::Summary summary(ctx, "kappa_alpha and the lazy regime of centered width-100 ReLU nets scaled by alpha",
                                 "Scaling the Output");
    summary.settings = {{"hidden", {s.width, s.width}},
                        {"activation", "relu"},
                        {"init", "torch_default"},
                        {"x", s.x},
                        {"y", s.y},
                        {"alpha_min", alphas.front()},
                        {"alpha_max", alphas.back()},
                        {"alphas", s.alphas},
                        {"seeds", s.seeds},
                        {"lr", s.learning_rate},
                        {"steps", s.steps},
                        {"loss", "sum reduction, 1/2 ||alpha*y - ybar||^2 / alpha^2"},
                        {"kappa_tolerance", s.kappa_tolerance},
                        {"lazy_alpha_min", s.lazy_alpha_min}};
    for (std::size_t k = 0; k < n_seed; ++k) summary.seeds.push_back(ctx.seed + k);
    summary.expectation =
        "The centered model outputs exactly 0 at w0, so kappa_alpha = ||ybar|| ||grad^2 y|| / (alpha ||grad y||^2): "
        "log-log slope exactly -1 in alpha. Trained on the loss divided by alpha^2, the NTK and the weights move less "
        "as alpha grows; the post's companion code found a relative NTK change of 108.5 at alpha = 0.01 and 6.8e-5 at "
        "alpha = 1000 (slope about -1.35 without the first alpha); lazy-training theory predicts slope -1 at large "
        "alpha for both the weight change and the NTK change.";
    summary.extra = {{"per_alpha", per_alpha_json},
                     {"fits",
                      {{"ntk_change_without_first_alpha", fit_json(ntk_post_range, "median")},
                       {"ntk_change_without_first_alpha_geometric_mean", fit_json(ntk_post_range_gm, "geometric mean")},
                       {"ntk_change_all_alphas", fit_json(ntk_all, "median")},
                       {"ntk_change_lazy_range", fit_json(ntk_lazy, "median")},
                       {"weight_change_all_alphas", fit_json(weight_all, "median")},
                       {"weight_change_lazy_range", fit_json(weight_lazy, "median")}}},
                     {"ntk_change_lazy_slopes_without_flips_per_seed", smooth_slopes},
                     {"lazy_range_runs_with_activation_flips", runs_with_flips_lazy},
                     {"lazy_range_runs", runs_lazy},
                     {"kappa_times_alpha_per_seed", kappa_one},
                     {"kappa_all_converged", all_converged},
                     {"diverged_runs", diverged_total},
                     {"post",
                      {{"ntk_change_alpha_0.01", kPostNtkChangeSmallAlpha},
                       {"ntk_change_alpha_1000", kPostNtkChangeLargeAlpha},
                       {"ntk_change_slope", kPostNtkSlope}}}};

    const auto ci_of_kappa_one = experiments::bootstrap_ci(kappa_one, median, bootstrap_seed++);
    summary.headline("kappa_alpha * alpha (kappa of the unscaled centered net)", experiments::median(kappa_one),
                     ci_of_kappa_one, "median over draws (per draw: median over alpha)");
    summary.headline("max relative spread of kappa_alpha * alpha across alpha", worst_spread,
                     "(max - min)/median over alpha, worst draw; 0 would be exact scale-equivariance");
    summary.headline("max relative spread of ||grad y|| / alpha across alpha", worst_jacobian_spread,
                     "worst draw: the Jacobian norm (exact, from the 2x2 NTK) scales with alpha to rounding");
    summary.headline("max relative spread of ||grad^2 y|| / alpha across alpha", worst_hessian_spread,
                     "worst draw: the Hessian norm (Lanczos to the tolerance) carries the spread of kappa_alpha * alpha");
    summary.headline("max |slope + 1| of log kappa_alpha vs log alpha", worst_slope_gap, "per-draw least squares, worst draw");
    summary.headline("max |y(w0)| of the centered model", worst_output, "over all alpha and draws (exactly 0 by centering)");
    for (std::size_t a : {std::size_t{0}, n_alpha - 1}) {
      summary.headline(fmt::format("relative NTK change at alpha = {:.4g}", alphas[a]),
                       ntk_groups[a].empty() ? kNaN : experiments::median(ntk_groups[a]), ntk_ci[a],
                       "median over non-diverged draws, bootstrap CI");
      summary.headline(fmt::format("relative weight change at alpha = {:.4g}", alphas[a]),
                       weight_groups[a].empty() ? kNaN : experiments::median(weight_groups[a]),
                       weight_ci[a], "median over non-diverged draws, bootstrap CI");
    }
    summary.headline("slope of NTK change vs alpha, first alpha left out", ntk_post_range.fit.slope, ntk_post_range.fit.ci,
                     "log-log fit on medians (the post's -1.35 range)");
    summary.headline("slope of NTK change vs alpha, first alpha left out, geometric means", ntk_post_range_gm.fit.slope,
                     ntk_post_range_gm.fit.ci, "log-log fit on geometric means");
    summary.headline("slope of NTK change vs alpha, all alpha", ntk_all.fit.slope, ntk_all.fit.ci, "log-log fit on medians");
    summary.headline(fmt::format("slope of NTK change vs alpha, alpha >= {:.3g}", s.lazy_alpha_min), ntk_lazy.fit.slope,
                     ntk_lazy.fit.ci, "log-log fit on medians: the lazy range");
    summary.headline(fmt::format("slope of NTK change vs alpha, alpha >= {:.3g}, runs without activation flips",
                                 s.lazy_alpha_min),
                     smooth_slope, smooth_slope_ci,
                     fmt::format("median over {} draws of the per-draw log-log slope over the runs in which no ReLU "
                                 "changed sides (at least 3 alpha per draw)",
                                 smooth_slopes.size()));
    summary.headline(fmt::format("runs with activation flips, alpha >= {:.3g}", s.lazy_alpha_min),
                     static_cast<double>(runs_with_flips_lazy),
                     fmt::format("of {}: a hidden ReLU changed sides at a training input during training", runs_lazy));
    summary.headline("slope of weight change vs alpha, all alpha", weight_all.fit.slope, weight_all.fit.ci,
                     "log-log fit on medians");
    summary.headline(fmt::format("slope of weight change vs alpha, alpha >= {:.3g}", s.lazy_alpha_min),
                     weight_lazy.fit.slope, weight_lazy.fit.ci, "log-log fit on medians: the lazy range");
    summary.headline(fmt::format("lr * lambda_max(NTK_end) / alpha^2 at alpha = {:.4g}", alphas.front()),
                     stability_groups.front().empty() ? kNaN : experiments::median(stability_groups.front()),
                     median_ci(stability_groups.front()),
                     "median: gradient descent is stable near a fit only below 2 (edge of stability)");
    summary.headline("diverged runs", static_cast<double>(diverged_total),
                     fmt::format("of {} (alpha, draw) runs: the loss turned non-finite", n_alpha * n_seed));
    summary.headline("largest final ||alpha y - ybar|| / ||ybar||", worst_residual, "over non-diverged runs");
    summary.headline(fmt::format("largest final ||alpha y - ybar|| / ||ybar|| at alpha = {:.4g}", alphas.front()),
                     smallest_alpha_residual, "over non-diverged draws");
    summary.headline(fmt::format("|residual / linearized residual - 1| at alpha = {:.4g}", alphas.back()),
                     linearization_gap, median_ci(linearization_gaps),
                     "the final residual against the linearized model's (kernel regime), median over draws");
    summary.headline(fmt::format("max |residual / linearized residual - 1| at alpha = {:.4g}", alphas.back()),
                     worst_linearization_gap, "worst draw");
    summary.headline(fmt::format("runs with activation flips at alpha = {:.4g}", alphas.back()),
                     static_cast<double>(flips_at_largest), fmt::format("of {}", n_seed));

    // ---- Verdicts ----
    summary.verdict("the centered model outputs exactly 0 at initialization", "max |y(w0)| = 0",
                    fmt::format("{:.3g}", worst_output), worst_output == 0.0,
                    worst_output == 0.0 ? "exact at every alpha and draw" : fmt::format("off by {:.3g}", worst_output));
    summary.verdict("kappa_alpha falls exactly like 1/alpha (slope -1)",
                    fmt::format("kappa_alpha * alpha constant across alpha to 1e-8 relative (tolerance {:.0e})",
                                s.kappa_tolerance),
                    fmt::format("max relative spread {:.3g}, max |slope + 1| {:.3g}", worst_spread, worst_slope_gap),
                    worst_spread <= 1e-8,
                    fmt::format("spread {:.2g} of 1e-8 (Jacobian norm / alpha {:.2g}, Hessian norm / alpha {:.2g}: "
                                "the Lanczos estimate of the Hessian norm, accurate to the tolerance, not bitwise "
                                "equivariant); every kappa run {}",
                                worst_spread, worst_jacobian_spread, worst_hessian_spread,
                                all_converged ? "converged" : "did NOT all converge"));
    summary.verdict("the NTK change falls with alpha like the post's companion code (slope about -1.35, first alpha "
                    "left out)",
                    "-1.35 within the bootstrap CI", slope_text(ntk_post_range),
                    ntk_post_range.fit.ci.low <= kPostNtkSlope && kPostNtkSlope <= ntk_post_range.fit.ci.high,
                    fmt::format("slope differs from -1.35 by {:+.3f}; on all alpha {:.3f} [{:.3f}, {:.3f}]",
                                ntk_post_range.fit.slope - kPostNtkSlope, ntk_all.fit.slope, ntk_all.fit.ci.low,
                                ntk_all.fit.ci.high));
    const auto lazy_verdict = [&](const std::string& what, const RangeFit& r, const std::string& more) {
      summary.verdict(fmt::format("in the lazy regime the {} falls like 1/alpha (theory)", what),
                      fmt::format("slope -1 +- {} (leading order) for alpha >= {:.3g}", kLazySlopeTolerance,
                                  s.lazy_alpha_min),
                      slope_text(r), std::fabs(r.fit.slope + 1.0) <= kLazySlopeTolerance,
                      fmt::format("slope differs from -1 by {:+.3f}; -1 {} the CI{}", r.fit.slope + 1.0,
                                  r.fit.ci.low <= -1.0 && -1.0 <= r.fit.ci.high ? "inside" : "outside", more));
    };
    lazy_verdict("NTK change", ntk_lazy,
                 fmt::format("; in {} of {} runs there a hidden ReLU changed sides (mean {:.2g} units at alpha = {:.3g}), "
                             "which makes the NTK jump: the median falls unevenly as such runs become rare",
                             runs_with_flips_lazy, runs_lazy, flips_lazy_mean,
                             lazy_first < n_alpha ? alphas[lazy_first] : kNaN));
    lazy_verdict("weight change", weight_lazy, "");
    summary.verdict(
        "without ReLU flips the NTK change falls like 1/alpha (theory: smooth change, first order in the weights)",
        fmt::format("slope -1 +- {} for alpha >= {:.3g}, per draw over its flip-free runs", kLazySlopeTolerance,
                    s.lazy_alpha_min),
        fmt::format("median {} over {} draws", experiments::with_ci(smooth_slope, smooth_slope_ci, 4),
                    smooth_slopes.size()),
        std::fabs(smooth_slope + 1.0) <= kLazySlopeTolerance,
        fmt::format("slope differs from -1 by {:+.3f}", smooth_slope + 1.0));
    const auto post_value_verdict = [&](double post_alpha, double post_value) {
      const std::size_t a = alpha_index_near(alphas, post_alpha);
      if (a == n_alpha || ntk_groups[a].empty()) {
        summary.extra["post_comparison_skipped"].push_back(
            fmt::format("alpha = {} not in the grid (or every run there diverged)", post_alpha));
        return;
      }
      const auto& draws = ntk_groups[a];
      const double med = experiments::median(draws), lo = experiments::minimum(draws), hi = experiments::maximum(draws);
      summary.verdict(fmt::format("the post's relative NTK change at alpha = {:g} is {:g}", post_alpha, post_value),
                      fmt::format("{:g} within the range of our draws (the post drew one network)", post_value),
                      fmt::format("median {} over {} draws, range [{:.3g}, {:.3g}]",
                                  experiments::with_ci(med, ntk_ci[a]), draws.size(), lo, hi),
                      lo <= post_value && post_value <= hi,
                      fmt::format("the post's value is {:.3g}x our median; at this alpha gradient descent ends with "
                                  "lr * lambda_max(NTK) / alpha^2 = {:.3g} (median; 2 is the edge of stability, it "
                                  "starts at {:.3g})",
                                  post_value / med,
                                  stability_groups[a].empty() ? kNaN : experiments::median(stability_groups[a]),
                                  experiments::median([&] {
                                    std::vector<double> v;
                                    for (const Outcome& o : outcomes[a]) v.push_back(o.stability_start);
                                    return v;
                                  }())));
    };
    post_value_verdict(kPostSmallAlpha, kPostNtkChangeSmallAlpha);
    post_value_verdict(kPostLargeAlpha, kPostNtkChangeLargeAlpha);
    std::string diverged_at;
    for (std::size_t a = 0; a < n_alpha; ++a)
      if (diverged_per_alpha[a] > 0)
        diverged_at += fmt::format("{}{:.3g} ({}x)", diverged_at.empty() ? "" : ", ", alphas[a], diverged_per_alpha[a]);
    summary.verdict("gradient descent on the normalized loss does not diverge at any alpha",
                    "no non-finite loss in any run", fmt::format("{} diverged of {}", diverged_total, n_alpha * n_seed),
                    diverged_total == 0,
                    diverged_total == 0 ? fmt::format("largest final relative residual {:.3g} after {} steps",
                                                      worst_residual, s.steps)
                                        : "diverged at alpha = " + diverged_at);
    summary.verdict("the smallest alpha also reaches 0 train loss (the post, 'Seeing the Kernel Regime')",
                    fmt::format("final ||alpha y - ybar|| / ||ybar|| < 1e-6 at alpha = {:.3g}", alphas.front()),
                    fmt::format("{:.3g} (worst draw)", smallest_alpha_residual), smallest_alpha_residual < 1e-6,
                    fmt::format("after {} steps", s.steps));
    summary.verdict("at the largest alpha training follows the linearized model (kernel regime)",
                    fmt::format("final residual within 1% of the linearized model's at alpha = {:.3g} (median draw)",
                                alphas.back()),
                    fmt::format("median |ratio - 1| = {:.3g}, worst draw {:.3g}", linearization_gap,
                                worst_linearization_gap),
                    linearization_gap <= 1e-2,
                    fmt::format("the linearized residual is (I - lr Theta0 / alpha^2)^steps applied to -ybar, Theta0 the "
                                "NTK at w0; {} of {} draws had a ReLU change sides at this alpha (ReLU is not twice "
                                "differentiable at its kink, which kappa does not see)",
                                flips_at_largest, n_seed));
    summary.write();
    std::fprintf(stderr,
                 "kappa-alpha: kappa*alpha spread %.2g; NTK change %.3g (alpha %.3g) to %.3g (alpha %.3g), slope %.3f "
                 "(first alpha left out); %zu diverged; results in %s\n",
                 worst_spread, ntk_groups.front().empty() ? kNaN : experiments::median(ntk_groups.front()), lowest,
                 ntk_groups.back().empty() ? kNaN : experiments::median(ntk_groups.back()), alphas.back(),
                 ntk_post_range.fit.slope, diverged_total, ctx.out.c_str());
  });
}
