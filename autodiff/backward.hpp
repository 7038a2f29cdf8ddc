// Reverse mode on a recorded tape: one linear sweep from the output's node down to the lowest
// input, applying each node's VJP rule and accumulating cotangents (fan-out adds up).
#pragma once

#include <vector>

#include "autodiff/tape.hpp"

namespace autodiff {

// Cotangents of `inputs` given the cotangent `seed` of `output`. `seed` has shape batch + the
// output's shape: with a batch of k seeds, one sweep gives k rows of a Jacobian at once.
// Inputs the output does not depend on get zeros.
std::vector<Tensor> backward(const Var& output, const std::vector<Var>& inputs, const Tensor& seed,
                             const Shape& batch = {});
// The same, recorded on the tape as differentiable ops (PyTorch's create_graph=True): the
// results are Vars that can be differentiated again, or carry tangents (forward-over-reverse).
std::vector<Var> backward_graph(const Var& output, const std::vector<Var>& inputs, const Var& seed,
                                const Shape& batch = {});

// ∇ₓ y for a one-element y.
Tensor gradient(const Var& y, const Var& x);
// ∇ₓ y as a Var on the tape (differentiable).
Var gradient_var(const Var& y, const Var& x);
// The tangent of ∇ₓ y (forward-over-reverse: ∇²y·ẋ for a one-element y), equal to
// gradient_var(y, x).tangent() but without forming the gradient's own value where the ops allow:
// layers' weight blocks give their tangent alone (op.piece_tangent). What hvp uses.
Tensor gradient_tangent(const Var& y, const Var& x);

}  // namespace autodiff
