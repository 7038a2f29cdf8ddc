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
// layers' weight blocks add their tangent alone (op.add_piece_tangent). What hvp uses.
Tensor gradient_tangent(const Var& y, const Var& x);

// x ← x − step · ∇ₓy in place: a gradient-descent step on the variable (leaf) x, for a
// one-element y. When every op that reads x reads its own block of it (a flat weight vector read
// by its layers through segment and segment_matmul), each block is updated as the sweep reaches
// it, onto x itself (a layer's weights: one GEMM with β = 1), and no gradient vector is formed;
// otherwise the gradient comes first. Returns true for a step taken during the sweep. Values
// recorded from x are stale afterwards (replay them).
bool descend(const Var& y, const Var& x, double step);

}  // namespace autodiff
