// The differentiable ops. Each has two overloads: on Tensor it just computes the value; on Var it
// also records a node on the tape (and propagates tangents when forward mode is active). The
// derivative rules live next to each op's value in autodiff/ops_*.cpp, one struct per op.
//
// Conventions (NumPy's): elementwise binary ops broadcast; axes may be negative (-1 = last);
// matmul of two matrices, matrix x vector, vector x matrix, and of stacks of matrices (leading
// axes broadcast); transpose swaps the last two axes.
#pragma once

#include <cstdint>
#include <vector>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"

namespace autodiff {

// ---- elementwise, broadcasting ------------------------------------------------------------
Tensor add(const Tensor& x, const Tensor& y);
Var add(const Var& x, const Var& y);
Tensor sub(const Tensor& x, const Tensor& y);
Var sub(const Var& x, const Var& y);
Tensor mul(const Tensor& x, const Tensor& y);
Var mul(const Var& x, const Var& y);
Tensor div(const Tensor& x, const Tensor& y);
Var div(const Var& x, const Var& y);
Tensor pow(const Tensor& x, const Tensor& y);  // x^y for x > 0 where y varies
Var pow(const Var& x, const Var& y);

// ---- elementwise with a constant ------------------------------------------------------------
Tensor scale(const Tensor& x, double s);  // s * x
Var scale(const Var& x, double s);
Tensor add_scalar(const Tensor& x, double c);  // x + c
Var add_scalar(const Var& x, double c);
Tensor pow(const Tensor& x, double p);  // x^p
Var pow(const Var& x, double p);

// ---- elementwise unary ----------------------------------------------------------------------
Tensor neg(const Tensor& x);
Var neg(const Var& x);
Tensor square(const Tensor& x);
Var square(const Var& x);
Tensor sqrt(const Tensor& x);
Var sqrt(const Var& x);
Tensor exp(const Tensor& x);
Var exp(const Var& x);
Tensor log(const Tensor& x);
Var log(const Var& x);
Tensor sin(const Tensor& x);
Var sin(const Var& x);
Tensor cos(const Tensor& x);
Var cos(const Var& x);
Tensor tanh(const Tensor& x);
Var tanh(const Var& x);
Tensor one_minus_square(const Tensor& x);  // 1 - x² in one op (tanh's derivative from its output)
Var one_minus_square(const Var& x);
Tensor sigmoid(const Tensor& x);
Var sigmoid(const Var& x);
Tensor relu(const Tensor& x);
Var relu(const Var& x);
Tensor erf(const Tensor& x);
Var erf(const Var& x);
Tensor abs(const Tensor& x);
Var abs(const Var& x);
// Piecewise-constant: their derivative is zero (a Var result is a constant on the tape).
Tensor step(const Tensor& x);  // 1 where x > 0, else 0 (the derivative of relu)
Var step(const Var& x);
Tensor sign(const Tensor& x);  // -1, 0, 1 (the derivative of abs)
Var sign(const Var& x);

// ---- linear algebra -------------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);
Var matmul(const Var& a, const Var& b);
// op(A) op(B) for matrices or stacks of them, op = transpose where asked (a BLAS flag, no copy).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);
Var matmul(const Var& a, const Var& b, bool transpose_a, bool transpose_b);
// x op(B) for the matrix block B = segment(w, start, shape) of a flat vector w (x is (..., n)),
// without copying B out of w: how a layer applies its weights. Its VJP adds the block's
// cotangent straight into w's.
Tensor segment_matmul(const Tensor& x, const Tensor& w, std::size_t start, const Shape& shape, bool transpose_b);
Var segment_matmul(const Var& x, const Var& w, std::size_t start, const Shape& shape, bool transpose_b);
// A dense layer in one op: weight_scale · x op(B) + bias_scale · b, for the matrix block
// B = segment(w, start, shape) and the bias b, the p outputs' entries of w right after B (where a
// layer's weights and bias lie in a flat parameter vector). One node where segment_matmul, scale,
// segment and add would record four; its VJP writes [B̄ | b̄] into w̄ as one block.
Tensor segment_affine(const Tensor& x, const Tensor& w, std::size_t start, const Shape& shape, bool transpose_b,
                      double weight_scale = 1.0, double bias_scale = 1.0);
Var segment_affine(const Var& x, const Var& w, std::size_t start, const Shape& shape, bool transpose_b,
                   double weight_scale = 1.0, double bias_scale = 1.0);
Tensor transpose(const Tensor& a);  // swaps the last two axes
Var transpose(const Var& a);
Tensor dot(const Tensor& x, const Tensor& y);  // vectors -> 0-d
Var dot(const Var& x, const Var& y);

// ---- reductions -----------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> 0-d
Var sum(const Var& x);
Tensor sum(const Tensor& x, std::int64_t axis);
Var sum(const Var& x, std::int64_t axis);
// ‖a − b‖² for a and b of one shape (0-d), in one node: a squared loss's sum.
Tensor squared_distance(const Tensor& a, const Tensor& b);
Var squared_distance(const Var& a, const Var& b);
Tensor mean(const Tensor& x);
Var mean(const Var& x);
Tensor mean(const Tensor& x, std::int64_t axis);
Var mean(const Var& x, std::int64_t axis);

// ---- shapes ---------------------------------------------------------------------------------
// `lead` leading axes are left alone and `shape` applies to the rest (rules use it for batches).
Tensor reshape(const Tensor& x, const Shape& shape, std::size_t lead = 0);
Var reshape(const Var& x, const Shape& shape, std::size_t lead = 0);
Tensor sum_to(const Tensor& x, const Shape& shape, std::size_t lead = 0);  // undo broadcasting
Var sum_to(const Var& x, const Shape& shape, std::size_t lead = 0);
Tensor broadcast_to(const Tensor& x, const Shape& shape, std::size_t lead = 0);
Var broadcast_to(const Var& x, const Shape& shape, std::size_t lead = 0);
// Elements [start, start + count) along `axis`: how a flat parameter vector is cut into layers.
Tensor slice(const Tensor& x, std::size_t start, std::size_t count, std::int64_t axis = -1);
Var slice(const Var& x, std::size_t start, std::size_t count, std::int64_t axis = -1);
// x[..., start : start + size] of the last axis, unfolded into `shape` (size its element count):
// a block of a flat parameter vector viewed as a layer tensor, in one op and one copy.
Tensor segment(const Tensor& x, std::size_t start, const Shape& shape);
Var segment(const Var& x, std::size_t start, const Shape& shape);
// Zeros (lead..., length) with piece i, read flat after its `lead` leading axes (which all pieces
// share), added at offsets[i] along the last axis: the sum of the pieces' embeddings as one op,
// the adjoint of several segments.
Var assemble(const std::vector<Var>& pieces, const Shape& offsets, std::size_t length, std::size_t lead = 0);
// The adjoint of slice: x placed at [start, start + x.shape[axis]) in zeros of length `length`.
Tensor embed(const Tensor& x, std::size_t start, std::size_t length, std::int64_t axis = -1);
Var embed(const Var& x, std::size_t start, std::size_t length, std::int64_t axis = -1);
Tensor concat(const std::vector<Tensor>& xs, std::int64_t axis = 0);
Var concat(const std::vector<Var>& xs, std::int64_t axis = 0);
Tensor stack(const std::vector<Tensor>& xs, std::int64_t axis = 0);  // new axis
Var stack(const std::vector<Var>& xs, std::int64_t axis = 0);

// ---- operators ------------------------------------------------------------------------------
inline Tensor operator+(const Tensor& x, const Tensor& y) { return add(x, y); }
inline Tensor operator-(const Tensor& x, const Tensor& y) { return sub(x, y); }
inline Tensor operator*(const Tensor& x, const Tensor& y) { return mul(x, y); }
inline Tensor operator/(const Tensor& x, const Tensor& y) { return div(x, y); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator*(double s, const Tensor& x) { return scale(x, s); }
inline Tensor operator*(const Tensor& x, double s) { return scale(x, s); }
inline Tensor operator/(const Tensor& x, double s) { return scale(x, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& x) { return scale(pow(x, -1.0), s); }
inline Tensor operator+(const Tensor& x, double c) { return add_scalar(x, c); }
inline Tensor operator+(double c, const Tensor& x) { return add_scalar(x, c); }
inline Tensor operator-(const Tensor& x, double c) { return add_scalar(x, -c); }
inline Tensor operator-(double c, const Tensor& x) { return add_scalar(neg(x), c); }

// Var with Var or Tensor (a Tensor becomes a constant on the current tape).
inline Var operator+(const Var& x, const Var& y) { return add(x, y); }
inline Var operator-(const Var& x, const Var& y) { return sub(x, y); }
inline Var operator*(const Var& x, const Var& y) { return mul(x, y); }
inline Var operator/(const Var& x, const Var& y) { return div(x, y); }
inline Var operator-(const Var& x) { return neg(x); }
inline Var operator*(double s, const Var& x) { return scale(x, s); }
inline Var operator*(const Var& x, double s) { return scale(x, s); }
inline Var operator/(const Var& x, double s) { return scale(x, 1.0 / s); }
inline Var operator/(double s, const Var& x) { return scale(pow(x, -1.0), s); }
inline Var operator+(const Var& x, double c) { return add_scalar(x, c); }
inline Var operator+(double c, const Var& x) { return add_scalar(x, c); }
inline Var operator-(const Var& x, double c) { return add_scalar(x, -c); }
inline Var operator-(double c, const Var& x) { return add_scalar(neg(x), c); }

}  // namespace autodiff
