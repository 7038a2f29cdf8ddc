#include <iostream>

#include "autodiff/autodiff.hpp"
using namespace autodiff;

// The post's 1-parameter toy model f(x, w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4) at x = 1.5.
Var toy(const Var& w) {
  const double x = 1.5;
  return (w * x + square(w) * x + sin(exp(0.1 * w))) * (w - 0.4);
}

int main() {
  const Tensor w0 = 0.4;
  auto [value, slope] = value_and_grad(toy, w0);   // f(w0) = 0, f'(w0) ≈ 1.703 (reverse mode)
  auto [y, tangent] = jvp(toy, w0, Tensor(1.0));   // f'(w0)·1 by forward mode, no Jacobian built
  Tensor J = jacrev(toy, w0);                      // the Jacobian (here 1×1) by reverse mode
  Tensor Hv = hvp(toy, w0, Tensor(1.0));           // f''(w0)·1 ≈ 5.505, forward-over-reverse
  std::cout << "f(w0) = " << value << ", f'(w0) = " << slope << " = " << tangent << " = " << J
            << ", f''(w0) = " << Hv << '\n';

  // A vector function of a flat parameter vector viewed as a 2×3 matrix.
  const Tensor x = {1.0, 2.0, 3.0};
  auto f = [&](const Var& w) { return tanh(matmul(w.reshape({2, 3}), x)); };
  const Tensor w1 = {0.1, 0.2, 0.3, -0.4, 0.5, 0.6};
  Tensor J1 = jacfwd(f, w1);   // shape [2, 6]: 6 tangents pushed through one forward pass
  Tensor J2 = jacrev(f, w1);   // the same from 2 cotangents pulled through one reverse sweep
  std::cout << "forward and reverse Jacobians differ by " << relative_difference(J1, J2) << '\n';
  auto report = check_derivatives([&](const Var& w) { return sum(f(w)); }, w1);
  std::cout << report.summary();   // "jvp 1.2e-10, vjp ..., hvp ... (tolerance 1e-06: passed)"
  return report.passed() ? 0 : 1;
}
