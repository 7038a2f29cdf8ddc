// Function transforms, as in JAX: each takes a function f: Var -> Var and a point x (a Tensor),
// records f on a fresh tape (TapeScope), and returns plain tensors.
//
//   grad(f, x)            ∇f(x) for one-element f               one reverse sweep
//   value_and_grad(f, x)  (f(x), ∇f(x))
//   vjp(f, x, u)          (f(x), Jᵀu)                           one reverse sweep
//   jvp(f, x, v)          (f(x), J v)                           forward mode, no Jacobian
//   jacrev(f, x)          J, shape f.shape + x.shape            one sweep with all of I as seeds
//   jacfwd(f, x)          J, the same, by forward mode          one pass with all of I as tangents
//   hvp(f, x, v)          ∇²f(x) v                              forward-over-reverse
//   hessian(f, x)         ∇²f(x), shape x.shape + x.shape       forward-over-reverse, batched
//
// Nesting: grad_fn(f) is the function x -> ∇f(x) on Vars, so jacfwd(grad_fn(f), x) is the
// Hessian and grad(compose(g, grad_fn(f)), x) differentiates through a gradient.
#pragma once

#include <utility>

#include <fmt/format.h>

#include "autodiff/backward.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"

namespace autodiff {

namespace detail {
inline void require_one_element(const Var& y, const char* what) {
  if (y.size() != 1)
    throw Error(fmt::format("{}: f returned shape {}; this transform needs a one-element output", what,
                            to_string(y.shape())));
}
// n x n identity as n seeds/tangents of the given shape: shape {n} + shape.
inline Tensor identity_batch(const Shape& shape) {
  const std::size_t n = shape_size(shape);
  return reshape(Tensor::identity(n), join_shapes({n}, shape));
}
// A batch of k results, shape {k} + out, as the k columns of a matrix of shape out + {k}.
inline Tensor columns(const Tensor& batched, const Shape& out, const Shape& in) {
  const std::size_t k = batched.shape()[0];
  return reshape(transpose(reshape(batched, {k, shape_size(out)})), join_shapes(out, in));
}
// y's value (or tangent) as a result: moved out of the scope's tape, which is rewound anyway, and
// copied only when f returned a Var of another tape.
inline Tensor take_value(TapeScope& scope, const Var& y) {
  if (&y.tape() != &scope.tape()) return y.value();
  return std::move(scope.tape().node(y.index()).value);
}
inline Tensor take_tangent(TapeScope& scope, const Var& y) {
  if (!y.has_tangent()) return Tensor::zeros(join_shapes(y.tape().tangent_batch(), y.shape()));
  if (&y.tape() != &scope.tape()) return y.tangent();
  return std::move(scope.tape().node(y.index()).tangent);
}
}  // namespace detail

template <class F>
std::pair<double, Tensor> value_and_grad(F&& f, const Tensor& x) {
  TapeScope scope;
  const Var X = scope.tape().variable(x);
  const Var y = f(X);
  detail::require_one_element(y, "grad");
  return {y.value().item(), gradient(y, X)};
}

template <class F>
Tensor grad(F&& f, const Tensor& x) {
  return value_and_grad(std::forward<F>(f), x).second;
}

// x is taken by value: pass a temporary (or std::move) and it is not copied.
template <class F>
std::pair<Tensor, Tensor> vjp(F&& f, Tensor x, const Tensor& u) {
  TapeScope scope;
  const Var X = scope.tape().variable(std::move(x));
  const Var y = f(X);
  Tensor pulled = std::move(backward(y, {X}, u)[0]);
  return {detail::take_value(scope, y), std::move(pulled)};
}

// x and v are taken by value: pass temporaries (or std::move) and they are not copied.
template <class F>
std::pair<Tensor, Tensor> jvp(F&& f, Tensor x, Tensor v) {
  TapeScope scope;
  const Var X = scope.tape().variable(std::move(x), std::move(v));
  const Var y = f(X);
  Tensor tangent = detail::take_tangent(scope, y);  // first: it reads y's shape, which take_value moves
  return {detail::take_value(scope, y), std::move(tangent)};
}

template <class F>
Tensor jacrev(F&& f, const Tensor& x) {
  TapeScope scope;
  const Var X = scope.tape().variable(x);
  const Var y = f(X);
  const std::size_t m = y.size();
  const Tensor rows = std::move(backward(y, {X}, detail::identity_batch(y.shape()), {m})[0]);  // {m} + x.shape
  return reshape(rows, join_shapes(y.shape(), x.shape()));
}

template <class F>
Tensor jacfwd(F&& f, const Tensor& x) {
  TapeScope scope;
  const std::size_t n = x.size();
  scope.tape().set_tangent_batch({n});
  const Var X = scope.tape().variable(x, detail::identity_batch(x.shape()));
  const Var y = f(X);
  if (!y.has_tangent()) return Tensor::zeros(join_shapes(y.shape(), x.shape()));
  return detail::columns(y.tangent(), y.shape(), x.shape());  // tangent: {n} + y.shape
}

// x -> ∇f(x) as a differentiable function on Vars (for nesting transforms).
template <class F>
auto grad_fn(F f) {
  return [f](const Var& x) -> Var { return gradient_var(f(x), x); };
}

template <class F>
Tensor hvp(F&& f, const Tensor& x, const Tensor& v) {
  TapeScope scope;
  const Var X = scope.tape().variable(x, v);
  const Var y = f(X);
  detail::require_one_element(y, "hvp");
  return gradient_tangent(y, X);  // the gradient's tangent ∇²f v (its value is never formed)
}

template <class F>
Tensor hessian(F&& f, const Tensor& x) {
  return jacfwd(grad_fn(std::forward<F>(f)), x);
}

}  // namespace autodiff
