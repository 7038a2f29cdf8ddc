// The values the README's tour claims, checked in closed form. The tour itself is the program
// tests/consumer/tour.cpp, which README.md quotes verbatim and the test install.consumer builds
// against the installed package and runs.
#include <catch2/catch.hpp>

#include <cmath>

#include "autodiff/autodiff.hpp"

namespace {
using namespace autodiff;

// The post's 1-parameter toy model f(x, w) = (w·x + w²·x + sin(e^{0.1 w}))·(w − 0.4) at x = 1.5.
Var toy(const Var& w) {
  const double x = 1.5;
  return (w * x + square(w) * x + sin(exp(0.1 * w))) * (w - 0.4);
}

TEST_CASE("README tour: gradient, JVP, Jacobian and HVP of the toy model", "[readme]") {
  const Tensor w0 = 0.4;
  auto [value, slope] = value_and_grad(toy, w0);          // f(w0) = 0, f'(w0) ≈ 1.703
  auto [y, tangent] = jvp(toy, w0, Tensor(1.0));          // forward mode: f'(w0)·1
  Tensor J = jacrev(toy, w0);                              // 0-d: the 1×1 Jacobian
  Tensor Hv = hvp(toy, w0, Tensor(1.0));                   // f''(w0)·1, forward-over-reverse

  const double e = std::exp(0.04);
  const double f1 = 0.4 * 1.5 + 0.16 * 1.5 + std::sin(e);  // closed forms (the tour's comments)
  const double f2 = 2.0 * (1.5 + 2.0 * 0.4 * 1.5 + std::cos(e) * 0.1 * e);
  CHECK(value == 0.0);
  CHECK(slope.item() == Approx(f1).epsilon(1e-14));
  CHECK(tangent.item() == Approx(f1).epsilon(1e-14));
  CHECK(J.item() == Approx(f1).epsilon(1e-14));
  CHECK(Hv.item() == Approx(f2).epsilon(1e-14));
  CHECK(y.item() == 0.0);
}

TEST_CASE("README tour: a vector function and the tape", "[readme]") {
  // f(w) = tanh(W x) with the flat vector w viewed as a 2×3 matrix W.
  const Tensor x = {1.0, 2.0, 3.0};
  auto f = [&](const Var& w) { return tanh(matmul(w.reshape({2, 3}), x)); };
  const Tensor w0 = {0.1, 0.2, 0.3, -0.4, 0.5, 0.6};
  const Tensor J = jacfwd(f, w0);  // shape [2, 6]
  REQUIRE(J.shape() == Shape{2, 6});
  CHECK(max_relative_difference(J, jacrev(f, w0)) < 1e-14);
  const auto report = check_derivatives([&](const Var& w) { return sum(f(w)); }, w0);
  CHECK(report.passed());

  Tape& tape = Tape::current();
  const std::size_t start = tape.size();
  const Var w = tape.variable(w0);
  const Var loss = sum(square(f(w)));
  CHECK_THAT(tape.dump(), Catch::Contains("matmul") && Catch::Contains("tanh"));
  CHECK(gradient(loss, w).shape() == Shape{6});
  tape.rewind(start);
}

}  // namespace
