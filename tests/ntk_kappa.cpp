// κ(w0) = ‖y(w0) − ȳ‖ · ‖∇²y(w0)‖ / ‖∇y(w0)‖², dense and matrix-free (ntk/kappa.hpp).
//
// Tolerances, stated per check:
//   closed forms (hand-computed 2-parameter models, the 1-parameter toy model): 1e-12 relative
//   in dense mode (exact eigen-decompositions), 1e-9 in matrix-free mode at tolerance 1e-10;
//   dense against matrix-free (with the same starting directions for c) on small MLPs: 1e-8
//   relative on ‖∇²y‖ (matrix-free at tolerance 1e-10), 1e-12 on ‖∇y‖ and the residual (exact);
//   κ_α · α = κ₁ for Scaled(Centered(net), α): 1e-8 relative (matrix-free, tolerance 1e-10);
//   a model linear in w: κ = 0 and ‖∇²y‖ = 0 exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/kappa.hpp"
#include "ntk/linalg.hpp"

namespace {

using autodiff::Tensor;
using autodiff::Var;
using ntk::KappaMode;
using ntk::KappaOptions;
using ntk::KappaResult;

Tensor normal(const autodiff::Shape& shape, std::uint64_t seed) {
  nn::Rng rng(seed);
  Tensor t = Tensor::zeros(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.flat(i) = rng.normal();
  return t;
}

KappaOptions options(KappaMode mode, double tolerance = 1e-10) {
  KappaOptions o;
  o.mode = mode;
  o.tolerance = tolerance;
  return o;
}

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(a), std::abs(b)); }

// The identities every result satisfies, whatever the model.
void check_consistent(const KappaResult& r) {
  CHECK(r.kappa == Approx(r.residual_norm * r.hessian_norm / (r.jacobian_norm * r.jacobian_norm)).epsilon(1e-15));
  CHECK(r.ratio == Approx(r.hessian_norm / (r.jacobian_norm * r.jacobian_norm)).epsilon(1e-15));
  if (r.hessian_norm > 0.0) {
    CHECK(std::sqrt(autodiff::dot(r.c, r.c).item()) == Approx(1.0).epsilon(1e-12));
    CHECK(std::sqrt(autodiff::dot(r.v, r.v).item()) == Approx(1.0).epsilon(1e-12));
  }
}

std::shared_ptr<nn::MLP> mlp(std::size_t in, std::vector<std::size_t> hidden, std::size_t out, nn::Activation a) {
  nn::MLPConfig config;
  config.input_dim = in;
  config.hidden = std::move(hidden);
  config.output_dim = out;
  config.activation = a;
  return std::make_shared<nn::MLP>(config);
}

// ---- the 1-parameter toy model: f(w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4), x = 1.5 -------
constexpr double kX = 1.5;
constexpr double kW0 = 0.4;
Var toy(const Var& w) { return (w * kX + autodiff::square(w) * kX + autodiff::sin(autodiff::exp(0.1 * w))) * (w - 0.4); }
// At w0 the factor (w − 0.4) vanishes: f = 0, f' = g(w0), f'' = 2 g'(w0).
const double kToyF1 = kW0 * kX + kW0 * kW0 * kX + std::sin(std::exp(0.1 * kW0));
const double kToyF2 = 2.0 * (kX + 2.0 * kW0 * kX + 0.1 * std::exp(0.1 * kW0) * std::cos(std::exp(0.1 * kW0)));

}  // namespace

TEST_CASE("kappa: hand-computed 2-parameter model with the supremum inside the circle of c", "[kappa]") {
  // y(w) = (w1² + w1 w2, w2² + w1 w2) at w0 = (1, 2), ȳ = (1, 4):
  //   y(w0) = (3, 6), r = (2, 2), ‖r‖ = 2√2;
  //   J = [[2w1 + w2, w1], [w2, 2w2 + w1]] = [[4, 1], [2, 5]], J Jᵀ = [[17, 13], [13, 29]],
  //   λmax = 23 + √205, so ‖∇y‖ = √(23 + √205);
  //   H₁ = [[2, 1], [1, 0]], H₂ = [[0, 1], [1, 2]]; H_c = [[2c₁, c₁ + c₂], [c₁ + c₂, 2c₂]] has
  //   eigenvalues s ± √(s² + d²) = s ± √2 (s = c₁ + c₂, d = c₁ − c₂, s² + d² = 2 on the unit
  //   circle), so ‖H_c‖ = |s| + √2 ≤ 2√2, attained at c = ±(1, 1)/√2 with v = ±(1, 1)/√2;
  //   κ = 2√2 · 2√2 / (23 + √205) = 8 / (23 + √205).
  const auto y = [](const Var& w) {
    const Var w1 = w.slice(0, 1), w2 = w.slice(1, 1);
    return autodiff::concat({autodiff::square(w1) + w1 * w2, autodiff::square(w2) + w1 * w2});
  };
  const Tensor w0 = {1.0, 2.0}, target = {1.0, 4.0};
  const double jacobian = std::sqrt(23.0 + std::sqrt(205.0));
  for (KappaMode mode : {KappaMode::dense, KappaMode::matrix_free}) {
    INFO(ntk::to_string(mode));
    const KappaResult r = ntk::kappa(y, w0, target, options(mode));
    const double tol = mode == KappaMode::dense ? 1e-12 : 1e-9;
    CHECK(r.converged);
    CHECK(r.residual_norm == Approx(2.0 * std::sqrt(2.0)).epsilon(1e-15));
    CHECK(r.jacobian_norm == Approx(jacobian).epsilon(1e-14));
    CHECK(r.hessian_norm == Approx(2.0 * std::sqrt(2.0)).epsilon(tol));
    CHECK(r.kappa == Approx(8.0 / (23.0 + std::sqrt(205.0))).epsilon(tol));
    CHECK(r.ratio == Approx(2.0 * std::sqrt(2.0) / (23.0 + std::sqrt(205.0))).epsilon(tol));
    CHECK(std::abs(r.c.flat(0)) == Approx(1.0 / std::sqrt(2.0)).epsilon(1e-6));  // c at a maximum: 1e-6
    CHECK(r.c.flat(0) * r.c.flat(1) > 0.0);
    CHECK(std::abs(r.v.flat(0)) == Approx(1.0 / std::sqrt(2.0)).epsilon(1e-6));
    check_consistent(r);
    if (mode == KappaMode::dense) {  // m = 2: the grid certifies an upper bound
      CHECK(r.hessian_upper_bound >= r.hessian_norm);
      CHECK(r.hessian_upper_bound <= r.hessian_norm / (1.0 - 0.5 * M_PI / 256.0) * (1.0 + 1e-12));
    }
  }
}

TEST_CASE("kappa: the issue's 2-parameter example y = (w1 w2, w1²)", "[kappa]") {
  // At w0 = (1, 2), ȳ = (0.5, −1): y = (2, 1), r = (1.5, 2), ‖r‖ = 2.5;
  //   J = [[w2, w1], [2w1, 0]] = [[2, 1], [2, 0]], J Jᵀ = [[5, 4], [4, 4]], λmax = (9 + √65)/2;
  //   H₁ = [[0, 1], [1, 0]], H₂ = [[2, 0], [0, 0]]: H_c = [[2c₂, c₁], [c₁, 0]] has eigenvalues
  //   c₂ ± √(c₂² + c₁²) = c₂ ± 1, so ‖H_c‖ = 1 + |c₂| ≤ 2 at c = (0, ±1), v = (±1, 0);
  //   κ = 2.5 · 2 / ((9 + √65)/2) = 10 / (9 + √65).
  const auto y = [](const Var& w) {
    const Var w1 = w.slice(0, 1), w2 = w.slice(1, 1);
    return autodiff::concat({w1 * w2, autodiff::square(w1)});
  };
  const Tensor w0 = {1.0, 2.0}, target = {0.5, -1.0};
  for (KappaMode mode : {KappaMode::dense, KappaMode::matrix_free}) {
    INFO(ntk::to_string(mode));
    const KappaResult r = ntk::kappa(y, w0, target, options(mode));
    const double tol = mode == KappaMode::dense ? 1e-12 : 1e-9;
    CHECK(r.converged);
    CHECK(r.residual_norm == Approx(2.5).epsilon(1e-15));
    CHECK(r.jacobian_norm == Approx(std::sqrt((9.0 + std::sqrt(65.0)) / 2.0)).epsilon(1e-14));
    CHECK(r.hessian_norm == Approx(2.0).epsilon(tol));
    CHECK(r.kappa == Approx(10.0 / (9.0 + std::sqrt(65.0))).epsilon(tol));
    CHECK(std::abs(r.c.flat(1)) == Approx(1.0).epsilon(1e-6));
    CHECK(std::abs(r.v.flat(0)) == Approx(1.0).epsilon(1e-6));
    check_consistent(r);
  }
}

TEST_CASE("kappa: the 1-parameter toy model scaled by α has κ = |ȳ| |f''| / (α f'²)", "[kappa]") {
  // y(w) = α f(w): residual |α f(w0) − ȳ| = |ȳ| (f(w0) = 0 exactly), ‖∇y‖ = |α f'(w0)|,
  // ‖∇²y‖ = |α f''(w0)|, so κ = |ȳ| |f''| / (α f'²) ∝ 1/α.
  const double target = 0.7;
  const double kappa_1 = target * std::abs(kToyF2) / (kToyF1 * kToyF1);
  for (double alpha : {0.1, 1.0, 10.0, 1000.0}) {
    const auto y = [alpha](const Var& w) { return alpha * toy(w); };
    for (KappaMode mode : {KappaMode::dense, KappaMode::matrix_free}) {
      INFO("alpha = " << alpha << ", " << ntk::to_string(mode));
      const KappaResult r = ntk::kappa(y, Tensor{kW0}, Tensor{target}, options(mode));
      CHECK(r.converged);
      CHECK(r.residual_norm == Approx(target).epsilon(1e-15));
      CHECK(r.jacobian_norm == Approx(alpha * kToyF1).epsilon(1e-12));
      CHECK(r.hessian_norm == Approx(alpha * kToyF2).epsilon(1e-12));
      CHECK(r.kappa * alpha == Approx(kappa_1).epsilon(1e-12));
      CHECK(r.ratio * alpha == Approx(std::abs(kToyF2) / (kToyF1 * kToyF1)).epsilon(1e-12));
      check_consistent(r);
    }
  }
}

TEST_CASE("kappa: dense and matrix-free agree on small MLPs", "[kappa]") {
  struct Case {
    nn::Activation activation;
    std::size_t in, out, n;
    std::vector<std::size_t> hidden;
  };
  const std::vector<Case> cases = {
      {nn::Activation::tanh, 2, 1, 1, {8}},     // N·k = 1
      {nn::Activation::erf, 1, 1, 2, {6, 6}},   // N·k = 2
      {nn::Activation::sin, 2, 2, 1, {7}},      // N·k = 2, two outputs
      {nn::Activation::tanh, 3, 1, 5, {5}},     // N·k = 5
      {nn::Activation::erf, 2, 1, 5, {4, 4}},   // N·k = 5
      {nn::Activation::sin, 1, 1, 5, {6}},      // N·k = 5
  };
  std::uint64_t seed = 10;
  for (const Case& c : cases) {
    const auto net = mlp(c.in, c.hidden, c.out, c.activation);
    const Tensor w0 = net->init(seed), x = normal({c.n, c.in}, seed + 1), target = normal({c.n, c.out}, seed + 2);
    seed += 3;
    INFO(net->describe() << ", N = " << c.n << ", p = " << net->num_params());
    const KappaResult dense = ntk::kappa(*net, w0, x, target, options(KappaMode::dense));
    // The same starting directions as dense mode (residual, J's, every eᵢ, 8 seeded random).
    KappaOptions multistart = options(KappaMode::matrix_free);
    multistart.multistart = true;
    multistart.max_hessian_products = 50000;
    const KappaResult free = ntk::kappa(*net, w0, x, target, multistart);
    INFO("dense " << dense.hessian_norm << ", matrix-free " << free.hessian_norm);
    CHECK(dense.converged);
    CHECK(free.converged);
    CHECK(relative(dense.residual_norm, free.residual_norm) < 1e-12);
    CHECK(relative(dense.jacobian_norm, free.jacobian_norm) < 1e-12);
    CHECK(relative(dense.hessian_norm, free.hessian_norm) < 1e-8);
    CHECK(relative(dense.kappa, free.kappa) < 1e-8);
    CHECK(dense.hessian_upper_bound >= dense.hessian_norm);
    check_consistent(dense);
    check_consistent(free);
    // One start (the default) finds a local maximum: never above the supremum, which dense mode
    // finds exactly for N·k ≤ 2.
    const KappaResult single = ntk::kappa(*net, w0, x, target, options(KappaMode::matrix_free));
    CHECK(single.converged);
    if (c.n * c.out <= 2) CHECK(single.hessian_norm <= dense.hessian_norm * (1.0 + 1e-9));
    // The Jacobian norm is σmax of J from the empirical NTK.
    const Tensor theta = ntk::empirical_ntk(*net, w0, x);
    const double lmax = ntk::symmetric_eigen(theta).values.flat(theta.shape()[0] - 1);
    CHECK(dense.jacobian_norm == Approx(std::sqrt(lmax)).epsilon(1e-12));
  }
}

TEST_CASE("kappa: the matrix-free variants agree with each other", "[kappa]") {
  // J Jᵀ by Lanczos on v ↦ J(Jᵀ v) instead of formed; (vᵀ∇²yᵢ v)ᵢ by forward-over-reverse-over-
  // reverse instead of differences of JVPs; the function overload instead of the model one.
  const auto net = mlp(2, {6, 6}, 1, nn::Activation::tanh);
  const Tensor w0 = net->init(3), x = normal({4, 2}, 4), target = normal({4, 1}, 5);
  const KappaResult base = ntk::kappa(*net, w0, x, target, options(KappaMode::matrix_free));
  KappaOptions lanczos_jacobian = options(KappaMode::matrix_free);
  lanczos_jacobian.jacobian_rows = 0;
  const KappaResult by_lanczos = ntk::kappa(*net, w0, x, target, lanczos_jacobian);
  CHECK(by_lanczos.vjps > 0);
  CHECK(relative(by_lanczos.jacobian_norm, base.jacobian_norm) < 1e-10);
  KappaOptions exact = options(KappaMode::matrix_free);
  exact.curvature = ntk::CurvatureMethod::forward_over_reverse;
  const KappaResult by_exact = ntk::kappa(*net, w0, x, target, exact);
  CHECK(by_exact.curvature_passes > 0);
  CHECK(relative(by_exact.hessian_norm, base.hessian_norm) < 1e-9);
  const KappaResult by_function = ntk::kappa(
      [&](const Var& w) { return net->forward(w, w.tape().constant(x)); }, w0, target,
      options(KappaMode::matrix_free));
  CHECK(relative(by_function.jacobian_norm, base.jacobian_norm) < 1e-12);
  CHECK(by_function.hessian_norm == base.hessian_norm);  // same arithmetic, same path
  CHECK(base.converged);
  CHECK(by_lanczos.converged);
  CHECK(by_exact.converged);
}

TEST_CASE("kappa: thick restarts of a small Lanczos basis reach the same values", "[kappa]") {
  // A full basis of b vectors restarts from its b/2 Ritz vectors of largest magnitude, made
  // tridiagonal again by Householder reflections. One output: ‖∇²y‖ is one cold Lanczos run from a
  // random vector through many restarts (b = 6: 55 HVPs, ~16 restarts, at these weights), against
  // dense mode's exact eigenvalue. Twelve
  // outputs with jacobian_rows = 0: ‖∇y‖ by Lanczos in R^12 (b = 4), against the exact J Jᵀ.
  // (With b = 4, the error estimate sees only four Ritz values and may be optimistic.)
  {
    const auto net = mlp(2, {16}, 1, nn::Activation::tanh);
    const Tensor w0 = net->init(31), x = normal({1, 2}, 32), target = normal({1, 1}, 33);
    const KappaResult dense = ntk::kappa(*net, w0, x, target, options(KappaMode::dense));
    KappaOptions small = options(KappaMode::matrix_free);
    small.lanczos_basis = 6;
    const KappaResult r = ntk::kappa(*net, w0, x, target, small);
    INFO(r.hessian_products << " HVPs");
    CHECK(r.hessian_products > 4 * small.lanczos_basis);  // restarted several times
    CHECK(r.converged);
    CHECK(relative(r.hessian_norm, dense.hessian_norm) < 1e-9);
    check_consistent(r);
  }
  {
    const auto net = mlp(2, {8}, 1, nn::Activation::tanh);
    const Tensor w0 = net->init(34), x = normal({12, 2}, 35), target = normal({12, 1}, 36);
    const KappaResult dense = ntk::kappa(*net, w0, x, target, options(KappaMode::dense));
    KappaOptions small = options(KappaMode::matrix_free);
    small.lanczos_basis = 4;
    small.jacobian_rows = 0;
    const KappaResult r = ntk::kappa(*net, w0, x, target, small);
    CHECK(r.vjps > 4);
    CHECK(relative(r.jacobian_norm, dense.jacobian_norm) < 1e-10);
  }
}

TEST_CASE("kappa: a centered model scaled by α has κ_α = κ₁ / α", "[kappa]") {
  const auto net = mlp(1, {20}, 1, nn::Activation::tanh);
  const Tensor x = normal({4, 1}, 21), target = normal({4, 1}, 22);
  const auto centered = nn::centered(net, 7);
  const Tensor w0 = centered->w0();
  const KappaResult one = ntk::kappa(*nn::scaled(centered, 1.0), w0, x, target, options(KappaMode::matrix_free));
  REQUIRE(one.converged);
  REQUIRE(one.hessian_norm > 0.0);
  for (double alpha : {0.1, 1.0, 10.0, 1000.0}) {
    INFO("alpha = " << alpha);
    const KappaResult r = ntk::kappa(*nn::scaled(centered, alpha), w0, x, target, options(KappaMode::matrix_free));
    CHECK(r.converged);
    CHECK(r.residual_norm == one.residual_norm);  // y(w0) = 0 exactly: the residual is −ȳ
    CHECK(relative(r.jacobian_norm, alpha * one.jacobian_norm) < 1e-12);
    CHECK(relative(r.hessian_norm, alpha * one.hessian_norm) < 1e-8);
    CHECK(relative(r.kappa * alpha, one.kappa) < 1e-8);
    CHECK(relative(r.ratio * alpha, one.ratio) < 1e-8);
  }
}

TEST_CASE("kappa: a model linear in w has κ = 0 exactly", "[kappa]") {
  // One Dense layer, no hidden layers: y = X Wᵀ + b is linear in w = (W, b).
  const auto net = mlp(3, {}, 2, nn::Activation::identity);
  const Tensor w0 = net->init(1), x = normal({4, 3}, 2), target = normal({4, 2}, 3);
  for (KappaMode mode : {KappaMode::dense, KappaMode::matrix_free}) {
    INFO(ntk::to_string(mode));
    const KappaResult r = ntk::kappa(*net, w0, x, target, options(mode, 1e-8));
    CHECK(r.converged);
    CHECK(r.hessian_norm == 0.0);
    CHECK(r.kappa == 0.0);
    CHECK(r.ratio == 0.0);
    CHECK(r.residual_norm > 0.0);
    CHECK(r.jacobian_norm > 0.0);
  }
}

TEST_CASE("kappa: a vanishing Jacobian gives κ = +∞ and factors are still reported", "[kappa]") {
  // y(w) = w² at w0 = 0: ∇y = 0, ∇²y = 2.
  const auto y = [](const Var& w) { return autodiff::square(w); };
  for (KappaMode mode : {KappaMode::dense, KappaMode::matrix_free}) {
    const KappaResult r = ntk::kappa(y, Tensor{0.0}, Tensor{1.0}, options(mode));
    CHECK(r.jacobian_norm == 0.0);
    CHECK(r.hessian_norm == Approx(2.0).epsilon(1e-14));
    CHECK(r.residual_norm == 1.0);
    CHECK(std::isinf(r.kappa));
    CHECK(std::isinf(r.ratio));
  }
}

TEST_CASE("kappa: the default tolerance on a W5-like network (1000 clustered eigenvalue pairs)", "[kappa]") {
  // MLP 1→1000→1 tanh, N = 10: the top of Σ cᵢ∇²yᵢ is a dense cluster, the hard case for any
  // Krylov method. The default (1e-3) must be within 1e-3 of a tight (1e-9) run.
  const auto net = mlp(1, {1000}, 1, nn::Activation::tanh);
  const Tensor w0 = net->init(1), x = normal({10, 1}, 101), target = Tensor::zeros({10, 1});
  const KappaResult quick = ntk::kappa(*net, w0, x, target);
  const KappaResult tight = ntk::kappa(*net, w0, x, target, options(KappaMode::matrix_free, 1e-9));
  INFO("quick: " << quick.hessian_products << " HVPs, tight: " << tight.hessian_products << " HVPs");
  CHECK(quick.converged);
  CHECK(tight.converged);
  CHECK(quick.jacobian_norm == tight.jacobian_norm);  // exact in both: the structured NTK
  CHECK(quick.hessian_norm <= tight.hessian_norm * (1.0 + 1e-9));  // both are lower bounds of the sup
  CHECK(relative(quick.hessian_norm, tight.hessian_norm) < 1e-3);
  CHECK(quick.hessian_products < 150);
}

TEST_CASE("kappa: bad inputs throw autodiff::Error", "[kappa]") {
  const auto net = mlp(2, {4}, 1, nn::Activation::tanh);
  const Tensor w0 = net->init(0), x = normal({3, 2}, 1), target = normal({3, 1}, 2);
  CHECK_THROWS_AS(ntk::kappa(*net, Tensor::zeros({w0.size() + 1}), x, target), autodiff::Error);  // w0 size
  CHECK_THROWS_AS(ntk::kappa(*net, w0, normal({3, 3}, 1), target), autodiff::Error);              // input dim
  CHECK_THROWS_AS(ntk::kappa(*net, w0, normal({3}, 1), target), autodiff::Error);                 // x rank
  CHECK_THROWS_AS(ntk::kappa(*net, w0, x, normal({4, 1}, 2)), autodiff::Error);                   // N mismatch
  CHECK_THROWS_AS(ntk::kappa(*net, w0, x, normal({3, 2}, 2)), autodiff::Error);                   // k mismatch
  CHECK_NOTHROW(ntk::kappa(*net, w0, x, normal({3}, 2)));                                         // flat targets
  Tensor bad = target;
  bad.flat(0) = std::nan("");
  CHECK_THROWS_AS(ntk::kappa(*net, w0, x, bad), autodiff::Error);
  KappaOptions o;
  o.tolerance = 0.0;
  CHECK_THROWS_AS(ntk::kappa(*net, w0, x, target, o), autodiff::Error);
  o.tolerance = 0.5;
  CHECK_THROWS_AS(ntk::kappa(*net, w0, x, target, o), autodiff::Error);
  const auto square = [](const Var& w) { return autodiff::square(w); };
  CHECK_THROWS_AS(ntk::kappa(square, Tensor{{1.0, 2.0}}, Tensor{{1.0, 2.0}}), autodiff::Error);  // w0 not a vector
  CHECK_THROWS_AS(ntk::kappa(square, Tensor{1.0, 2.0}, Tensor{1.0, 2.0, 3.0}), autodiff::Error);   // target size
  CHECK_THROWS_AS(ntk::kappa(ntk::OutputFunction{}, Tensor{1.0}, Tensor{1.0}), autodiff::Error);    // no function
  CHECK_THROWS_AS(ntk::parse_kappa_mode("sparse"), autodiff::Error);
  CHECK(ntk::parse_kappa_mode(ntk::to_string(KappaMode::dense)) == KappaMode::dense);
  CHECK(ntk::parse_kappa_mode(ntk::to_string(KappaMode::matrix_free)) == KappaMode::matrix_free);
}
