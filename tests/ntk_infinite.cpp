// Infinite-width NNGP and NTK kernels (ntk/infinite.hpp): quadrature rules, closed forms against
// quadrature and against an independent scalar transcription, special values, symmetry and PSD,
// and the empirical NTK of finite nets at initialization converging to the analytic kernel.
#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include <catch2/catch.hpp>

#include "autodiff/ops.hpp"
#include "nn/mlp.hpp"
#include "nn/random.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/linalg.hpp"
#include "ntk/quadrature.hpp"

namespace ad = autodiff;
using ad::Tensor;
using nn::Activation;
using ntk::ActivationLayer;
using ntk::ActivationMethod;
using ntk::DenseLayer;
using ntk::InfiniteMlp;
using ntk::Kernel;
using ntk::KernelKind;

namespace {

constexpr double kPi = std::numbers::pi;

Tensor random_inputs(std::size_t n, std::size_t d, std::uint64_t seed, double scale = 1.0) {
  nn::Rng rng(seed);
  Tensor x = Tensor::zeros({n, d});
  for (std::size_t i = 0; i < x.size(); ++i) x.flat(i) = scale * rng.normal();
  return x;
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.flat(i) - b.flat(i)));
  return m;
}

double frobenius(const Tensor& a) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a.flat(i) * a.flat(i);
  return std::sqrt(s);
}

double relative_frobenius_error(const Tensor& estimate, const Tensor& exact) {
  return frobenius(ad::sub(estimate, exact)) / frobenius(exact);
}

ActivationLayer act(Activation a, ActivationMethod method = ActivationMethod::automatic, std::size_t nodes = 0) {
  ActivationLayer layer;
  layer.activation = a;
  layer.method = method;
  layer.nodes = nodes;
  return layer;
}

// A pre-activation kernel state between rows of random X1 (7 points) and X2 (9 points) in 3-D,
// after one Dense layer: variances 0.1 to ~4, correlations of all signs, plus an exact duplicate
// (ρ = 1), a negated point (ρ = -1 without bias) and a zero point (q = 0 without bias).
Kernel pre_activation_state(double sw2, double sb2, bool same = false) {
  Tensor x1 = random_inputs(7, 3, 11);
  Tensor x2 = random_inputs(9, 3, 12, 0.8);
  for (std::size_t f = 0; f < 3; ++f) {
    x2(0, f) = x1(0, f);   // duplicate
    x2(1, f) = -x1(1, f);  // antiparallel
    x2(2, f) = 0.0;        // zero
  }
  const DenseLayer dense{sw2, sb2, sb2 > 0.0};
  return same ? ntk::dense(ntk::input_kernel(x1), dense) : ntk::dense(ntk::input_kernel(x1, x2), dense);
}

// An independent scalar transcription of the closed forms (the library's are vectorized).
struct ScalarReference {
  double nngp, slope, var1, var2;
};
ScalarReference reference(Activation a, double q1, double q2, double c) {
  if (a == Activation::relu) {
    const double s = std::sqrt(q1 * q2);
    // Within 1e-15 of ±1 the library snaps to ±1 (documented: the arc-cosine is ill-conditioned there).
    double cosine = s > 0.0 ? std::clamp(c / s, -1.0, 1.0) : 0.0;
    if (std::abs(cosine) >= 1.0 - 1e-15) cosine = cosine > 0.0 ? 1.0 : -1.0;
    const double theta = std::acos(cosine);
    return {s / (2 * kPi) * (std::sin(theta) + (kPi - theta) * cosine), (kPi - theta) / (2 * kPi), q1 / 2, q2 / 2};
  }
  // erf
  const double den = (1 + 2 * q1) * (1 + 2 * q2);
  return {2 / kPi * std::asin(2 * c / std::sqrt(den)), 4 / kPi / std::sqrt(den - 4 * c * c),
          2 / kPi * std::asin(2 * q1 / (1 + 2 * q1)), 2 / kPi * std::asin(2 * q2 / (1 + 2 * q2))};
}

// The mean of the empirical NTK over `seeds` nets of width `width` at initialization.
Tensor mean_empirical_ntk(const InfiniteMlp& mlp, const Tensor& x, std::size_t width, std::size_t seeds) {
  const nn::MLP model(ntk::mlp_config(mlp, x.shape()[1], width));
  Tensor sum = Tensor::zeros({x.shape()[0], x.shape()[0]});
  for (std::size_t s = 0; s < seeds; ++s) sum += ntk::empirical_ntk(model, model.init(1000 + s), x);
  return ad::scale(sum, 1.0 / static_cast<double>(seeds));
}

}  // namespace

// ---- quadrature rules ---------------------------------------------------------------------------

TEST_CASE("Gauss–Hermite rules integrate polynomials exactly against N(0, 1)", "[ntk][infinite][quadrature]") {
  for (std::size_t n : {1, 2, 5, 20, 64}) {
    const ntk::GaussianRule rule = ntk::gauss_hermite(n);
    REQUIRE(rule.nodes.size() == n);
    double total = 0.0;
    for (double w : rule.weights) total += w;
    CHECK(std::abs(total - 1.0) < 1e-14);
    // E[z^m] = (m-1)!! for even m, 0 for odd, exact for m <= 2n - 1: to 1e-13 of Σ w|z|^m (the
    // size of the terms summed, so odd moments are held to their rounding too), m <= 30.
    double double_factorial = 1.0;  // (m-1)!!
    for (std::size_t m = 0; m <= std::min<std::size_t>(2 * n - 1, 30); ++m) {
      double moment = 0.0, scale = 0.0;
      for (std::size_t a = 0; a < n; ++a) {
        const double term = rule.weights[a] * std::pow(rule.nodes[a], static_cast<double>(m));
        moment += term;
        scale += std::abs(term);
      }
      const double exact = m % 2 == 1 ? 0.0 : double_factorial;
      INFO("n = " << n << ", m = " << m);
      CHECK(std::abs(moment - exact) <= 1e-13 * std::max(1.0, scale));
      if (m % 2 == 1) double_factorial *= static_cast<double>(m);
    }
    for (std::size_t a = 0; a < n; ++a) CHECK(rule.nodes[a] == -rule.nodes[n - 1 - a]);  // symmetric
  }
  CHECK_THROWS_AS(ntk::gauss_hermite(0), ad::Error);
  CHECK_THROWS_AS(ntk::gauss_hermite(ntk::kMaxQuadratureNodes + 1), ad::Error);
}

TEST_CASE("the Gaussian trapezoidal rule converges exponentially", "[ntk][infinite][quadrature]") {
  const ntk::GaussianRule rule = ntk::gaussian_trapezoid(64);
  double total = 0.0;
  for (double w : rule.weights) total += w;
  CHECK(std::abs(total - 1.0) < 1e-14);
  // Low moments to 1e-14, 1e-11 (E[z²]) and 1e-9 (E[z⁴]): the truncation at |z| = 7.5 leaves out
  // the mass of z^m φ(z) beyond it (4e-12 for z², 2e-10 for z⁴); E[cos(3z)] = e^{-9/2} to 1e-14.
  const double exact_moments[] = {1.0, 0.0, 1.0, 0.0, 3.0};
  for (std::size_t m = 0; m <= 4; ++m) {
    double moment = 0.0;
    for (std::size_t a = 0; a < 64; ++a) moment += rule.weights[a] * std::pow(rule.nodes[a], static_cast<double>(m));
    CHECK(std::abs(moment - exact_moments[m]) <= (m == 4 ? 1e-9 : m == 2 ? 1e-11 : 1e-14));
  }
  double cosine = 0.0;
  for (std::size_t a = 0; a < 64; ++a) cosine += rule.weights[a] * std::cos(3.0 * rule.nodes[a]);
  CHECK(std::abs(cosine - std::exp(-4.5)) < 1e-14);
  CHECK_THROWS_AS(ntk::gaussian_trapezoid(1), ad::Error);
  CHECK_THROWS_AS(ntk::gaussian_trapezoid(10, -1.0), ad::Error);
}

// ---- closed forms -------------------------------------------------------------------------------

TEST_CASE("vectorized closed forms match a scalar transcription of the formulas", "[ntk][infinite][closed]") {
  for (Activation a : {Activation::relu, Activation::erf}) {
    for (double sb2 : {0.0, 0.3}) {
      const Kernel pre = pre_activation_state(1.7, sb2);
      const Kernel post = ntk::activation(pre, act(a));
      const std::size_t n1 = pre.var1.size(), n2 = pre.var2.size();
      for (std::size_t i = 0; i < n1; ++i)
        for (std::size_t j = 0; j < n2; ++j) {
          const ScalarReference r = reference(a, pre.var1(i), pre.var2(j), pre.nngp(i, j));
          // 1e-13 absolute on kernels of size ~1 (the arc-cosine is a polynomial fit to < 1 ulp).
          CHECK(std::abs(post.nngp(i, j) - r.nngp) < 1e-13);
          CHECK(std::abs(post.ntk(i, j) - pre.ntk(i, j) * r.slope) < 1e-13 * std::max(1.0, pre.ntk(i, j) * r.slope));
          if (j == 0) CHECK(std::abs(post.var1(i) - r.var1) < 1e-15 * std::max(1.0, r.var1));
          if (i == 0) CHECK(std::abs(post.var2(j) - r.var2) < 1e-15 * std::max(1.0, r.var2));
        }
    }
  }
}

TEST_CASE("closed forms agree with 2-D quadrature", "[ntk][infinite][closed]") {
  // erf and identity are smooth: the trapezoidal rule (automatic count, and 160 nodes) agrees with
  // the closed form to 1e-12 absolute at these variances (<= 4) for erf, and to 1e-10 for identity
  // (its truncation at 7.5 std leaves out 4e-12·q of E[u²]); Gauss–Hermite (exact for identity)
  // converges only like
  // exp(-c√n) on erf: 1e-7 at 160 nodes. relu has a kink, where both rules converge only
  // algebraically: 160 trapezoid nodes give 2e-3 on the NNGP and 1e-2 on the NTK factor.
  const Kernel pre = pre_activation_state(1.7, 0.3);
  struct Case {
    Activation a;
    ntk::QuadratureRule rule;
    std::size_t nodes;
    double nngp_tolerance, ntk_tolerance;
  };
  const ntk::QuadratureRule trapezoid = ntk::QuadratureRule::trapezoid, gh = ntk::QuadratureRule::gauss_hermite;
  for (const Case& c : {Case{Activation::erf, trapezoid, 0, 1e-12, 1e-12}, Case{Activation::erf, trapezoid, 160, 1e-12, 1e-12},
                        Case{Activation::erf, gh, 160, 1e-7, 1e-7}, Case{Activation::identity, trapezoid, 0, 1e-10, 1e-10},
                        Case{Activation::identity, gh, 20, 1e-12, 1e-12}, Case{Activation::relu, trapezoid, 160, 2e-3, 1e-2}}) {
    const Kernel closed = ntk::activation(pre, act(c.a, ActivationMethod::closed_form));
    ActivationLayer layer = act(c.a, ActivationMethod::quadrature, c.nodes);
    layer.rule = c.rule;
    const Kernel quad = ntk::activation(pre, layer);
    INFO(nn::to_string(c.a) << " " << ntk::to_string(c.rule) << " " << c.nodes);
    CHECK(max_abs_difference(quad.nngp, closed.nngp) < c.nngp_tolerance);
    CHECK(max_abs_difference(quad.ntk, closed.ntk) < c.ntk_tolerance);
    CHECK(max_abs_difference(quad.var1, closed.var1) < c.nngp_tolerance);
    CHECK(max_abs_difference(quad.var2, closed.var2) < c.nngp_tolerance);
  }
}

TEST_CASE("quadrature meets 1e-8 at the automatic node count for smooth activations", "[ntk][infinite][quadrature]") {
  // sin has closed forms E[sin u sin v] = e^{-(q1+q2)/2} sinh c and E[cos u cos v] = e^{-(q1+q2)/2}
  // cosh c; tanh and sigmoid are checked against 300 trapezoid nodes. Variances here reach ~3.9
  // (automatic count 90); larger ones are in the "large variances" case below.
  const Kernel pre = pre_activation_state(1.7, 0.3);
  const Kernel sin = ntk::activation(pre, act(Activation::sin));
  for (std::size_t i = 0; i < pre.var1.size(); ++i)
    for (std::size_t j = 0; j < pre.var2.size(); ++j) {
      const double damp = std::exp(-(pre.var1(i) + pre.var2(j)) / 2), c = pre.nngp(i, j);
      CHECK(std::abs(sin.nngp(i, j) - damp * std::sinh(c)) < 1e-12);
      CHECK(std::abs(sin.ntk(i, j) - pre.ntk(i, j) * damp * std::cosh(c)) < 1e-12 * std::max(1.0, pre.ntk(i, j)));
    }
  for (Activation a : {Activation::tanh, Activation::sigmoid}) {
    const Kernel fine = ntk::activation(pre, act(a, ActivationMethod::automatic, 300));
    const Kernel automatic = ntk::activation(pre, act(a));
    INFO(nn::to_string(a));
    CHECK(max_abs_difference(automatic.nngp, fine.nngp) < 1e-8);
    CHECK(max_abs_difference(automatic.ntk, fine.ntk) < 1e-8);
  }
}

TEST_CASE("the Hermite series is within 1e-8 of a tight 2-D rule, on one input set and two", "[ntk][infinite][quadrature]") {
  // The default quadrature (the series, coefficients per point) against the per-pair trapezoidal
  // rule with 400 nodes per dimension (spacing 0.038 in z: its own error is ~1e-15 here), through
  // whole nets: W10's tanh net, sigmoid, sin, erf by quadrature and a custom activation. Error
  // relative to the kernel's largest entry, and per entry relative to √(K(x,x) K(x′,x′)).
  // (12 and 5 points: the tight rule costs 160,000 nodes per entry, minutes under the sanitizers.)
  const std::size_t n = 12;
  const Tensor x = random_inputs(n, 10, 21), x2 = random_inputs(5, 10, 22);
  for (Activation a : {Activation::tanh, Activation::sigmoid, Activation::sin, Activation::erf}) {
    InfiniteMlp mlp{.depth = 2, .activation = a, .sw2 = 1.5, .sb2 = 0.2, .method = ActivationMethod::quadrature};
    InfiniteMlp tight = mlp;
    tight.quadrature_nodes = ntk::kMaxQuadratureNodes;
    for (KernelKind kind : {KernelKind::nngp, KernelKind::ntk}) {
      INFO(nn::to_string(a) << " " << ntk::to_string(kind));
      const Tensor k = ntk::infinite_width_kernel(x, mlp, kind), reference = ntk::infinite_width_kernel(x, tight, kind);
      double largest = 0.0;
      for (std::size_t i = 0; i < reference.size(); ++i) largest = std::max(largest, std::abs(reference.flat(i)));
      CHECK(max_abs_difference(k, reference) <= 1e-8 * largest);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
          REQUIRE(std::abs(k(i, j) - reference(i, j)) <= 1e-9 * std::sqrt(reference(i, i) * reference(j, j)));
      const Tensor cross = ntk::infinite_width_kernel(x, x2, mlp, kind);
      CHECK(max_abs_difference(cross, ntk::infinite_width_kernel(x, x2, tight, kind)) <= 1e-8 * largest);
    }
  }
  // A custom activation (swish, u·sigmoid(u)), one layer on a pre-activation state.
  const Kernel pre = pre_activation_state(1.7, 0.3);
  ActivationLayer swish;
  swish.custom = [](const ad::Var& u) { return u * ad::sigmoid(u); };
  ActivationLayer swish_tight = swish;
  swish_tight.nodes = ntk::kMaxQuadratureNodes;
  const Kernel series = ntk::activation(pre, swish), reference = ntk::activation(pre, swish_tight);
  CHECK(max_abs_difference(series.nngp, reference.nngp) < 1e-9);
  CHECK(max_abs_difference(series.ntk, reference.ntk) < 1e-9);
  CHECK(max_abs_difference(series.var1, reference.var1) < 1e-9);
}

TEST_CASE("an NTK-only closed-form kernel (computed over the NNGP's memory) equals the NTK of both", "[ntk][infinite][closed]") {
  const Tensor x = random_inputs(37, 12, 31), x2 = random_inputs(23, 12, 32);
  for (Activation a : {Activation::relu, Activation::erf, Activation::identity}) {
    for (std::size_t depth : {0, 1, 3}) {
      const InfiniteMlp mlp{.depth = depth, .activation = a, .sw2 = 2.0, .sb2 = 0.1};
      INFO(nn::to_string(a) << " depth " << depth);
      CHECK(max_abs_difference(ntk::infinite_width_kernel(x, mlp, KernelKind::ntk), ntk::infinite_width_kernels(x, mlp).ntk) == 0.0);
      CHECK(max_abs_difference(ntk::infinite_width_kernel(x, x2, mlp, KernelKind::ntk),
                               ntk::infinite_width_kernels(x, x2, mlp).ntk) == 0.0);
      CHECK(max_abs_difference(ntk::infinite_width_kernel(x, mlp, KernelKind::nngp), ntk::infinite_width_kernels(x, mlp).nngp) == 0.0);
    }
  }
}

TEST_CASE("the series falls back to the 2-D rule where it does not converge", "[ntk][infinite][quadrature]") {
  // relu's kink: Hermite coefficients decay algebraically; tanh at variance ~60: poles at ±0.2i.
  // Both need more than 512 terms, so series_quadrature declines and leaves the state untouched,
  // and the default is then exactly the per-pair rule at the automatic node count.
  const Kernel pre = pre_activation_state(1.7, 0.3);
  Kernel untouched = pre;
  CHECK_FALSE(ntk::detail::series_quadrature(untouched, act(Activation::relu, ActivationMethod::quadrature)));
  CHECK(max_abs_difference(untouched.nngp, pre.nngp) == 0.0);
  const Tensor wide = random_inputs(4, 2, 5, std::sqrt(30.0));
  Kernel large = ntk::dense(ntk::input_kernel(wide), DenseLayer{2.0, 0.0, false});
  CHECK_FALSE(ntk::detail::series_quadrature(large, act(Activation::tanh)));
  Kernel pairwise = pre;
  ntk::detail::pairwise_quadrature(pairwise, act(Activation::relu, ActivationMethod::quadrature));
  const Kernel fallback = ntk::activation(pre, act(Activation::relu, ActivationMethod::quadrature));
  CHECK(max_abs_difference(fallback.nngp, pairwise.nngp) == 0.0);
  CHECK(max_abs_difference(fallback.ntk, pairwise.ntk) == 0.0);
}

TEST_CASE("the automatic node count follows the variance", "[ntk][infinite][quadrature]") {
  CHECK(ntk::automatic_quadrature_nodes(0.0) == 32);
  CHECK(ntk::automatic_quadrature_nodes(2.0) == 64);
  CHECK(ntk::automatic_quadrature_nodes(1e9) == ntk::kMaxQuadratureNodes);
  // Inputs of norm² ~ 3·30 per feature: variances up to ~60 after Dense(2, 0): tanh within 1e-8 of a
  // 400-node rule, erf within 1e-12 of its closed form.
  const Tensor x = random_inputs(4, 2, 5, std::sqrt(30.0));
  const Kernel pre = ntk::dense(ntk::input_kernel(x), DenseLayer{2.0, 0.0, false});
  const Kernel fine = ntk::activation(pre, act(Activation::tanh, ActivationMethod::automatic, 400));
  const Kernel automatic = ntk::activation(pre, act(Activation::tanh));
  CHECK(max_abs_difference(automatic.nngp, fine.nngp) < 1e-8);
  CHECK(max_abs_difference(automatic.ntk, fine.ntk) < 1e-8);
  const Kernel erf = ntk::activation(pre, act(Activation::erf, ActivationMethod::quadrature));
  CHECK(max_abs_difference(erf.ntk, ntk::activation(pre, act(Activation::erf)).ntk) < 1e-12);
}

TEST_CASE("special values: relu on the diagonal, orthogonal and opposite inputs", "[ntk][infinite][closed]") {
  // Two unit inputs in 2-D, σ_w² = 2, no bias: pre-activation variances 1.
  const Tensor x = {{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.0}};
  const Kernel pre = ntk::dense(ntk::input_kernel(x), DenseLayer{2.0, 0.0, false});
  const Kernel post = ntk::activation(pre, act(Activation::relu));
  CHECK(post.nngp(0, 0) == Approx(0.5).epsilon(1e-15));           // q/2
  CHECK(post.ntk(0, 0) == Approx(0.5 * 1.0).epsilon(1e-15));      // Θ·1/2
  CHECK(post.nngp(0, 1) == Approx(1.0 / (2 * kPi)).epsilon(1e-15));  // θ = π/2: 1/(2π)
  CHECK(post.ntk(0, 1) == Approx(0.0).margin(1e-16));             // Θ = 0 there
  CHECK(post.nngp(0, 2) == Approx(0.0).margin(1e-16));            // θ = π
  CHECK(post.var1(1) == 0.5);

  // The NTK of a 1-hidden-layer relu net, by hand: Θ = σ_w²·K1·(π-θ)/(2π) + σ_w²·K_relu + σ_b².
  // Equal unit inputs (θ = 0): 2·1·½ + 2·½ = 2, NNGP 2·½ = 1; orthogonal ones (θ = π/2, K1 = 0):
  // Θ = 0 + 2/(2π) = 1/π = NNGP.
  const InfiniteMlp mlp{.depth = 1, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.0, .bias = false};
  const Tensor theta = ntk::infinite_width_kernel(x, mlp, KernelKind::ntk);
  const Tensor nngp = ntk::infinite_width_kernel(x, mlp, KernelKind::nngp);
  CHECK(theta(0, 0) == Approx(2.0).epsilon(1e-15));
  CHECK(nngp(0, 0) == Approx(1.0).epsilon(1e-15));
  CHECK(theta(0, 1) == Approx(1.0 / kPi).epsilon(1e-15));
  CHECK(nngp(0, 1) == Approx(1.0 / kPi).epsilon(1e-15));
  CHECK(theta(0, 2) == Approx(0.0).margin(1e-16));  // opposite inputs share no active unit
}

TEST_CASE("identity nets have the kernels of linear regression", "[ntk][infinite][closed]") {
  // Depth L, identity: K_1 = σ_w² x·x′/d + σ_b², K_{l+1} = σ_w² K_l + σ_b², and the NTK sums the
  // per-layer contributions: Θ = Σ_l σ_w^{2(L+1-l)} K_l. Depth 0 is linear regression on
  // (σ_w x/√d, σ_b): NNGP = NTK. To 1e-13 relative.
  const Tensor x1 = random_inputs(6, 4, 3), x2 = random_inputs(5, 4, 4);
  const double sw2 = 1.3, sb2 = 0.4;
  const Tensor gram = ad::scale(ad::matmul(x1, ad::transpose(x2)), 0.25);
  for (std::size_t depth : {0, 1, 3}) {
    std::vector<Tensor> k = {ad::add_scalar(ad::scale(gram, sw2), sb2)};
    for (std::size_t l = 0; l < depth; ++l) k.push_back(ad::add_scalar(ad::scale(k.back(), sw2), sb2));
    Tensor theta = Tensor::zeros(gram.shape());
    for (std::size_t l = 0; l <= depth; ++l) theta = ad::add(theta, ad::scale(k[l], std::pow(sw2, double(depth - l))));
    const InfiniteMlp mlp{.depth = depth, .activation = Activation::identity, .sw2 = sw2, .sb2 = sb2};
    CHECK(ad::max_relative_difference(ntk::infinite_width_kernel(x1, x2, mlp, KernelKind::nngp), k.back()) < 1e-13);
    CHECK(ad::max_relative_difference(ntk::infinite_width_kernel(x1, x2, mlp, KernelKind::ntk), theta) < 1e-13);
  }
}

// ---- structure ----------------------------------------------------------------------------------

TEST_CASE("K(X, X) is symmetric and positive semidefinite, and matches the two-input path", "[ntk][infinite]") {
  const Tensor x = random_inputs(24, 4, 21);
  const Tensor copy = ad::scale(x, 1.0);  // another object: the general (non-symmetric) path
  for (Activation a : {Activation::relu, Activation::erf, Activation::tanh, Activation::sin}) {
    for (bool bias : {true, false}) {
      const InfiniteMlp mlp{.depth = 3, .activation = a, .sw2 = 1.5, .sb2 = bias ? 0.2 : 0.0, .bias = bias};
      for (KernelKind kind : {KernelKind::nngp, KernelKind::ntk}) {
        INFO(nn::to_string(a) << " bias " << bias << " " << ntk::to_string(kind));
        const Tensor k = ntk::infinite_width_kernel(x, mlp, kind);
        REQUIRE(k.shape() == ad::Shape{24, 24});
        for (std::size_t i = 0; i < 24; ++i)
          for (std::size_t j = 0; j < 24; ++j) REQUIRE(k(i, j) == k(j, i));  // exactly
        // Eigenvalues >= -1e-12·λ_max (rounding).
        const ntk::SymmetricEigen e = ntk::symmetric_eigen(k);
        CHECK(e.values.flat(0) >= -1e-12 * e.values.flat(23));
        // The general path computes every entry itself: the same to 1e-13 relative for closed
        // forms; quadrature conditions on the row's variable, so (i, j) and (j, i) differ by the
        // quadrature error: 1e-8.
        const bool closed = a == Activation::relu || a == Activation::erf;
        CHECK(ad::max_relative_difference(ntk::infinite_width_kernel(x, copy, mlp, kind), k) < (closed ? 1e-13 : 1e-8));
      }
    }
  }
}

TEST_CASE("serial fuses Dense layers but equals applying layers one by one", "[ntk][infinite]") {
  // Fused runs of closed forms (one pass), identity folded into the Dense maps, quadrature in
  // between: the same to 1e-13 relative.
  const Tensor x1 = random_inputs(5, 3, 31), x2 = random_inputs(4, 3, 32);
  const Activation pairs[][2] = {{Activation::relu, Activation::relu},     {Activation::erf, Activation::erf},
                                 {Activation::relu, Activation::erf},      {Activation::erf, Activation::relu},
                                 {Activation::tanh, Activation::relu},     {Activation::relu, Activation::tanh},
                                 {Activation::identity, Activation::relu}, {Activation::identity, Activation::identity}};
  for (const auto& [a, b] : pairs) {
    std::vector<ntk::Layer> layers = {DenseLayer{2.0, 0.1}, DenseLayer{0.5, 0.2}, act(a), DenseLayer{1.2, 0.0},
                                      act(b), DenseLayer{1.0, 0.3}};
    Kernel step = ntk::input_kernel(x1, x2);
    for (const ntk::Layer& layer : layers) step = ntk::apply(step, layer);
    const Kernel fused = ntk::serial(ntk::input_kernel(x1, x2), layers);
    INFO(nn::to_string(a) << ", " << nn::to_string(b));
    CHECK(ad::max_relative_difference(fused.nngp, step.nngp) < 1e-13);
    CHECK(ad::max_relative_difference(fused.ntk, step.ntk) < 1e-13);
    CHECK(ad::max_relative_difference(fused.var1, step.var1) < 1e-13);
    CHECK(ad::max_relative_difference(fused.var2, step.var2) < 1e-13);
  }
}

TEST_CASE("the vectorized and the scalar closed forms agree", "[ntk][infinite][closed]") {
  // NTK_NO_AVX2 selects the portable scalar rows (libm acos/asin): to 1e-14 relative of the AVX2
  // rows (polynomial arc-sine), relu and erf, through 3 layers, both paths of 37 columns (not a
  // multiple of the vector width). On a machine without AVX2 both runs take the scalar path.
  const Tensor x = random_inputs(37, 5, 33);
  for (Activation a : {Activation::relu, Activation::erf}) {
    const InfiniteMlp mlp{.depth = 3, .activation = a, .sw2 = 1.7, .sb2 = 0.2};
    const ntk::Kernel fast = ntk::infinite_width_kernels(x, mlp);
    ::setenv("NTK_NO_AVX2", "1", 1);
    const ntk::Kernel portable = ntk::infinite_width_kernels(x, mlp);
    ::unsetenv("NTK_NO_AVX2");
    CHECK(ad::max_relative_difference(fast.nngp, portable.nngp) < 1e-14);
    CHECK(ad::max_relative_difference(fast.ntk, portable.ntk) < 1e-14);
  }
}

TEST_CASE("custom elementwise activations go through quadrature with forward-mode derivatives", "[ntk][infinite]") {
  const Kernel pre = pre_activation_state(1.2, 0.1);
  ActivationLayer custom_sin;
  custom_sin.custom = [](const ad::Var& v) { return ad::sin(v); };
  custom_sin.custom_name = "my-sin";
  const Kernel a = ntk::activation(pre, custom_sin), b = ntk::activation(pre, act(Activation::sin));
  CHECK(max_abs_difference(a.nngp, b.nngp) == 0.0);
  CHECK(max_abs_difference(a.ntk, b.ntk) == 0.0);
  // swish x·σ(x), whose derivative comes from the forward mode: E[φ(u)²] and E[φ′(u)²] at the
  // duplicate pair (row 0, column 0: ρ = 1) against a 1-D trapezoid with a hand-written
  // derivative σ + xσ(1 - σ), to 1e-10.
  ActivationLayer swish;
  swish.custom = [](const ad::Var& v) { return ad::mul(v, ad::sigmoid(v)); };
  const Kernel s = ntk::activation(pre, swish);
  const ntk::GaussianRule rule = ntk::gaussian_trapezoid(200);
  double second = 0.0, slope = 0.0;
  for (std::size_t a2 = 0; a2 < rule.nodes.size(); ++a2) {
    const double u = std::sqrt(pre.var1(0)) * rule.nodes[a2], sig = 1.0 / (1.0 + std::exp(-u));
    const double d = sig + u * sig * (1.0 - sig);
    second += rule.weights[a2] * u * sig * u * sig;
    slope += rule.weights[a2] * d * d;
  }
  REQUIRE(pre.var1(0) == Approx(pre.var2(0)).epsilon(1e-14));
  CHECK(std::abs(s.var1(0) - second) < 1e-10);
  CHECK(std::abs(s.nngp(0, 0) - second) < 1e-10);
  CHECK(std::abs(s.ntk(0, 0) - pre.ntk(0, 0) * slope) < 1e-10);
  ActivationLayer not_elementwise;
  not_elementwise.custom = [](const ad::Var& v) { return ad::sum(v); };
  CHECK_THROWS_AS(ntk::activation(pre, not_elementwise), ad::Error);
}

// ---- convergence of finite nets -----------------------------------------------------------------

namespace {

// The log-log least-squares slope of error against width (-1/2 for pure 1/√width fluctuations).
double log_log_slope(const std::vector<std::size_t>& widths, const std::vector<double>& errors) {
  double mx = 0.0, my = 0.0;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    mx += std::log(static_cast<double>(widths[i])) / static_cast<double>(widths.size());
    my += std::log(errors[i]) / static_cast<double>(widths.size());
  }
  double sxy = 0.0, sxx = 0.0;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    const double dx = std::log(static_cast<double>(widths[i])) - mx;
    sxy += dx * (std::log(errors[i]) - my);
    sxx += dx * dx;
  }
  return sxy / sxx;
}

}  // namespace

TEST_CASE("the empirical NTK at init approaches the infinite-width NTK as width grows", "[ntk][infinite][empirical]") {
  // 5 points in 3-D; the mean of the empirical NTK (ntk::empirical_ntk) over several seeds against
  // the analytic NTK. Required: relative Frobenius error < 5% at widths >= 2048, and falling with
  // width: log-log slope < -0.25 (-0.5 expected) and the widest net's error < half the narrowest's.
  // Seeds are fixed, so the test is deterministic; the bounds leave room for other seeds.
  const Tensor x = random_inputs(5, 3, 41);
  struct Case {
    InfiniteMlp mlp;
    std::vector<std::size_t> widths;
    std::size_t seeds;
  };
  const std::vector<Case> cases = {
      {{.depth = 1, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1}, {64, 256, 1024, 2048, 4096}, 32},
      {{.depth = 2, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1}, {64, 256, 1024, 2048}, 8},
      {{.depth = 1, .activation = Activation::erf, .sw2 = 1.5, .sb2 = 0.0, .bias = false}, {64, 256, 1024, 2048}, 32},
      {{.depth = 1, .activation = Activation::tanh, .sw2 = 1.5, .sb2 = 0.2}, {64, 256, 1024, 2048}, 32},  // quadrature
  };
  for (const Case& c : cases) {
    const Tensor exact = ntk::infinite_width_kernel(x, c.mlp, KernelKind::ntk);
    std::vector<double> errors;
    for (std::size_t width : c.widths)
      errors.push_back(relative_frobenius_error(mean_empirical_ntk(c.mlp, x, width, c.seeds), exact));
    INFO(c.mlp.describe());
    for (std::size_t w = 0; w < c.widths.size(); ++w) INFO("width " << c.widths[w] << ": " << errors[w]);
    for (std::size_t w = 0; w < c.widths.size(); ++w)
      if (c.widths[w] >= 2048) CHECK(errors[w] < 0.05);
    CHECK(log_log_slope(c.widths, errors) < -0.25);
    CHECK(errors.back() < errors.front() / 2.0);
  }
}

TEST_CASE("standard parameterization: width-dependent NTK, matched by LeCun-initialized nets", "[ntk][infinite][empirical]") {
  // Θ′ = σ_w²Θ + n·K + 1: the NTK grows with the width n; the NNGP is that of the NTK
  // parameterization. Empirical (mean of 16 seeds) vs analytic at the same width: < 5% at 2048,
  // and falling as in the test above.
  const Tensor x = random_inputs(5, 3, 51);
  InfiniteMlp mlp{.depth = 1, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.0};
  const Tensor nngp_ntk_param = ntk::infinite_width_kernel(x, mlp, KernelKind::nngp);
  mlp.parameterization = nn::Parameterization::standard;
  const std::vector<std::size_t> widths = {64, 256, 1024, 2048};
  std::vector<double> errors;
  for (std::size_t width : widths) {
    mlp.width = width;
    CHECK(ad::max_relative_difference(ntk::infinite_width_kernel(x, mlp, KernelKind::nngp), nngp_ntk_param) < 1e-14);
    errors.push_back(relative_frobenius_error(mean_empirical_ntk(mlp, x, width, 16),
                                              ntk::infinite_width_kernel(x, mlp, KernelKind::ntk)));
  }
  for (std::size_t w = 0; w < widths.size(); ++w) INFO("width " << widths[w] << ": " << errors[w]);
  CHECK(errors.back() < 0.05);
  CHECK(log_log_slope(widths, errors) < -0.25);
  mlp.width = 0;
  CHECK_THROWS_AS(ntk::infinite_width_kernel(x, mlp, KernelKind::ntk), ad::Error);
  mlp.width = 10;
  mlp.sb2 = 0.1;
  CHECK_THROWS_AS(ntk::mlp_config(mlp, 3, 10), ad::Error);  // nn's LeCun init starts biases at 0
}

// ---- errors and speed ---------------------------------------------------------------------------

TEST_CASE("bad inputs are errors", "[ntk][infinite]") {
  const Tensor x = random_inputs(4, 3, 61);
  const InfiniteMlp mlp{.depth = 2, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1};
  CHECK_THROWS_AS(ntk::infinite_width_kernel(x, random_inputs(4, 2, 62), mlp, KernelKind::ntk), ad::Error);
  CHECK_THROWS_AS(ntk::infinite_width_kernel(Tensor{1.0, 2.0}, mlp, KernelKind::ntk), ad::Error);  // not (N, d)
  Tensor bad = x;
  bad(1, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(ntk::infinite_width_kernel(bad, mlp, KernelKind::ntk), ad::Error);
  bad(1, 2) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(ntk::infinite_width_kernel(x, bad, mlp, KernelKind::nngp), ad::Error);
  for (auto [sw2, sb2] : {std::pair{-1.0, 0.0}, std::pair{1.0, -0.1}, std::pair{std::nan(""), 0.0}}) {
    InfiniteMlp m = mlp;
    m.sw2 = sw2;
    m.sb2 = sb2;
    CHECK_THROWS_AS(ntk::infinite_width_kernel(x, m, KernelKind::ntk), ad::Error);
  }
  InfiniteMlp no_bias = mlp;
  no_bias.bias = false;  // with sb2 = 0.1
  CHECK_THROWS_AS(ntk::infinite_width_kernel(x, no_bias, KernelKind::ntk), ad::Error);
  InfiniteMlp closed_tanh = mlp;
  closed_tanh.activation = Activation::tanh;
  closed_tanh.method = ActivationMethod::closed_form;
  CHECK_THROWS_AS(ntk::infinite_width_kernel(x, closed_tanh, KernelKind::ntk), ad::Error);
  closed_tanh.method = ActivationMethod::quadrature;
  closed_tanh.quadrature_nodes = ntk::kMaxQuadratureNodes + 1;
  CHECK_THROWS_AS(ntk::infinite_width_kernel(x, closed_tanh, KernelKind::ntk), ad::Error);
  Kernel broken = ntk::input_kernel(x);
  broken.var1 = Tensor::zeros({3});
  CHECK_THROWS_AS(ntk::activation(broken, act(Activation::relu)), ad::Error);
  CHECK_THROWS_AS(ntk::parse_kernel_kind("gram"), ad::Error);
  CHECK(ntk::parse_kernel_kind("nngp") == KernelKind::nngp);
  CHECK(ntk::parse_quadrature_rule("gauss-hermite") == ntk::QuadratureRule::gauss_hermite);
  CHECK(ntk::parse_activation_method("closed") == ActivationMethod::closed_form);
}

TEST_CASE("a 2000 x 2000 kernel (the blocked, mirrored path) agrees with the kernels of its pairs", "[ntk][infinite]") {
  // Its speed is benchmark W6 (bench/), not a test. Entries are computed pairwise, so every
  // entry must match the 2 x 2 kernel of its two points (1e-13 relative: the same arithmetic,
  // possibly in another order), and the matrix must be exactly symmetric.
  const Tensor x = random_inputs(2000, 10, 71);
  const InfiniteMlp mlp{.depth = 3, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1};
  const Tensor k = ntk::infinite_width_kernel(x, mlp, KernelKind::ntk);
  REQUIRE(k.shape() == ad::Shape{2000, 2000});
  CHECK(ad::all_finite(k));
  for (const auto& [i, j] : std::vector<std::pair<std::size_t, std::size_t>>{{0, 1}, {5, 1999}, {1234, 77}, {1999, 1998}, {640, 640}}) {
    INFO("entry " << i << ", " << j);
    CHECK(k(i, j) == k(j, i));
    Tensor pair = Tensor::empty({2, 10});
    for (std::size_t d = 0; d < 10; ++d) {
      pair(0, d) = x(i, d);
      pair(1, d) = x(j, d);
    }
    const Tensor small = ntk::infinite_width_kernel(pair, mlp, KernelKind::ntk);
    CHECK(k(i, j) == Approx(small(0, 1)).epsilon(1e-13));
    CHECK(k(i, i) == Approx(small(0, 0)).epsilon(1e-13));
  }
}
