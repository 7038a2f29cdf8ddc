// toy-model: the post's 1-parameter model under output scaling ("Scaling the Output" in
// "Understanding the Neural Tangent Kernel", Rajat V D, 2019).
//
//   f(x, w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4),   w0 = 0.4 (so f(x, w0) = 0),   x = 1.5
//
// scaled by α ∈ 10^linspace(0, 10/3, 100). Three results, all with derivatives from the library
// (value_and_grad, jvp, hvp), none by hand:
//   curves.csv   α·f(w) against its tangent line α·f′(w0)(w − w0) on the window w0 ± window/α
//                (the distance a fit moves w shrinks like 1/α, and the outputs over this window
//                stay of the same size): the tangent approaches the function as α grows;
//   losses.csv   the normalized loss (1/α²)(y − α f(w))² against the linearized one, on a fixed
//                window and zoomed near w0: the parabola and its minimum get closer, and closer
//                to w0;
//   minima.csv   the minimizer w* of the loss nearest w0 (α f(w*) = y, by Newton steps), its
//                distance to w0 (slope −1 in α: w* − w0 ≈ y/(α f′(w0))) and its distance to the
//                linearized minimizer (slope −2: the next Taylor term). κ_α of the centered model
//                is |y|·|f″(w0)|/(α f′(w0)²) — slope exactly −1.
#include <cmath>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "experiments/common/options.hpp"
#include "experiments/common/output.hpp"
#include "experiments/common/stats.hpp"

namespace {

namespace ad = autodiff;
using ad::Tensor;
using ad::Var;
using experiments::cell;

struct Settings {
  double x = 1.5;
  double w0 = 0.4;
  double target = 3.0;
  double log10_alpha_max = 10.0 / 3.0;
  std::size_t alphas = 100;
  double window = 2.0;       // curves on w0 ± window/α, losses on w0 ± window
  double zoom = 0.05;        // and the zoomed losses on w0 ± zoom
  std::size_t points = 401;  // grid points per window
};

// The post's model; w is a one-element tensor on the tape.
Var toy(const Var& w, double x) { return (w * x + ad::square(w) * x + ad::sin(ad::exp(0.1 * w))) * (w - 0.4); }

struct Derivatives {
  double value, slope, curvature;  // f, f′, f″ at a point
};

Derivatives derivatives(double w, double x) {
  const auto f = [x](const Var& v) { return toy(v, x); };
  const auto [value, tangent] = ad::jvp(f, Tensor(w), Tensor(1.0));  // f and f′ by forward mode
  const Tensor curvature = ad::hvp(f, Tensor(w), Tensor(1.0));       // f″ by forward-over-reverse
  return {value.item(), tangent.item(), curvature.item()};
}

double value(double w, double x) { return derivatives(w, x).value; }

// The root of α f(w) = y nearest w0 along the linearized step, by Newton's method with f′ from
// reverse mode. Starting at the linearized minimizer w0 + y/(α f′(w0)).
double loss_minimizer(double alpha, const Settings& s, double slope0) {
  double w = s.w0 + s.target / (alpha * slope0);
  for (int i = 0; i < 100; ++i) {
    const auto [v, g] = ad::value_and_grad([&](const Var& u) { return toy(u, s.x); }, Tensor(w));
    const double step = (alpha * v - s.target) / (alpha * g.item());
    w -= step;
    if (std::fabs(step) <= 1e-15 * std::max(1.0, std::fabs(w))) return w;
  }
  throw std::runtime_error(fmt::format("Newton's method for the loss minimizer did not converge at alpha = {}", alpha));
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment("toy-model", "The post's 1-parameter model f(x, w) scaled by alpha: the tangent line, "
                                                  "the normalized losses and the loss minimizer against alpha");
  auto& app = experiment.app();
  app.add_option("--x", s.x, "the input x")->capture_default_str();
  app.add_option("--w0", s.w0, "the initialization (the model is 0 there only at 0.4)")->capture_default_str();
  app.add_option("--target", s.target, "the target y")->capture_default_str();
  app.add_option("--log10-alpha-max", s.log10_alpha_max, "alpha = 10^linspace(0, this, --alphas)")
      ->check(CLI::Range(0.1, 8.0))->capture_default_str();
  app.add_option("--alphas", s.alphas, "number of alpha values")->check(CLI::Range(2, 100000))->capture_default_str();
  experiment.quick(s.alphas, std::size_t{12});
  app.add_option("--window", s.window, "curves on w0 +- window/alpha, losses on w0 +- window")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--zoom", s.zoom, "zoomed losses on w0 +- zoom")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--points", s.points, "grid points per window")->check(CLI::Range(3, 1000000))->capture_default_str();
  experiment.quick(s.points, std::size_t{41});

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    experiments::require(std::isfinite(s.x) && std::isfinite(s.w0) && std::isfinite(s.target), "--x/--w0/--target",
                         "must be finite");
    const Derivatives at_w0 = derivatives(s.w0, s.x);
    experiments::require(at_w0.slope != 0.0, "--w0", "f'(w0) = 0: the tangent line is flat, no linearized minimizer");
    std::vector<double> alphas(s.alphas);
    for (std::size_t i = 0; i < s.alphas; ++i)
      alphas[i] = std::pow(10.0, s.log10_alpha_max * static_cast<double>(i) / static_cast<double>(s.alphas - 1));

    // Grids are shared by all α; f is evaluated once per point.
    const auto grid = [&](double half) {
      std::vector<double> w(s.points);
      for (std::size_t i = 0; i < s.points; ++i)
        w[i] = s.w0 - half + 2.0 * half * static_cast<double>(i) / static_cast<double>(s.points - 1);
      return w;
    };
    const std::vector<double> wide = grid(s.window), zoomed = grid(s.zoom);
    const auto values_on = [&](const std::vector<double>& w) {
      std::vector<double> f(w.size());
      for (std::size_t i = 0; i < w.size(); ++i) f[i] = value(w[i], s.x);
      return f;
    };
    const std::vector<double> f_wide = values_on(wide), f_zoomed = values_on(zoomed);

    experiments::Table curves({"alpha_index", "alpha", "w", "scaled_f", "tangent"});
    experiments::Table losses({"alpha_index", "alpha", "window", "w", "loss", "linearized_loss"});
    experiments::Table minima({"alpha_index", "alpha", "w_star", "w_star_linearized", "distance_to_w0",
                               "distance_to_linearized", "kappa_alpha"});
    const auto normalized_loss = [&](double alpha, double output) { return std::pow(s.target - output, 2) / (alpha * alpha); };
    std::vector<double> distance(s.alphas), gap(s.alphas), kappa_alpha(s.alphas), worst_zoom_gap(s.alphas);
    for (std::size_t a = 0; a < s.alphas; ++a) {
      const double alpha = alphas[a];
      const auto ia = static_cast<long long>(a);
      for (std::size_t i = 0; i < wide.size(); ++i) {
        const double w = s.w0 + (wide[i] - s.w0) / alpha;  // the window shrinks like 1/α
        curves.add({cell(ia), cell(alpha), cell(w), cell(alpha * value(w, s.x)), cell(alpha * at_w0.slope * (w - s.w0))});
      }
      for (std::size_t i = 0; i < wide.size(); ++i) {
        const double tangent = alpha * at_w0.slope * (wide[i] - s.w0);
        losses.add({cell(ia), cell(alpha), cell("fixed"), cell(wide[i]), cell(normalized_loss(alpha, alpha * f_wide[i])),
                    cell(normalized_loss(alpha, tangent))});
      }
      worst_zoom_gap[a] = 0.0;
      for (std::size_t i = 0; i < zoomed.size(); ++i) {
        const double tangent = alpha * at_w0.slope * (zoomed[i] - s.w0);
        const double l = normalized_loss(alpha, alpha * f_zoomed[i]), l_lin = normalized_loss(alpha, tangent);
        losses.add({cell(ia), cell(alpha), cell("zoomed"), cell(zoomed[i]), cell(l), cell(l_lin)});
        worst_zoom_gap[a] = std::max(worst_zoom_gap[a], std::fabs(l - l_lin));
      }
      const double w_star = loss_minimizer(alpha, s, at_w0.slope);
      const double w_lin = s.w0 + s.target / (alpha * at_w0.slope);
      distance[a] = std::fabs(w_star - s.w0);
      gap[a] = std::fabs(w_star - w_lin);
      // κ of the centered scaled model α f: ‖α f(w0) − y‖ · α|f″| / (α f′)², with f(w0) = 0.
      kappa_alpha[a] = std::fabs(alpha * at_w0.value - s.target) * alpha * std::fabs(at_w0.curvature) /
                       std::pow(alpha * at_w0.slope, 2);
      minima.add({cell(ia), cell(alpha), cell(w_star), cell(w_lin), cell(distance[a]), cell(gap[a]), cell(kappa_alpha[a])});
    }
    curves.write(ctx.file("curves.csv"));
    losses.write(ctx.file("losses.csv"));
    minima.write(ctx.file("minima.csv"));

    // Headlines: log-log slopes over the upper half of the α range, where the leading Taylor term
    // dominates (deterministic: no seeds, so no interval; the fit's r² says how straight it is).
    std::vector<double> la, ld, lg, lk;
    for (std::size_t a = s.alphas / 2; a < s.alphas; ++a) {
      la.push_back(std::log(alphas[a]));
      ld.push_back(std::log(distance[a]));
      lg.push_back(std::log(gap[a]));
      lk.push_back(std::log(kappa_alpha[a]));
    }
    const auto fit_d = experiments::fit_line(la, ld), fit_g = experiments::fit_line(la, lg);
    const auto fit_k = experiments::fit_line(la, lk);

    experiments::Summary summary(ctx, "The 1-parameter toy model under output scaling", "Scaling the Output");
    summary.settings = {{"x", s.x},         {"w0", s.w0},         {"target", s.target},
                        {"alpha_min", 1.0}, {"alpha_max", alphas.back()}, {"alphas", s.alphas},
                        {"window", s.window}, {"zoom", s.zoom},   {"points", s.points}};
    summary.expectation =
        "f(x, w0) = 0; the tangent line approaches alpha*f and the linearized loss approaches the normalized loss as "
        "alpha grows; the loss minimizer approaches w0 like 1/alpha (slope -1) and the linearized minimizer like "
        "1/alpha^2; kappa_alpha falls exactly like 1/alpha.";
    summary.extra = {{"f_w0", at_w0.value}, {"f_prime_w0", at_w0.slope}, {"f_second_w0", at_w0.curvature}};
    summary.headline("f(x, w0)", at_w0.value, "the model at its initialization (exactly 0 by construction)");
    summary.headline("f'(w0)", at_w0.slope, "slope of the tangent line, forward mode");
    summary.headline("f''(w0)", at_w0.curvature, "curvature, forward-over-reverse HVP");
    summary.headline("slope |w* - w0| vs alpha", fit_d.slope, fmt::format("log-log fit over alpha >= {:.3g}, r^2 = {:.6f}", alphas[s.alphas / 2], fit_d.r2));
    summary.headline("slope |w* - w*_lin| vs alpha", fit_g.slope, fmt::format("log-log fit, r^2 = {:.6f}", fit_g.r2));
    summary.headline("slope kappa_alpha vs alpha", fit_k.slope, "log-log fit");
    summary.headline("largest |loss - linearized loss| near w0, alpha = 1", worst_zoom_gap.front(), "on w0 +- zoom");
    summary.headline("largest |loss - linearized loss| near w0, largest alpha", worst_zoom_gap.back(), "on w0 +- zoom");
    summary.verdict("the model is 0 at initialization", "f(x, w0) = 0 exactly", fmt::format("{:.3g}", at_w0.value),
                    at_w0.value == 0.0, at_w0.value == 0.0 ? "exact" : fmt::format("off by {:.3g}", at_w0.value));
    summary.verdict("the loss minimum approaches w0 like 1/alpha", "slope -1", fmt::format("{:.4f}", fit_d.slope),
                    std::fabs(fit_d.slope + 1.0) < 0.02, fmt::format("differs from -1 by {:.2g}", fit_d.slope + 1.0));
    summary.verdict("the real and linearized minima merge faster than either approaches w0", "slope -2",
                    fmt::format("{:.4f}", fit_g.slope), std::fabs(fit_g.slope + 2.0) < 0.05,
                    fmt::format("differs from -2 by {:.2g}", fit_g.slope + 2.0));
    summary.verdict("the linearized loss approaches the normalized loss as alpha grows",
                    "the largest gap near w0 falls with alpha",
                    fmt::format("{:.3g} at alpha = 1, {:.3g} at alpha = {:.4g}", worst_zoom_gap.front(), worst_zoom_gap.back(), alphas.back()),
                    worst_zoom_gap.back() < worst_zoom_gap.front(),
                    fmt::format("ratio {:.3g}", worst_zoom_gap.back() / worst_zoom_gap.front()));
    summary.verdict("kappa of the scaled centered model falls like 1/alpha", "slope -1", fmt::format("{:.12f}", fit_k.slope),
                    std::fabs(fit_k.slope + 1.0) < 1e-9, fmt::format("differs from -1 by {:.2g}", fit_k.slope + 1.0));
    summary.write();
    std::fprintf(stderr, "toy-model: f'(w0) = %.6f, f''(w0) = %.6f; slope of |w* - w0| vs alpha %.4f; results in %s\n",
                 at_w0.slope, at_w0.curvature, fit_d.slope, ctx.out.c_str());
  });
}
