// random-functions: the post's first figure, "100 randomly initialized 2-hidden layer, width-100
// relu networks" (section "Setup" of "Understanding the Neural Tangent Kernel", Rajat V D, 2019),
// and a test of the sentence after it: "these functions are equivalent to samples drawn from a
// Gaussian process as you take the hidden layer width to infinity".
//
//   functions.csv         f(x) of the post's 100 nets 1 -> 100 -> 100 -> 1 (relu, PyTorch's default
//                         initialization W, b ~ U(±1/√fan_in), net k drawn from seed + k) on 5000
//                         points of [-4, 4].
//   kernels.csv           on a small grid of x: the empirical covariance (1/N) Σ_k f_k(x) f_k(x′)
//                         over N nets (the mean is 0 exactly: every weight is symmetric about 0),
//                         the analytic NNGP kernel of the same architecture (ntk::serial with
//                         σ_w² = 1/3, σ_b² = 1/(3·fan_in) per layer: the variances of U(±1/√fan_in)),
//                         and the exact infinite-width limit of the PyTorch-initialized nets.
//   covariance_error.csv  ‖K_emp − K‖_F / ‖K‖_F against the number of nets (disjoint blocks of a
//                         pool) and against the hidden width, with the error that sampling alone
//                         would give (`noise`, estimated from the same nets), for two estimators
//                         of the same covariance: `plain` averages f(x) f(x′); `conditional`
//                         averages E[f(x) f(x′) | last hidden layer], which integrates the readout
//                         layer out exactly and is ~6-10x less noisy, so the finite-width bias
//                         (~1e-2 and below) becomes measurable with affordable numbers of nets.
//
// Why a second limit kernel: the NNGP formula assumes Gaussian pre-activations at every layer. The
// first layer of a 1-input net is z = w·x + b, ONE uniform product per unit — no sum, so no
// central limit: its pre-activations stay uniform-ish at any width, and E[relu(z) relu(z′)] under
// U(±1) weights differs from the Gaussian arc-cosine formula (the diagonal agrees: E[relu(z)²] =
// E[z²]/2 for any symmetric z). From the second layer on, sums over the width make the
// pre-activations Gaussian, so the PyTorch-default nets converge to the NNGP recursion started from
// the uniform first-layer kernel, computed here exactly (piecewise-polynomial integral, Gauss–
// Legendre on each piece). Nets with Gaussian weights of the same variances (`gaussian`) converge to
// the NNGP formula itself; both are measured against both kernels.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "experiments/common/options.hpp"
#include "experiments/common/points.hpp"
#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"
#include "experiments/common/progress.hpp"
#include "experiments/common/stats.hpp"
#include "nn/nn.hpp"
#include "ntk/infinite.hpp"

namespace {

using autodiff::Tensor;
using experiments::cell;

struct Settings {
  std::size_t width = 100;  // the post's width
  std::size_t nets = 100;   // the post's figure: 100 nets
  std::size_t points = 5000;
  double x_min = -4.0, x_max = 4.0;
  std::size_t grid = 21;          // covariance grid on [x_min, x_max]
  std::size_t pool = 10000;       // nets per weight distribution at the post's width (error vs nets)
  std::vector<std::size_t> widths = {10, 20, 50, 100, 200, 500, 1000};
  // Nets per width (error vs width): many where nets are cheap and the bias is large, few where
  // a net costs ~width² and the bias is below the noise anyway. The post's width uses its pool.
  std::vector<std::size_t> width_nets = {20000, 20000, 20000, 10000, 2000, 400, 100};
  std::size_t blocks = 20;        // disjoint blocks: the bias estimate's interval, the width bootstrap
  std::size_t resamples = 1000;   // bootstrap resamples of the width slope
};

// PyTorch's default U(±1/√fan_in), or Gaussian weights and biases of the same variances.
enum class Weights { torch_default, gaussian };
constexpr std::array<Weights, 2> kAllWeights = {Weights::torch_default, Weights::gaussian};
const char* name(Weights w) { return w == Weights::torch_default ? "torch_default" : "gaussian"; }

constexpr double kWeightVariance = 1.0 / 3.0;  // σ_w²: Var U(±1/√n) · n
double bias_variance(std::size_t fan_in) { return 1.0 / (3.0 * static_cast<double>(fan_in)); }

// A net 1 -> n -> n -> 1 with W, b ~ N(0, 1/(3·fan_in)) in every layer: the variances of PyTorch's
// default, Gaussian. nn::MLPConfig has one σ_b for all layers, so the layers are built here, in the
// NTK parameterization (z = σ_w/√fan_in·W h + σ_b·b, W, b ~ N(0, 1)), which has these variances.
class GaussianMatchedMlp : public nn::Model {
 public:
  explicit GaussianMatchedMlp(std::size_t width) {
    const std::array<std::size_t, 4> sizes = {1, width, width, 1};
    std::size_t offset = 0;
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
      const nn::DenseConfig config{.in = sizes[l],
                                   .out = sizes[l + 1],
                                   .bias = true,
                                   .parameterization = nn::Parameterization::ntk,
                                   .sw2 = kWeightVariance,
                                   .sb2 = bias_variance(sizes[l])};
      layers_.emplace_back(config, offset, fmt::format("layer{}", l + 1));
      offset += layers_.back().num_params();
    }
  }
  std::size_t input_dim() const override { return 1; }
  std::size_t output_dim() const override { return 1; }
  std::vector<nn::ParamBlock> layout() const override {
    std::vector<nn::ParamBlock> blocks;
    for (const auto& layer : layers_)
      for (const auto& b : layer.blocks()) blocks.push_back(b);
    return blocks;
  }
  Tensor init(std::uint64_t seed) const override {
    Tensor w = Tensor::empty({num_params()});
    for (const auto& layer : layers_) layer.init(w, seed);
    return w;
  }
  nn::Var forward(const nn::Var& w, const nn::Var& x) const override {
    nn::Var h = x;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      h = layers_[l].forward(w, h);
      if (l + 1 < layers_.size()) h = nn::activate(nn::Activation::relu, h);
    }
    return h;
  }
  std::string describe() const override { return "MLP gaussian weights with PyTorch-default variances"; }
  const std::vector<nn::Dense>& layers() const { return layers_; }

 private:
  std::vector<nn::Dense> layers_;
};

std::unique_ptr<nn::Model> make_net(Weights weights, std::size_t width) {
  if (weights == Weights::gaussian) return std::make_unique<GaussianMatchedMlp>(width);
  nn::MLPConfig config;
  config.hidden = {width, width};
  return std::make_unique<nn::MLP>(config);  // relu, standard parameterization, PyTorch's default init
}

// Net k of (weights, width) is drawn from seed + offset + k. The post's nets (PyTorch default at
// the post's width) have offset 0, so the figure's nets are seeds seed..seed+99 and the first
// nets of the covariance pool; every other (weights, width) has a stream of 10⁶ seeds of its own.
std::uint64_t seed_offset(Weights weights, std::size_t width, std::size_t post_width) {
  if (weights == Weights::torch_default && width == post_width) return 0;
  return 1'000'000ULL * (2ULL * width + (weights == Weights::gaussian ? 1ULL : 0ULL));
}

std::vector<double> linspace(double lo, double hi, std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = n == 1 ? lo : lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(n - 1);
  return v;
}

// ---- analytic kernels ---------------------------------------------------------------------------

// E[relu(w·x + b) relu(w·x′ + b)] for w, b ~ U(−1, 1): the first layer of a PyTorch-default net
// with one input (bound 1/√1). For fixed w the b-integral is a cubic in closed form; as a function of
// w it is a polynomial of degree ≤ 3 between the breakpoints w ∈ {0, ±1/x, ±1/x′}, so 4-point
// Gauss–Legendre on each piece is exact.
double uniform_relu_moment(double x, double x2) {
  const auto inner = [&](double w) {  // ∫_{-1}^{1} relu(a + b) relu(c + b) db
    const double a = w * x, c = w * x2;
    const double lower = std::max({-a, -c, -1.0});
    if (lower >= 1.0) return 0.0;
    const auto antiderivative = [&](double b) { return b * b * b / 3.0 + (a + c) * b * b / 2.0 + a * c * b; };
    return antiderivative(1.0) - antiderivative(lower);
  };
  std::vector<double> breaks = {-1.0, 0.0, 1.0};
  for (double v : {x, x2})
    if (std::fabs(v) > 1.0) {
      breaks.push_back(1.0 / v);
      breaks.push_back(-1.0 / v);
    }
  std::sort(breaks.begin(), breaks.end());
  static constexpr std::array<double, 4> nodes = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                                  0.8611363115940526};
  static constexpr std::array<double, 4> weights = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                                    0.3478548451374538};
  double integral = 0.0;
  for (std::size_t p = 0; p + 1 < breaks.size(); ++p) {
    const double mid = 0.5 * (breaks[p] + breaks[p + 1]), half = 0.5 * (breaks[p + 1] - breaks[p]);
    if (half <= 0.0) continue;
    for (std::size_t q = 0; q < nodes.size(); ++q) integral += half * weights[q] * inner(mid + half * nodes[q]);
  }
  return integral / 4.0;  // the density of (w, b) is 1/4 on the square
}

// The layers after the first relu of the 1 -> n -> n -> 1 net, as ntk::serial sees them.
std::vector<ntk::Layer> upper_layers(std::size_t width) {
  const ntk::DenseLayer hidden{kWeightVariance, bias_variance(width), true, nn::Parameterization::standard, width};
  const ntk::DenseLayer readout{kWeightVariance, bias_variance(width), true, nn::Parameterization::standard, 1};
  return {hidden, ntk::ActivationLayer{}, readout};
}

// The analytic NNGP kernel (Gaussian pre-activations everywhere) of the net on the grid.
Tensor nngp_kernel(const std::vector<double>& x, std::size_t width) {
  std::vector<ntk::Layer> layers = {
      ntk::DenseLayer{kWeightVariance, bias_variance(1), true, nn::Parameterization::standard, width},
      ntk::ActivationLayer{}};
  for (const auto& layer : upper_layers(width)) layers.push_back(layer);
  return ntk::serial(ntk::input_kernel(experiments::as_column(x), false), layers).nngp;
}

// The infinite-width limit of the PyTorch-default nets: the uniform first-layer moment, then the
// Gaussian recursion.
Tensor torch_limit_kernel(const std::vector<double>& x, std::size_t width) {
  const std::size_t g = x.size();
  ntk::Kernel k;
  k.nngp = Tensor::zeros({g, g});
  k.var1 = Tensor::zeros({g});
  for (std::size_t i = 0; i < g; ++i)
    for (std::size_t j = i; j < g; ++j) k.nngp(i, j) = k.nngp(j, i) = uniform_relu_moment(x[i], x[j]);
  for (std::size_t i = 0; i < g; ++i) {
    k.var1.flat(i) = k.nngp(i, i);
    const double exact = (x[i] * x[i] + 1.0) / 6.0;  // E[relu(z)²] = E[z²]/2, E[z²] = (x² + 1)/3
    if (std::fabs(k.nngp(i, i) - exact) > 1e-13 * exact)
      throw std::logic_error(fmt::format("uniform first-layer moment at x = {}: {} != (x^2 + 1)/6 = {}", x[i],
                                         k.nngp(i, i), exact));
  }
  k.var2 = k.var1;
  k.same_inputs = true;
  k.track_ntk = false;
  k.width = width;
  return ntk::serial(std::move(k), upper_layers(width)).nngp;
}

// ---- empirical covariances ----------------------------------------------------------------------

// The layers of either kind of net, for the forward pass that keeps the last hidden layer.
const std::vector<nn::Dense>& dense_layers(const nn::Model& model) {
  if (const auto* mlp = dynamic_cast<const nn::MLP*>(&model)) return mlp->layers();
  return dynamic_cast<const GaussianMatchedMlp&>(model).layers();
}

// Two estimates of E[f(x) f(x′)] from one net, on the upper triangle of the grid (i ≤ j):
//   plain:        f(x_i) f(x_j) — what "the empirical covariance of f over many nets" averages;
//   conditional:  E[f(x_i) f(x_j) | last hidden layer h] = σ_w²·(1/n) Σ_u h_u(x_i) h_u(x_j) + σ_b²,
//                 exact for any zero-mean readout weights of these variances (uniform or Gaussian),
//                 so its mean over nets is the same kernel, with the readout's randomness integrated
//                 out: far less noise, which is what makes the finite-width bias measurable.
struct NetEstimates {
  std::vector<double> f;            // g outputs
  std::vector<double> conditional;  // g(g+1)/2, upper triangle row by row
};

NetEstimates estimates(const nn::Model& model, const Tensor& w, const Tensor& x) {
  const auto& layers = dense_layers(model);
  autodiff::TapeScope scope;
  const nn::Var weights = scope.tape().constant(w);
  nn::Var h = scope.tape().constant(x);
  for (std::size_t l = 0; l + 1 < layers.size(); ++l) h = nn::activate(nn::Activation::relu, layers[l].forward(weights, h));
  const Tensor f = layers.back().forward(weights, h).value();
  const Tensor& hidden = h.value();  // (g, n)
  const std::size_t g = hidden.shape()[0], n = hidden.shape()[1];
  NetEstimates e;
  e.f.assign(f.data(), f.data() + g);
  for (std::size_t i = 0; i < g; ++i)
    for (std::size_t j = i; j < g; ++j) {
      double s = 0.0;
      for (std::size_t u = 0; u < n; ++u) s += hidden(i, u) * hidden(j, u);
      e.conditional.push_back(kWeightVariance * s / static_cast<double>(n) + bias_variance(n));
    }
  return e;
}

enum class Estimator { plain, conditional };
constexpr std::array<Estimator, 2> kAllEstimators = {Estimator::plain, Estimator::conditional};
const char* name(Estimator e) { return e == Estimator::plain ? "plain" : "conditional"; }

// Nets of one (weights, width) on the covariance grid.
struct Pool {
  Weights weights;
  std::size_t width;
  std::size_t count;
  std::uint64_t first_seed;
  std::vector<NetEstimates> nets;
};

// The mean of one estimator over the nets `rows` (exactly symmetric: upper triangle, mirrored),
// and its sampling noise sqrt(Σ_ij s²_ij / N), s²_ij the sample variance of entry (i, j) over the
// nets: the Frobenius error that sampling alone gives in expectation.
struct Covariance {
  Tensor matrix;
  double noise_frobenius = 0.0;
};

Covariance empirical_covariance(const Pool& pool, std::size_t g, Estimator estimator, const std::vector<std::size_t>& rows) {
  const double n = static_cast<double>(rows.size());
  const std::size_t entries = g * (g + 1) / 2;
  std::vector<double> sum(entries, 0.0), sum_sq(entries, 0.0);
  for (std::size_t r : rows) {
    const NetEstimates& e = pool.nets[r];
    for (std::size_t i = 0, t = 0; i < g; ++i)
      for (std::size_t j = i; j < g; ++j, ++t) {
        const double p = estimator == Estimator::plain ? e.f[i] * e.f[j] : e.conditional[t];
        sum[t] += p;
        sum_sq[t] += p * p;
      }
  }
  Covariance c;
  c.matrix = Tensor::zeros({g, g});
  double variance_sum = 0.0;
  for (std::size_t i = 0, t = 0; i < g; ++i)
    for (std::size_t j = i; j < g; ++j, ++t) {
      const double mean = sum[t] / n;
      c.matrix(i, j) = c.matrix(j, i) = mean;
      const double variance = rows.size() > 1 ? std::max(0.0, (sum_sq[t] / n - mean * mean) * n / (n - 1.0)) : 0.0;
      variance_sum += (i == j ? 1.0 : 2.0) * variance;
    }
  c.noise_frobenius = std::sqrt(variance_sum / n);
  return c;
}

double frobenius(const Tensor& a) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a.flat(i) * a.flat(i);
  return std::sqrt(s);
}

double relative_error(const Tensor& empirical, const Tensor& reference) {
  double s = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i)
    s += (empirical.flat(i) - reference.flat(i)) * (empirical.flat(i) - reference.flat(i));
  return std::sqrt(s) / frobenius(reference);
}

std::vector<std::size_t> range(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> v;
  for (std::size_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}

// 10, 20, 50, 100, ... up to `most` (and `most` itself).
std::vector<std::size_t> one_two_five(std::size_t least, std::size_t most) {
  std::vector<std::size_t> v;
  for (std::size_t decade = 1; decade <= most; decade *= 10)
    for (std::size_t m : {1, 2, 5})
      if (m * decade >= least && m * decade <= most) v.push_back(m * decade);
  if (v.empty() || v.back() != most) v.push_back(most);
  return v;
}

// The kernels a pool is measured against: the NNGP formula and the exact limit of its weights.
struct References {
  Tensor nngp, limit;
  const Tensor& limit_for(Weights w) const { return w == Weights::torch_default ? limit : nngp; }
};

// A relative bias ‖E K_emp − K‖/‖K‖ with its interval.
struct Bias {
  double value;
  experiments::Interval ci;
};

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment(
      "random-functions",
      "The post's 100 random width-100 relu nets on [-4, 4], and their covariance against the NNGP kernel "
      "against the number of nets and the width");
  auto& app = experiment.app();
  app.add_option("--width", s.width, "hidden width of the post's nets")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--nets", s.nets, "nets in the post's figure")->check(CLI::Range(1, 100000))->capture_default_str();
  experiment.quick(s.nets, std::size_t{10});
  app.add_option("--points", s.points, "x points per function")->check(CLI::Range(2, 1000000))->capture_default_str();
  experiment.quick(s.points, std::size_t{201});
  app.add_option("--x-min", s.x_min, "left end of the x range")->capture_default_str();
  app.add_option("--x-max", s.x_max, "right end of the x range")->capture_default_str();
  app.add_option("--grid", s.grid, "x points of the covariance grid")->check(CLI::Range(2, 1000))->capture_default_str();
  experiment.quick(s.grid, std::size_t{11});
  app.add_option("--pool", s.pool, "nets per weight distribution at the post's width (error vs number of nets)")
      ->check(CLI::Range(10, 999999))->capture_default_str();
  experiment.quick(s.pool, std::size_t{200});
  app.add_option("--widths", s.widths, "hidden widths (error vs width)")->check(CLI::Range(1, 100000))->capture_default_str();
  experiment.quick(s.widths, std::vector<std::size_t>{10, 30, 100});
  app.add_option("--width-nets", s.width_nets, "nets per width, one per --widths entry (error vs width)")
      ->check(CLI::Range(10, 999999))->capture_default_str();
  experiment.quick(s.width_nets, std::vector<std::size_t>{400, 400, 200});
  app.add_option("--blocks", s.blocks, "disjoint blocks of the pool (interval of the bias estimate)")
      ->check(CLI::Range(2, 1000))->capture_default_str();
  app.add_option("--resamples", s.resamples, "bootstrap resamples of the width slope")->check(CLI::Range(10, 100000))->capture_default_str();
  experiment.quick(s.resamples, std::size_t{50});

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    experiments::require(std::isfinite(s.x_min) && std::isfinite(s.x_max) && s.x_min < s.x_max, "--x-min/--x-max",
                         "need finite x-min < x-max");
    experiments::require(std::is_sorted(s.widths.begin(), s.widths.end()) &&
                             std::adjacent_find(s.widths.begin(), s.widths.end()) == s.widths.end(),
                         "--widths", "must be increasing");
    experiments::require(s.widths.size() >= 2, "--widths", "need at least two widths for a slope");
    experiments::require(s.pool >= 10 * s.blocks, "--pool", fmt::format("need at least 10 nets per block ({} blocks)", s.blocks));
    experiments::require(s.width_nets.size() == s.widths.size(), "--width-nets",
                         fmt::format("{} values for {} widths", s.width_nets.size(), s.widths.size()));
    for (std::size_t n : s.width_nets)
      experiments::require(n >= s.blocks, "--width-nets", fmt::format("need at least --blocks = {} nets per width", s.blocks));

    // ---- the post's figure: 100 nets on 5000 points ------------------------------------------
    const std::vector<double> xs = linspace(s.x_min, s.x_max, s.points);
    const Tensor x_points = experiments::as_column(xs);
    const auto post_model = make_net(Weights::torch_default, s.width);
    std::vector<Tensor> functions(s.nets);
    {
      experiments::Progress progress("the post's nets", static_cast<double>(s.nets));
      experiments::parallel_for(s.nets, ctx.threads, [&](std::size_t k) {
        functions[k] = post_model->predict(post_model->init(ctx.seed + k), x_points);
      }, &progress);
    }
    experiments::Table function_table({"net", "seed", "x", "f"});
    for (std::size_t k = 0; k < s.nets; ++k)
      for (std::size_t i = 0; i < s.points; ++i)
        function_table.add({cell(k), cell(static_cast<long long>(ctx.seed + k)), cell(xs[i]), cell(functions[k].flat(i))});
    function_table.write(ctx.file("functions.csv"));

    // ---- pools of nets on the covariance grid ------------------------------------------------
    const std::vector<double> grid = linspace(s.x_min, s.x_max, s.grid);
    const Tensor x_grid = experiments::as_column(grid);
    const std::size_t g = s.grid;
    std::vector<std::size_t> all_widths = s.widths;
    if (std::find(all_widths.begin(), all_widths.end(), s.width) == all_widths.end()) {
      all_widths.push_back(s.width);
      std::sort(all_widths.begin(), all_widths.end());
    }
    const auto nets_at_width = [&](std::size_t width) {
      return s.width_nets[static_cast<std::size_t>(std::find(s.widths.begin(), s.widths.end(), width) - s.widths.begin())];
    };
    std::vector<Pool> pools;
    for (Weights weights : kAllWeights)
      for (std::size_t width : all_widths) {
        const bool swept = std::find(s.widths.begin(), s.widths.end(), width) != s.widths.end();
        const std::size_t count = std::max(width == s.width ? s.pool : 0, swept ? nets_at_width(width) : 0);
        pools.push_back({weights, width, count, ctx.seed + seed_offset(weights, width, s.width), {}});
        pools.back().nets.resize(count);
      }
    struct Task {
      std::size_t pool, net;
    };
    std::vector<Task> tasks;
    for (std::size_t p = 0; p < pools.size(); ++p)
      for (std::size_t k = 0; k < pools[p].count; ++k) tasks.push_back({p, k});
    std::vector<std::unique_ptr<nn::Model>> models;
    for (const Pool& pool : pools) models.push_back(make_net(pool.weights, pool.width));
    // Cost of a net ~ width² (its draws and its products on the grid).
    const auto cost = [&](std::size_t t) {
      const double n = static_cast<double>(pools[tasks[t].pool].width);
      return n * n * (static_cast<double>(g) + 8.0) + 1e4;
    };
    double total_cost = 0.0;
    for (std::size_t t = 0; t < tasks.size(); ++t) total_cost += cost(t);
    {
      experiments::Progress progress("nets on the covariance grid", total_cost);
      experiments::parallel_for(tasks.size(), ctx.threads, [&](std::size_t t) {
        Pool& pool = pools[tasks[t].pool];
        const nn::Model& model = *models[tasks[t].pool];
        pool.nets[tasks[t].net] = estimates(model, model.init(pool.first_seed + tasks[t].net), x_grid);
      }, &progress, cost);
    }
    const auto find_pool = [&](Weights weights, std::size_t width) -> const Pool& {
      for (const Pool& p : pools)
        if (p.weights == weights && p.width == width) return p;
      throw std::logic_error("no pool");
    };
    std::vector<References> references(all_widths.size());
    const auto references_at = [&](std::size_t width) -> const References& {
      return references[static_cast<std::size_t>(std::find(all_widths.begin(), all_widths.end(), width) - all_widths.begin())];
    };
    for (std::size_t w = 0; w < all_widths.size(); ++w)
      references[w] = {nngp_kernel(grid, all_widths[w]), torch_limit_kernel(grid, all_widths[w])};
    const References& post_refs = references_at(s.width);
    const double limit_discrepancy = relative_error(post_refs.limit, post_refs.nngp);

    experiments::Table errors(
        {"sweep", "weights", "estimator", "width", "nets", "block", "error_vs_nngp", "error_vs_limit", "noise"});
    struct Measured {
      double vs_nngp, vs_limit, noise;  // relative to ‖K‖ of the reference
    };
    const auto measure = [&](const char* sweep, const Pool& pool, Estimator estimator, const std::vector<std::size_t>& rows,
                             std::size_t block) {
      const References& refs = references_at(pool.width);
      const Tensor& limit = refs.limit_for(pool.weights);
      const Covariance c = empirical_covariance(pool, g, estimator, rows);
      const Measured m{relative_error(c.matrix, refs.nngp), relative_error(c.matrix, limit),
                       c.noise_frobenius / frobenius(limit)};
      errors.add({cell(sweep), cell(name(pool.weights)), cell(name(estimator)), cell(pool.width), cell(rows.size()),
                  cell(block), cell(m.vs_nngp), cell(m.vs_limit), cell(m.noise)});
      return m;
    };

    // ---- error against the number of nets, at the post's width -------------------------------
    // Disjoint blocks of N nets of the pool; the slope of the plain estimator's error against its
    // limit kernel is fitted where there are at least 10 blocks to resample.
    const std::vector<std::size_t> net_counts = one_two_five(10, s.pool);
    std::array<experiments::SlopeFit, 2> nets_fits;
    std::array<std::vector<double>, 2> fitted_counts;
    for (std::size_t wi = 0; wi < kAllWeights.size(); ++wi) {
      const Pool& pool = find_pool(kAllWeights[wi], s.width);
      std::vector<std::vector<double>> groups;
      for (Estimator estimator : kAllEstimators)
        for (std::size_t n : net_counts) {
          std::vector<double> block_errors;
          for (std::size_t b = 0; b < s.pool / n; ++b)
            block_errors.push_back(measure("nets", pool, estimator, range(b * n, (b + 1) * n), b).vs_limit);
          if (estimator == Estimator::plain && block_errors.size() >= 10) {
            groups.push_back(block_errors);
            fitted_counts[wi].push_back(static_cast<double>(n));
          }
        }
      nets_fits[wi] = experiments::loglog_slope(fitted_counts[wi], groups, experiments::mean, ctx.seed + 17 + wi);
    }

    // The bias of the conditional estimate at the post's width (what is left when the sampling
    // noise is taken out): in each of `blocks` disjoint blocks of the pool, error² − noise² is an
    // unbiased estimate of ‖E K_emp − K‖²/‖K‖²; their mean gets a Student-t interval, and the
    // relative bias is its square root. `paired` compares two references on the same blocks
    // (the noise cancels): the mean of error²(first) − error²(second).
    const std::size_t per_block = s.pool / s.blocks;
    const auto block_covariances = [&](const Pool& pool) {
      std::vector<Covariance> cs;
      for (std::size_t b = 0; b < s.blocks; ++b)
        cs.push_back(empirical_covariance(pool, g, Estimator::conditional, range(b * per_block, (b + 1) * per_block)));
      return cs;
    };
    const std::string bias_method = fmt::format(
        "square root of a Student-t interval of error^2 - noise^2 over {} disjoint blocks of {} nets (conditional "
        "estimator)", s.blocks, per_block);
    const auto bias_estimate = [&](const std::vector<Covariance>& cs, const Tensor& reference) {
      std::vector<double> squared;
      for (const Covariance& c : cs) {
        const double e = relative_error(c.matrix, reference), noise = c.noise_frobenius / frobenius(reference);
        squared.push_back(e * e - noise * noise);
      }
      experiments::Interval ci = experiments::mean_ci(squared);
      const auto root = [](double v) { return v > 0.0 ? std::sqrt(v) : 0.0; };
      ci = {root(ci.low), root(ci.high), ci.level, bias_method};
      return Bias{root(experiments::mean(squared)), ci};
    };
    const std::vector<Covariance> torch_blocks = block_covariances(find_pool(Weights::torch_default, s.width));
    const std::vector<Covariance> gaussian_blocks = block_covariances(find_pool(Weights::gaussian, s.width));
    const Bias torch_vs_nngp = bias_estimate(torch_blocks, post_refs.nngp);
    const Bias torch_vs_limit = bias_estimate(torch_blocks, post_refs.limit);
    const Bias gaussian_vs_nngp = bias_estimate(gaussian_blocks, post_refs.nngp);
    std::vector<double> paired;
    for (const Covariance& c : torch_blocks)
      paired.push_back(std::pow(relative_error(c.matrix, post_refs.nngp), 2) - std::pow(relative_error(c.matrix, post_refs.limit), 2));
    const double paired_mean = experiments::mean(paired);
    const experiments::Interval paired_ci = experiments::mean_ci(paired);

    // ---- error against the width --------------------------------------------------------------
    struct WidthPoint {
      std::size_t width, nets;
      Measured plain, conditional;
    };
    std::array<std::vector<WidthPoint>, 2> width_sweeps;
    for (std::size_t wi = 0; wi < kAllWeights.size(); ++wi)
      for (std::size_t width : s.widths) {
        const Pool& pool = find_pool(kAllWeights[wi], width);
        const std::vector<std::size_t> rows = range(0, nets_at_width(width));
        width_sweeps[wi].push_back({width, rows.size(), measure("width", pool, Estimator::plain, rows, 0),
                                    measure("width", pool, Estimator::conditional, rows, 0)});
      }
    errors.write(ctx.file("covariance_error.csv"));

    // Slope of the finite-width bias against the width: the conditional error against the limit
    // kernel with the sampling noise taken out, sqrt(error² − noise²), over the widths where the
    // error is at least twice the noise (the bias dominates there; beyond, the error is the noise
    // floor), with a bootstrap over the nets of every width.
    struct WidthFit {
      std::vector<std::size_t> fitted;  // widths
      experiments::LineFit fit;
      experiments::Interval ci;
    };
    std::array<WidthFit, 2> width_fits;
    for (std::size_t wi = 0; wi < kAllWeights.size(); ++wi) {
      WidthFit& wf = width_fits[wi];
      std::vector<double> lx, ly, noise;
      for (const WidthPoint& p : width_sweeps[wi])
        if (p.conditional.vs_limit >= 2.0 * p.conditional.noise) {
          wf.fitted.push_back(p.width);
          noise.push_back(p.conditional.noise);
          lx.push_back(std::log(static_cast<double>(p.width)));
          ly.push_back(0.5 * std::log(p.conditional.vs_limit * p.conditional.vs_limit - p.conditional.noise * p.conditional.noise));
        }
      if (wf.fitted.size() < 2) {
        wf.fit = {std::nan(""), std::nan(""), std::nan("")};
        wf.ci = {std::nan(""), std::nan(""), 0.95, "too few bias-dominated widths"};
        continue;
      }
      wf.fit = experiments::fit_line(lx, ly);
      // Bootstrap over the nets, by blocks: the block means are i.i.d., so a resample is the
      // mean of `blocks` block means drawn with replacement (cheap at 20000 nets per width).
      std::vector<std::vector<Covariance>> width_blocks;
      for (std::size_t width : wf.fitted) {
        const std::size_t count = nets_at_width(width);
        std::vector<Covariance> cs;
        for (std::size_t b = 0; b < s.blocks; ++b)
          cs.push_back(empirical_covariance(find_pool(kAllWeights[wi], width), g, Estimator::conditional,
                                            range(b * count / s.blocks, (b + 1) * count / s.blocks)));
        width_blocks.push_back(std::move(cs));
      }
      std::vector<double> slopes(s.resamples);
      nn::Rng rng(ctx.seed + 1000 + wi);
      for (double& slope : slopes) {
        std::vector<double> y(wf.fitted.size());
        for (std::size_t f = 0; f < wf.fitted.size(); ++f) {
          Tensor mean = Tensor::zeros({g, g});
          for (std::size_t b = 0; b < s.blocks; ++b) {
            const Tensor& m = width_blocks[f][static_cast<std::size_t>(rng.uniform() * static_cast<double>(s.blocks))].matrix;
            for (std::size_t i = 0; i < m.size(); ++i) mean.flat(i) += m.flat(i) / static_cast<double>(s.blocks);
          }
          const double e = relative_error(mean, references_at(wf.fitted[f]).limit_for(kAllWeights[wi]));
          y[f] = 0.5 * std::log(std::max(e * e - noise[f] * noise[f], 1e-300));
        }
        slope = experiments::fit_line(lx, y).slope;
      }
      wf.ci = {experiments::quantile(slopes, 0.025), experiments::quantile(slopes, 0.975), 0.95,
               fmt::format("bootstrap percentile over {} blocks of nets at every width ({} resamples)", s.blocks, s.resamples)};
    }

    // ---- kernels on the grid at the post's width, from the whole pool -------------------------
    const std::vector<std::size_t> whole_pool = range(0, s.pool);
    std::array<std::array<Covariance, 2>, 2> full;  // [weights][estimator]
    for (std::size_t wi = 0; wi < kAllWeights.size(); ++wi)
      for (std::size_t ei = 0; ei < kAllEstimators.size(); ++ei)
        full[wi][ei] = empirical_covariance(find_pool(kAllWeights[wi], s.width), g, kAllEstimators[ei], whole_pool);
    experiments::Table kernels({"x", "x2", "empirical_torch_default", "empirical_gaussian", "conditional_torch_default",
                                "conditional_gaussian", "nngp", "torch_limit"});
    for (std::size_t i = 0; i < g; ++i)
      for (std::size_t j = 0; j < g; ++j)
        kernels.add({cell(grid[i]), cell(grid[j]), cell(full[0][0].matrix(i, j)), cell(full[1][0].matrix(i, j)),
                     cell(full[0][1].matrix(i, j)), cell(full[1][1].matrix(i, j)), cell(post_refs.nngp(i, j)),
                     cell(post_refs.limit(i, j))});
    kernels.write(ctx.file("kernels.csv"));

    // ---- summary -------------------------------------------------------------------------------
    experiments::Summary summary(ctx, "Random relu nets at initialization and their Gaussian-process limit", "Setup");
    summary.settings = {{"width", s.width},   {"depth", 2},          {"nets", s.nets},
                        {"points", s.points}, {"x_min", s.x_min},    {"x_max", s.x_max},
                        {"grid", s.grid},     {"pool", s.pool},      {"widths", s.widths},
                        {"width_nets", s.width_nets}, {"blocks", s.blocks},
                        {"resamples", s.resamples},
                        {"init", "torch_default: W, b ~ U(+-1/sqrt(fan_in)); gaussian: W, b ~ N(0, 1/(3 fan_in))"}};
    for (std::size_t k = 0; k < s.nets; ++k) summary.seeds.push_back(ctx.seed + k);
    nlohmann::json streams = nlohmann::json::array();
    for (const Pool& p : pools)
      streams.push_back({{"weights", name(p.weights)}, {"width", p.width}, {"first_seed", p.first_seed}, {"nets", p.count}});
    summary.extra = {{"covariance_seed_streams", streams},
                     {"sigma_w2", kWeightVariance},
                     {"sigma_b2", "1/(3 fan_in): 1/3 in the first layer, 1/(3 width) after"},
                     {"net_counts", net_counts},
                     {"estimators",
                      "plain: f(x) f(x') per net; conditional: E[f(x) f(x') | last hidden layer] = (1/3) mean_u h_u(x) "
                      "h_u(x') + 1/(3 width), exact for the readout's variances, same mean, less noise"}};
    summary.expectation =
        "The post: the random functions become samples of a Gaussian process as the width grows. Theory: with "
        "Gaussian weights the empirical covariance converges to the analytic NNGP kernel, its error falling like "
        "N^-1/2 in the number of nets N until the finite-width bias (~1/width) dominates. PyTorch-default (uniform) "
        "nets with one input keep a non-Gaussian first layer, so they converge to a kernel that differs from the "
        "Gaussian formula by a fixed amount, computed here.";

    const std::array<Bias, 2> own_limit_bias = {torch_vs_limit, gaussian_vs_nngp};
    for (std::size_t wi = 0; wi < kAllWeights.size(); ++wi) {
      const std::string who = name(kAllWeights[wi]);
      const std::string limit_name = wi == 0 ? "the uniform-first-layer limit kernel" : "the NNGP kernel";
      const auto& fit = nets_fits[wi];
      summary.headline(fmt::format("slope of the error vs number of nets ({})", who), fit.slope, fit.ci,
                       fmt::format("log-log, plain empirical covariance against {} at width {}, N = {}..{} (at least 10 "
                                   "disjoint blocks each)",
                                   limit_name, s.width, fitted_counts[wi].front(), fitted_counts[wi].back()));
      summary.verdict(fmt::format("{} nets: the covariance error falls like N^-1/2", who), "slope -0.5 within the 95% CI",
                      experiments::with_ci(fit.slope, fit.ci), fit.ci.low <= -0.5 && -0.5 <= fit.ci.high,
                      fmt::format("slope differs from -0.5 by {:.3f}", fit.slope + 0.5));
      summary.headline(fmt::format("finite-width bias vs {} at width {} ({})", limit_name, s.width, who),
                       own_limit_bias[wi].value, own_limit_bias[wi].ci,
                       "relative Frobenius ||E K_emp - K|| / ||K||, sampling noise removed");
      const WidthFit& wf = width_fits[wi];
      std::string fitted;
      for (std::size_t w : wf.fitted) fitted += fmt::format("{}{}", fitted.empty() ? "" : ",", w);
      summary.headline(fmt::format("slope of the finite-width bias vs width ({})", who), wf.fit.slope, wf.ci,
                       fmt::format("log-log, bias sqrt(error^2 - noise^2) of the conditional estimate against {}, "
                                   "fitted over widths {{{}}} where the error is at least twice the sampling noise",
                                   limit_name, fitted));
      const bool resolved = wf.fitted.size() >= 2;
      summary.verdict(fmt::format("{} nets: the finite-width bias falls like 1/width", who), "slope -1 within the 95% CI",
                      resolved ? experiments::with_ci(wf.fit.slope, wf.ci) : "not resolved",
                      resolved && wf.ci.low <= -1.0 && -1.0 <= wf.ci.high,
                      resolved ? fmt::format("slope differs from -1 by {:.3f} over widths {{{}}}{}", wf.fit.slope + 1.0, fitted,
                                             std::fabs(wf.fit.slope + 1.0) > 0.1
                                                 ? " (a possible cause of a shallower slope: relu's kernel map is not "
                                                   "smooth at correlation 1, where most same-sign pairs of the grid sit, "
                                                   "so the 1/width Taylor argument need not hold uniformly)"
                                                 : "")
                               : "fewer than two widths where the error exceeds twice the sampling noise");
    }
    summary.headline("limit of the torch-default nets vs the NNGP formula", limit_discrepancy,
                     fmt::format("||K_torch_limit - K_nngp|| / ||K_nngp|| on the grid, width {} (exact, no sampling)", s.width));
    summary.headline(fmt::format("bias vs the NNGP kernel at width {} (torch_default)", s.width), torch_vs_nngp.value,
                     torch_vs_nngp.ci, "relative Frobenius, sampling noise removed");
    summary.headline("error^2 vs NNGP minus error^2 vs the uniform limit (torch_default)", paired_mean, paired_ci,
                     fmt::format("paired over {} blocks at width {}: > 0 means the nets are closer to the uniform limit; "
                                 "exact ||K_limit - K_nngp||^2/||K||^2 = {:.3g}",
                                 s.blocks, s.width, limit_discrepancy * limit_discrepancy));
    for (std::size_t wi = 0; wi < kAllWeights.size(); ++wi)
      summary.headline(fmt::format("plain covariance error vs the NNGP kernel, {} nets ({})", s.pool, name(kAllWeights[wi])),
                       relative_error(full[wi][0].matrix, post_refs.nngp),
                       fmt::format("width {}; sampling noise alone: {:.3g}", s.width,
                                   full[wi][0].noise_frobenius / frobenius(post_refs.nngp)));
    const WidthPoint& widest = width_sweeps[0].back();
    summary.headline(fmt::format("torch-default error vs the NNGP kernel at width {}", widest.width),
                     widest.conditional.vs_nngp,
                     fmt::format("conditional estimate, {} nets; vs the uniform limit: {:.3g}; noise {:.3g}", widest.nets,
                                 widest.conditional.vs_limit, widest.conditional.noise));
    // The caution about the first layer, in numbers: do the post's PyTorch-default nets approach
    // the Gaussian NNGP formula, or the uniform-first-layer limit?
    summary.verdict("torch-default nets converge to the Gaussian NNGP formula (the post's GP claim, read literally)",
                    "covariance no closer to the uniform-first-layer limit than to the NNGP formula (paired difference "
                    "of squared errors <= 0 within its CI)",
                    experiments::with_ci(paired_mean, paired_ci), paired_ci.low <= 0.0,
                    fmt::format("the exact limit of the torch-default nets differs from the NNGP formula by {:.3g} "
                                "(relative Frobenius): the uniform first layer of a 1-input net is never Gaussian; at "
                                "width {} the nets' bias (sampling noise removed) is {} vs the NNGP formula and {} vs "
                                "the uniform-first-layer limit",
                                limit_discrepancy, s.width, experiments::with_ci(torch_vs_nngp.value, torch_vs_nngp.ci),
                                experiments::with_ci(torch_vs_limit.value, torch_vs_limit.ci)));
    summary.verdict("gaussian-weight nets converge to the NNGP formula", "finite-width bias at the widest width below 2x noise or falling like 1/width",
                    fmt::format("error {:.3g} (noise {:.3g}) at width {}", width_sweeps[1].back().conditional.vs_limit,
                                width_sweeps[1].back().conditional.noise, width_sweeps[1].back().width),
                    width_sweeps[1].back().conditional.vs_limit < 2.0 * width_sweeps[1].back().conditional.noise ||
                        (width_fits[1].fitted.size() >= 2 && width_fits[1].ci.low <= -1.0 && -1.0 <= width_fits[1].ci.high),
                    fmt::format("bias at width {}: {}", s.width, experiments::with_ci(gaussian_vs_nngp.value, gaussian_vs_nngp.ci)));
    summary.write();
    std::fprintf(stderr,
                 "random-functions: torch-default limit vs NNGP %.3g; bias vs NNGP: torch %.3g, gaussian %.3g; "
                 "results in %s\n",
                 limit_discrepancy, torch_vs_nngp.value, gaussian_vs_nngp.value, ctx.out.c_str());
  });
}
