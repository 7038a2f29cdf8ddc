#include <catch2/catch.hpp>
#include <cmath>
#include <iostream>
#include "autodiff/autodiff.hpp"
using namespace autodiff;

TEST_CASE("smoke") {
  auto f = [](const Var& w) {
    const double x = 1.5;
    return (w * x + square(w) * x + sin(exp(0.1 * w))) * (w - 0.4);
  };
  auto [val, g] = value_and_grad(f, Tensor(0.4));
  std::cout << val << " " << g << "\n";
  std::cout << hvp(f, Tensor(0.4), Tensor(1.0)) << "\n";
  std::cout << hessian(f, Tensor(0.4)) << "\n";
  auto h = [](const Var& w) { return sum(tanh(matmul(reshape(w, {2, 3}), Tensor{1.0, 2.0, 3.0}))); };
  Tensor w0 = Tensor{0.1, 0.2, 0.3, -0.4, 0.5, 0.6};
  std::cout << grad(h, w0) << "\n" << hessian(h, w0) << "\n" << jacfwd(grad_fn(h), w0) << "\n";
  auto rep = check_derivatives(h, w0);
  std::cout << rep.summary() << "\n";
  auto rep2 = check_derivatives(f, Tensor(0.4));
  std::cout << rep2.summary() << "\n";
}
