// The 1-parameter toy model of "Understanding the Neural Tangent Kernel" (Rajat V D, 2019),
// shared by the tutorial's programs:
//     f(x, w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4),   x = 1.5, w0 = 0.4 (so f(x, w0) = 0).
#pragma once

#include "autodiff/autodiff.hpp"

namespace examples {

using autodiff::Var;

// f = g·h with g(w) = w·x + w²·x + sin(e^{0.1w}) and h(w) = w − 0.4. One statement per step, so
// the nodes are recorded in this order with any compiler (C++ leaves the order in which the two
// operands of an operator are evaluated unspecified). x is a number, or a Var of inputs (N, 1).
template <class X>
Var toy_model(const Var& w, const X& x) {
  const Var linear = w * x;
  const Var quadratic = autodiff::square(w) * x;
  const Var wiggle = autodiff::sin(autodiff::exp(0.1 * w));
  const Var g = linear + quadratic + wiggle;
  const Var h = w - 0.4;
  return g * h;
}

// At the post's input x = 1.5.
inline Var toy(const Var& w) { return toy_model(w, 1.5); }

}  // namespace examples
