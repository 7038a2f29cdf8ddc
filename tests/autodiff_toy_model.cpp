// The 1-parameter toy model
//     f(x, w) = (w·x + w²·x + sin(e^{0.1 w}))·(w − 0.4),   x = 1.5, w0 = 0.4,
// differentiated by every transform and compared with derivatives worked out by hand.
//
// Write f = g·h with g(w) = w x + w² x + sin(e^{0.1 w}) and h(w) = w − 0.4 (h' = 1, h'' = 0):
//     f'   = g' h + g
//     f''  = g'' h + 2 g'
//     f''' = g''' h + 3 g''
// with, for e = e^{0.1 w} (so e' = 0.1 e),
//     g'   = x + 2 w x + 0.1 e cos(e)
//     g''  = 2 x + 0.01 e cos(e) − 0.01 e² sin(e)
//     g''' = 0.001 e cos(e) − 0.003 e² sin(e) − 0.001 e³ cos(e).
// At w0, h = 0, so f(w0) = 0 exactly, f'(w0) = g(w0) ≈ 1.703, f''(w0) = 2 g'(w0) ≈ 5.505 and
// f'''(w0) = 3 g''(w0).
//
// Tolerance: 1e-12 relative (Catch's Approx(...).epsilon(1e-12)) for every AD result against the
// closed forms; the closed forms themselves are checked against finite differences of f
// (no autodiff involved) to 1e-7 relative.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.hpp"

namespace {

using namespace autodiff;

constexpr double kX = 1.5;
constexpr double kW0 = 0.4;
constexpr double kTol = 1e-12;  // relative, AD against the closed forms

// The model on the tape, with x a number.
Var toy(const Var& w) { return (w * kX + square(w) * kX + sin(exp(0.1 * w))) * (w - 0.4); }

// ---- closed forms (plain doubles, no autodiff) ----------------------------------------------
double f_closed(double w, double x = kX) { return (w * x + w * w * x + std::sin(std::exp(0.1 * w))) * (w - 0.4); }
double g(double w, double x = kX) { return w * x + w * w * x + std::sin(std::exp(0.1 * w)); }
double g1(double w, double x = kX) {
  const double e = std::exp(0.1 * w);
  return x + 2.0 * w * x + 0.1 * e * std::cos(e);
}
double g2(double w, double x = kX) {
  const double e = std::exp(0.1 * w);
  return 2.0 * x + 0.01 * e * std::cos(e) - 0.01 * e * e * std::sin(e);
}
double g3(double w) {
  const double e = std::exp(0.1 * w);
  return 0.001 * e * std::cos(e) - 0.003 * e * e * std::sin(e) - 0.001 * e * e * e * std::cos(e);
}
double f1(double w, double x = kX) { return g1(w, x) * (w - 0.4) + g(w, x); }
double f2(double w, double x = kX) { return g2(w, x) * (w - 0.4) + 2.0 * g1(w, x); }
double f3(double w) { return g3(w) * (w - 0.4) + 3.0 * g2(w); }

// At w0 the second factor vanishes: the forms given in the task, written out on their own.
const double kF1AtW0 = kW0 * kX + kW0 * kW0 * kX + std::sin(std::exp(0.1 * kW0));
const double kF2AtW0 = 2.0 * (kX + 2.0 * kW0 * kX + std::cos(std::exp(0.1 * kW0)) * 0.1 * std::exp(0.1 * kW0));

const std::vector<double> kOtherW = {-3.0, -1.3, 0.0, 0.9, 2.5};

TEST_CASE("toy model: the closed forms match finite differences of f", "[toy]") {
  // Central differences of the closed-form f, f' and f'' (no autodiff): O(h²) ≈ 1e-10 error.
  const double h = 1e-5;
  for (double w : {kW0, -3.0, -1.3, 0.0, 0.9, 2.5}) {
    INFO("w = " << w);
    const double fd1 = (f_closed(w + h) - f_closed(w - h)) / (2 * h);
    const double fd2 = (f1(w + h) - f1(w - h)) / (2 * h);
    const double fd3 = (f2(w + h) - f2(w - h)) / (2 * h);
    CHECK(f1(w) == Approx(fd1).epsilon(1e-7));  // tolerance 1e-7 relative (finite differences)
    CHECK(f2(w) == Approx(fd2).epsilon(1e-7));  // tolerance 1e-7 relative
    CHECK(f3(w) == Approx(fd3).epsilon(1e-7));  // tolerance 1e-7 relative
  }
  // The task's forms at w0 are the general ones there.
  CHECK(kF1AtW0 == Approx(f1(kW0)).epsilon(1e-15));  // tolerance 1e-15: h(w0) = 0 exactly
  CHECK(kF2AtW0 == Approx(f2(kW0)).epsilon(1e-15));  // tolerance 1e-15
  CHECK(kF1AtW0 == Approx(1.703).margin(5e-4));      // the quoted ≈ 1.703
}

TEST_CASE("toy model: value and derivatives at w0 by every transform", "[toy]") {
  const Tensor w0 = kW0;  // 0-d

  const auto [value, slope] = value_and_grad(toy, w0);
  CHECK(value == 0.0);  // exact: the factor (w − 0.4) is exactly 0 at w = 0.4
  REQUIRE(slope.dim() == 0);
  CHECK(slope.item() == Approx(kF1AtW0).epsilon(kTol));  // tolerance 1e-12 relative
  CHECK(grad(toy, w0).item() == Approx(kF1AtW0).epsilon(kTol));

  // Forward mode along tangents 1 and 2.5, reverse mode with cotangents 1 and -0.75.
  const auto [y, t1] = jvp(toy, w0, Tensor(1.0));
  CHECK(y.item() == 0.0);  // exact
  CHECK(t1.item() == Approx(kF1AtW0).epsilon(kTol));
  CHECK(jvp(toy, w0, Tensor(2.5)).second.item() == Approx(2.5 * kF1AtW0).epsilon(kTol));
  CHECK(vjp(toy, w0, Tensor(1.0)).second.item() == Approx(kF1AtW0).epsilon(kTol));
  CHECK(vjp(toy, w0, Tensor(-0.75)).second.item() == Approx(-0.75 * kF1AtW0).epsilon(kTol));

  // 1 x 1 Jacobians (0-d: f.shape + w.shape).
  const Tensor jf = jacfwd(toy, w0), jr = jacrev(toy, w0);
  CHECK(jf.dim() == 0);
  CHECK(jr.dim() == 0);
  CHECK(jf.item() == Approx(kF1AtW0).epsilon(kTol));
  CHECK(jr.item() == Approx(kF1AtW0).epsilon(kTol));

  // Second derivative: HVP along 1 and -2, the Hessian, and nested transforms.
  CHECK(hvp(toy, w0, Tensor(1.0)).item() == Approx(kF2AtW0).epsilon(kTol));
  CHECK(hvp(toy, w0, Tensor(-2.0)).item() == Approx(-2.0 * kF2AtW0).epsilon(kTol));
  const Tensor H = hessian(toy, w0);
  CHECK(H.dim() == 0);
  CHECK(H.item() == Approx(kF2AtW0).epsilon(kTol));
  CHECK(jacfwd(grad_fn(toy), w0).item() == Approx(kF2AtW0).epsilon(kTol));   // forward over reverse
  CHECK(jacrev(grad_fn(toy), w0).item() == Approx(kF2AtW0).epsilon(kTol));   // reverse over reverse
  CHECK(grad(grad_fn(toy), w0).item() == Approx(kF2AtW0).epsilon(kTol));
  CHECK(jvp(grad_fn(toy), w0, Tensor(1.0)).second.item() == Approx(kF2AtW0).epsilon(kTol));

  // Third derivative, f'''(w0) = 3 g''(w0), by differentiating twice through gradients.
  CHECK(grad(grad_fn(grad_fn(toy)), w0).item() == Approx(3.0 * g2(kW0)).epsilon(kTol));
  CHECK(hessian(grad_fn(toy), w0).item() == Approx(3.0 * g2(kW0)).epsilon(kTol));
}

TEST_CASE("toy model: derivatives at other w against the closed forms for all w", "[toy]") {
  for (double w : kOtherW) {
    INFO("w = " << w);
    const Tensor at = w;
    const auto [value, slope] = value_and_grad(toy, at);
    CHECK(value == Approx(f_closed(w)).epsilon(kTol));  // tolerance 1e-12 relative, here and below
    CHECK(slope.item() == Approx(f1(w)).epsilon(kTol));
    CHECK(jvp(toy, at, Tensor(1.0)).second.item() == Approx(f1(w)).epsilon(kTol));
    CHECK(vjp(toy, at, Tensor(1.0)).second.item() == Approx(f1(w)).epsilon(kTol));
    CHECK(jacfwd(toy, at).item() == Approx(f1(w)).epsilon(kTol));
    CHECK(jacrev(toy, at).item() == Approx(f1(w)).epsilon(kTol));
    CHECK(hvp(toy, at, Tensor(1.0)).item() == Approx(f2(w)).epsilon(kTol));
    CHECK(hessian(toy, at).item() == Approx(f2(w)).epsilon(kTol));
    CHECK(grad(grad_fn(grad_fn(toy)), at).item() == Approx(f3(w)).epsilon(kTol));
  }
}

TEST_CASE("toy model: a one-element vector w and w with x as a second variable", "[toy]") {
  // w as a vector of one element: the same numbers with shapes [1], [1], [1, 1].
  const Tensor w = Tensor{kW0};
  REQUIRE(w.shape() == Shape{1});
  const Tensor gw = grad(toy, w), Hw = hessian(toy, w), Jw = jacrev(toy, w);
  REQUIRE(gw.shape() == Shape{1});
  REQUIRE(Hw.shape() == (Shape{1, 1}));
  REQUIRE(Jw.shape() == (Shape{1, 1}));
  CHECK(gw.flat(0) == Approx(kF1AtW0).epsilon(kTol));  // tolerance 1e-12 relative, here and below
  CHECK(Hw.flat(0) == Approx(kF2AtW0).epsilon(kTol));
  CHECK(Jw.flat(0) == Approx(kF1AtW0).epsilon(kTol));

  // p = (x, w): ∂f/∂x = (w + w²)(w − 0.4), ∂²f/∂x² = 0, ∂²f/∂x∂w = (1 + 2w)(w − 0.4) + w + w².
  const auto model = [](const Var& p) {
    const Var x = reshape(slice(p, 0, 1), {}), v = reshape(slice(p, 1, 1), {});
    return (v * x + square(v) * x + sin(exp(0.1 * v))) * (v - 0.4);
  };
  for (double at : {kW0, -1.3, 0.9}) {
    INFO("w = " << at);
    const Tensor p = {kX, at};
    const Tensor gp = grad(model, p), Hp = hessian(model, p);
    REQUIRE(Hp.shape() == (Shape{2, 2}));
    const double dfdx = (at + at * at) * (at - 0.4);
    const double dxdw = (1.0 + 2.0 * at) * (at - 0.4) + at + at * at;
    CHECK(gp(0) == Approx(dfdx).epsilon(kTol).margin(1e-15));  // at w0 exactly 0: margin 1e-15 absolute
    CHECK(gp(1) == Approx(f1(at)).epsilon(kTol));
    CHECK(Hp(0, 0) == 0.0);  // exact: f is linear in x
    CHECK(Hp(0, 1) == Approx(dxdw).epsilon(kTol));
    CHECK(Hp(1, 0) == Approx(dxdw).epsilon(kTol));
    CHECK(Hp(1, 1) == Approx(f2(at)).epsilon(kTol));
  }
  // The same model through the finite-difference checker (tolerance 1e-6, the default).
  const CheckReport report = check_derivatives(model, Tensor{kX, kW0});
  INFO(report.summary());
  CHECK(report.passed());
  CHECK(check_derivatives(toy, Tensor(kW0)).passed());  // tolerance 1e-6 (default)
}

}  // namespace
