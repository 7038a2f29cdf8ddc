// Explain mode: the chain rule, one application at a time, in words and numbers. For learners who
// want to watch reverse mode push an adjoint back through each op, e.g.
//
//   %10 = mul(%8, %9): adjoint of %8 += ḡ·%9 = 1·0 = 0
//
// and forward mode push a tangent through, e.g.
//
//   %4 = add(%1, %3): tangent = d%1 + d%3 = 1.5 + 1.2 = 2.7
//
// The reverse side is an observer of the numeric sweep (autodiff/observe.hpp): off by default
// and free when off; while an ExplainScope lives, every numeric reverse sweep on this thread
// (gradient, grad, vjp, …) writes its explanation. Forward mode is explained after the fact from
// the tangents the tape stores (each node's tangent was computed when it was recorded).
//
// The common elementwise ops (add, sub, mul, div, neg, scale, add_scalar, square, sqrt, exp, log,
// sin, cos, tanh, sigmoid, relu, pow, …) are worded as formulas; others as "vjp of <op>" /
// "jvp of <op>" with the resulting tensor. Numbers are substituted into the formula where every
// tensor involved has one element (otherwise the result is shown abbreviated).
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "autodiff/listing.hpp"
#include "autodiff/observe.hpp"
#include "autodiff/tape.hpp"

namespace autodiff {

struct ExplainOptions {
  ValueFormat format{};
};

// RAII: while alive, every numeric reverse sweep on this thread explains itself to `out`.
class ExplainScope {
 public:
  explicit ExplainScope(std::ostream& out, const ExplainOptions& options = {});
  ~ExplainScope();
  ExplainScope(const ExplainScope&) = delete;
  ExplainScope& operator=(const ExplainScope&) = delete;

 private:
  std::unique_ptr<SweepObserver> observer_;
  std::optional<ObserveSweeps> watching_;
};

// ∇ₓy for a one-element y by one reverse sweep, and its explanation (the returned text).
std::string explain_gradient(const Var& y, const Var& x, const ExplainOptions& options = {});
// How each node up to y got its tangent (forward mode), from the tangents stored on the tape.
std::string explain_tangents(const Var& y, const ExplainOptions& options = {});

}  // namespace autodiff
