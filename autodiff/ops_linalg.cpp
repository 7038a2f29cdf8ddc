// Matrix products (autodiff/gemm.hpp), and transpose.
#include <vector>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

#include "autodiff/axes.hpp"
#include "autodiff/gemm.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace op {
using detail::gemm;
using detail::head;

// C = op(A) op(B) for stacks of matrices, op = transpose where asked: op(A) (..., m, n),
// op(B) (..., n, p) -> (..., m, p), leading axes broadcast. Transposes are BLAS flags, never copies.
// One GEMM per matrix pair; a stack of A times one B is a single GEMM over all the rows.
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  require_rank("matmul", a, 2);
  require_rank("matmul", b, 2);
  const std::size_t a_rows = a.shape()[a.dim() - 2], a_cols = a.shape()[a.dim() - 1];
  const std::size_t b_rows = b.shape()[b.dim() - 2], b_cols = b.shape()[b.dim() - 1];
  const std::size_t m = ta ? a_cols : a_rows, n = ta ? a_rows : a_cols;
  const std::size_t n2 = tb ? b_cols : b_rows, p = tb ? b_rows : b_cols;
  if (n != n2)
    throw Error(fmt::format("matmul: shapes {}{} and {}{} do not match (inner sizes {} and {})", to_string(a.shape()),
                            ta ? "ᵀ" : "", to_string(b.shape()), tb ? "ᵀ" : "", n, n2));
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  const Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes("matmul", a_batch, b_batch);
  } catch (const Error&) {  // name the operands, not just their leading axes
    throw Error(fmt::format("matmul: shapes {} and {} do not broadcast (leading axes {} and {})",
                            to_string(a.shape()), to_string(b.shape()), to_string(a_batch), to_string(b_batch)));
  }
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(p);
  if (m == 0 || n == 0 || p == 0) return Tensor::zeros(out_shape);
  Tensor out = Tensor::empty(out_shape);  // every element is written (beta = 0)
  const auto product = [&](const double* A, const double* B, double* C, std::size_t rows) {
    gemm(ta, tb, rows, p, n, A, a_cols, B, b_cols, C, false);
  };
  const std::size_t count = shape_size(batch);
  if (!ta && shape_size(b_batch) == 1 && a_batch == batch) {
    product(a.data(), b.data(), out.data(), count * m);  // all of A's rows in one GEMM
    return out;
  }
  // General case: walk the broadcast batch index, mapping it to A's and B's matrices.
  for (std::size_t k = 0; k < count; ++k) {
    std::size_t rest = k, a_index = 0, b_index = 0, a_stride = 1, b_stride = 1;
    for (std::size_t axis = batch.size(); axis-- > 0;) {
      const std::size_t i = rest % batch[axis];
      rest /= batch[axis];
      const std::size_t offset = batch.size() - axis;
      if (offset <= a_batch.size()) {
        const std::size_t da = a_batch[a_batch.size() - offset];
        a_index += (da == 1 ? 0 : i) * a_stride;
        a_stride *= da;
      }
      if (offset <= b_batch.size()) {
        const std::size_t db = b_batch[b_batch.size() - offset];
        b_index += (db == 1 ? 0 : i) * b_stride;
        b_stride *= db;
      }
    }
    product(a.data() + a_index * m * n, b.data() + b_index * n * p, out.data() + k * m * p, m);
  }
  return out;
}

// C = op(A) op(B):  dC = op(dA) op(B) + op(A) op(dB);
// Ā = C̄ op(B)ᵀ (or op(B) C̄ᵀ when A is used transposed), B̄ = op(A)ᵀ C̄ (or C̄ᵀ op(A)).
struct MatMul {
  static constexpr const char* name = "matmul";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs& a) { return batched_matmul(in[0], in[1], a.transpose_a, a.transpose_b); }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    const bool ta = r.attrs().transpose_a, tb = r.attrs().transpose_b;
    if (i == 0) return ta ? matmul(r.y(), g, tb, true) : matmul(g, r.y(), false, !tb);
    return tb ? matmul(g, r.x(), true, ta) : matmul(r.x(), g, !ta, false);
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    const bool ta = r.attrs().transpose_a, tb = r.attrs().transpose_b;
    return i == 0 ? matmul(d, r.y(), ta, tb) : matmul(r.x(), d, ta, tb);
  }
};

// α X op(B) (+ β b) where B = segment(w, start, shape) is a matrix-shaped block of a flat vector
// w, read where it lies, and b, when attrs.count = p, the p entries of w right after B: a dense
// layer's weights and bias as they lie in its parameter vector, applied in one op (α = scalar,
// β = bias_scale). X is (..., n), op(B) is (n, p), the result (..., p); the same numbers as
// α matmul(x, segment(w, start, shape), false, transpose_b) + β segment(w, start + size, {p}).
//   X̄ = α Ȳ op(B)ᵀ (the op again, on the other side of B),
//   B̄ = α Ȳᵀ X (op = transpose) or α Xᵀ Ȳ, and b̄ = β Σ_rows Ȳ: together [B̄ | b̄], one block of w̄,
//   which the numeric sweep writes into w̄'s range with one GEMM, with no full-size temporary.
// Cotangents and tangents may carry leading batch axes (r.lead()) in front of these shapes.
struct SegmentMatMul {
  static constexpr const char* name = "segment_matmul";
  static constexpr int block_input = 1;  // X̄ = Ȳ op(B)ᵀ reads B; it is input 0's VJP, taken first
  struct Sizes {
    std::size_t rows, n, p;  // X as (rows, n), op(B) as (n, p)
  };
  static Sizes sizes(const Shape& x, const Attrs& a) {
    const bool tb = a.transpose_b;
    return {shape_size(x) / x.back(), a.shape[tb ? 1 : 0], a.shape[tb ? 0 : 1]};
  }
  static std::size_t matrix_size(const Attrs& a) { return shape_size(a.shape); }
  static Tensor value(In in, const Attrs& a) {
    const Tensor &x = in[0], &w = in[1];
    require_rank(name, x, 1);
    if (w.dim() != 1 || a.shape.size() != 2 || a.start + matrix_size(a) + a.count > w.size())
      throw Error(fmt::format("segment_matmul: block {}{} at {} does not fit a flat vector of shape {}",
                              to_string(a.shape), a.count ? fmt::format(" and a bias of {}", a.count) : "", a.start,
                              to_string(w.shape())));
    const Sizes s = sizes(x.shape(), a);
    if (x.shape().back() != s.n)
      throw Error(fmt::format("segment_matmul: shapes {} and {}{} do not match (inner sizes {} and {})",
                              to_string(x.shape()), to_string(a.shape), a.transpose_b ? "ᵀ" : "", x.shape().back(),
                              s.n));
    if (a.count != 0 && a.count != s.p)
      throw Error(fmt::format("segment_matmul: a bias of {} entries for {} outputs", a.count, s.p));
    Shape out_shape = x.shape();
    out_shape.back() = s.p;
    if (s.rows * s.n * s.p == 0) {
      Tensor out = Tensor::zeros(out_shape);
      add_bias(out.data(), s.rows, w, a);
      return out;
    }
    Tensor out = Tensor::empty(out_shape);
    gemm(false, a.transpose_b, s.rows, s.p, s.n, x.data(), s.n, w.data() + a.start, a.shape[1], out.data(), false,
         a.scalar);
    add_bias(out.data(), s.rows, w, a);
    return out;
  }
  static void add_bias(double* out, std::size_t rows, const Tensor& w, const Attrs& a) {
    const double* b = w.data() + a.start + matrix_size(a);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < a.count; ++j) out[r * a.count + j] += a.bias_scale * b[j];
  }
  // The product alone, α X op(B) with op = transpose when asked: how the rules reuse the op.
  template <class T>
  static T product(const T& x, const T& w, const Attrs& a, bool transpose_b) {
    return apply<SegmentMatMul>(Attrs{.scalar = a.scalar, .start = a.start, .shape = a.shape, .transpose_b = transpose_b},
                                x, w);
  }
  // α B̄, (batch..., shape): the cotangent of the matrix block, from X (x_shape, no batch) and Ȳ.
  template <class T>
  static T matrix_cotangent(const T& x, const T& g, const Shape& x_shape, const Attrs& a, std::size_t lead) {
    const auto product = [&](const T& x_rows, const T& y_bar) {
      const T p = a.transpose_b ? matmul(y_bar, x_rows, true, false) : matmul(x_rows, y_bar, true, false);
      return a.scalar == 1.0 ? p : scale(p, a.scalar);
    };
    if (x_shape.size() == 2) return product(x, g);  // already matrices: no reshape (a copy, on tensors)
    const Sizes s = sizes(x_shape, a);
    return product(reshape(x, {s.rows, s.n}), reshape(g, {s.rows, s.p}, lead));
  }
  // The whole block's cotangent: α B̄, or [α B̄ | β b̄] read flat (batch..., size + p) with a bias.
  template <class T>
  static T block_cotangent(const T& x, const T& g, const Shape& x_shape, const Attrs& a, std::size_t lead) {
    const T matrix = matrix_cotangent(x, g, x_shape, a, lead);
    if (a.count == 0) return matrix;
    T bias = sum_to(g, {a.count}, lead);
    if (a.bias_scale != 1.0) bias = scale(bias, a.bias_scale);
    return concat(std::vector<T>{reshape(matrix, {matrix_size(a)}, lead), bias}, -1);
  }
  template <class T> static T block_cotangent(const Rule<T>& r, const T& g) {
    return block_cotangent(r.x(), g, r.in_shape(0), r.attrs(), r.lead());
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    const Attrs& a = r.attrs();
    if (i == 0) return product(g, r.y(), a, !a.transpose_b);
    const T flat = reshape(block_cotangent(r, g), {matrix_size(a) + a.count}, r.lead());
    return embed(flat, a.start, r.in_shape(1).back(), -1);
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    const Attrs& a = r.attrs();
    if (i == 0) return product(d, r.y(), a, a.transpose_b);
    const T block = segment(d, a.start, a.shape);  // (batch..., shape)
    const Shape x_shape = r.in_shape(0);
    const Sizes s = sizes(x_shape, a);
    Shape out_shape = x_shape;
    out_shape.back() = s.p;
    T out = x_shape.size() == 2 ? matmul(r.x(), block, false, a.transpose_b)  // no reshape (a copy, on tensors)
                                : reshape(matmul(reshape(r.x(), {s.rows, s.n}), block, false, a.transpose_b),
                                          out_shape, r.lead());
    if (a.scalar != 1.0) out = scale(out, a.scalar);
    if (a.count == 0) return out;
    T bias = segment(d, a.start + matrix_size(a), {a.count});  // (batch..., p)
    if (a.bias_scale != 1.0) bias = scale(bias, a.bias_scale);
    return out + broadcast_to(bias, out_shape, r.lead());
  }
  static bool vjp_piece(const Rule<Var>& r, int i, const Var& g, Var& piece, std::size_t& start) {
    if (i == 0) return false;  // X is not a block
    start = r.attrs().start;
    piece = block_cotangent(r, g);
    return true;
  }
  // [α B̄ | β b̄](X, Ȳ) times `scale`, written at `block` (added there when `accumulate`): one GEMM
  // and, with `bias`, the column sums of Ȳ. X is (rows, n) and Ȳ (rows, p), no batch.
  static void write_block_cotangent(const double* x, const double* y_bar, const Sizes& s, const Attrs& a,
                                    double* block, bool accumulate, double scale, bool bias) {
    const double alpha = scale * a.scalar;
    if (s.rows * s.n * s.p == 0) {  // an empty product: B̄ = 0
      if (!accumulate) std::fill(block, block + s.n * s.p, 0.0);
    } else if (a.transpose_b) {
      gemm(true, false, s.p, s.n, s.rows, y_bar, s.p, x, s.n, block, accumulate, alpha);  // Ȳᵀ X
    } else {
      gemm(true, false, s.n, s.p, s.rows, x, s.n, y_bar, s.p, block, accumulate, alpha);  // Xᵀ Ȳ
    }
    if (!bias) return;
    double* b = block + s.n * s.p;
    const double beta = scale * a.bias_scale;
    if (!accumulate) std::fill(b, b + a.count, 0.0);
    for (std::size_t row = 0; row < s.rows; ++row)
      for (std::size_t j = 0; j < a.count; ++j) b[j] += beta * y_bar[row * s.p + j];
  }
  // The block's cotangent is bilinear in (X, Ȳ): its tangent is B̄(Ẋ, Ȳ) + [B̄ | b̄](X, Ẏ̄), added
  // straight into the input's tangent, with no GEMM for B̄ itself (b̄ does not depend on X).
  static bool add_piece_tangent(const Rule<Var>& r, int i, const Var& g, Tensor& x_dot_bar) {
    if (i == 0) return false;
    const Attrs& a = r.attrs();
    const Var x = r.x();
    const Sizes s = sizes(x.shape(), a);
    double* block = x_dot_bar.data() + a.start;
    if (g.has_tangent()) write_block_cotangent(x.value().data(), g.tangent().data(), s, a, block, true, 1.0, a.count != 0);
    if (x.has_tangent()) write_block_cotangent(x.tangent().data(), g.value().data(), s, a, block, true, 1.0, false);
    return true;
  }
  // w̄[b, start : start + size (+ p)] gets [B̄ | b̄] for each batch element b, in place (overwritten
  // where nothing was written yet: the GEMM runs with β = 0). X̄ (activations, small) is its own
  // product added afterwards, so that contributions that cancel do so exactly.
  static void accumulate_vjp(const Rule<Tensor>& r, int i, const Tensor& g, Accumulator& x_bar) {
    if (i == 0) {
      x_bar.add(vjp(r, 0, g));
      return;
    }
    const Attrs& a = r.attrs();
    const Tensor &x = r.x(), &w = r.y();
    const Sizes s = sizes(x.shape(), a);
    const std::size_t length = w.size();
    const bool accumulate = !x_bar.claim(a.start, matrix_size(a) + a.count, length);
    for (std::size_t b = 0, count = shape_size(head(g.shape(), r.lead())); b < count; ++b)
      write_block_cotangent(x.data(), g.data() + b * s.rows * s.p, s, a, x_bar.tensor().data() + b * length + a.start,
                            accumulate, x_bar.scale(), a.count != 0);
  }
};

// Swaps the last two axes; it is its own adjoint.
struct Transpose {
  static constexpr const char* name = "transpose";
  static Tensor value(In in, const Attrs&) {
    require_rank(name, in[0], 2);
    std::vector<std::size_t> axes(in[0].dim());
    for (std::size_t k = 0; k < axes.size(); ++k) axes[k] = k;
    std::swap(axes[axes.size() - 1], axes[axes.size() - 2]);
    return Tensor(xt::transpose(in[0].xt(), axes));
  }
  template <class T> static T vjp(const Rule<T>&, int, const T& g) { return transpose(g); }
  template <class T> static T jvp(const Rule<T>&, int, const T& d) { return transpose(d); }
};

}  // namespace op

// Vectors take part in matmul as a column (right) or a row (left), as in NumPy.
template <class T>
T matmul_any(const T& a, const T& b) {
  if (a.dim() == 0 || b.dim() == 0)
    throw Error(fmt::format("matmul: needs vectors or matrices, got shapes {} and {}", to_string(a.shape()),
                            to_string(b.shape())));
  // Checked here, before vectors become rows or columns, so the message shows the shapes given.
  const std::size_t n_a = a.shape()[a.dim() - 1], n_b = b.shape()[b.dim() == 1 ? 0 : b.dim() - 2];
  if (n_a != n_b)
    throw Error(fmt::format("matmul: shapes {} and {} do not match (inner sizes {} and {})", to_string(a.shape()),
                            to_string(b.shape()), n_a, n_b));
  if (b.dim() == 1) {
    const T column = reshape(b, {b.size(), 1});
    const T product = matmul_any(a, column);
    Shape out = product.shape();
    out.pop_back();
    return reshape(product, out);
  }
  if (a.dim() == 1) {
    const T product = matmul_any(reshape(a, {1, a.size()}), b);
    Shape out = product.shape();
    out.erase(out.end() - 2);
    return reshape(product, out);
  }
  return apply<op::MatMul>({}, a, b);
}

template <class T>
T dot_any(const T& x, const T& y) {
  if (x.dim() != 1 || y.dim() != 1 || x.size() != y.size())
    throw Error(fmt::format("dot: needs two vectors of one length, got shapes {} and {}", to_string(x.shape()),
                            to_string(y.shape())));
  return sum(x * y);
}

Tensor matmul(const Tensor& a, const Tensor& b) { return matmul_any(a, b); }
Var matmul(const Var& a, const Var& b) { return matmul_any(a, b); }
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  return eval<op::MatMul>(Attrs{.transpose_a = transpose_a, .transpose_b = transpose_b}, a, b);
}
Var matmul(const Var& a, const Var& b, bool transpose_a, bool transpose_b) {
  return record<op::MatMul>(Attrs{.transpose_a = transpose_a, .transpose_b = transpose_b}, a, b);
}
Tensor segment_matmul(const Tensor& x, const Tensor& w, std::size_t start, const Shape& shape, bool transpose_b) {
  return eval<op::SegmentMatMul>(Attrs{.scalar = 1.0, .start = start, .shape = shape, .transpose_b = transpose_b}, x, w);
}
Var segment_matmul(const Var& x, const Var& w, std::size_t start, const Shape& shape, bool transpose_b) {
  return record<op::SegmentMatMul>(Attrs{.scalar = 1.0, .start = start, .shape = shape, .transpose_b = transpose_b}, x,
                                   w);
}
namespace {
Attrs affine_attrs(std::size_t start, const Shape& shape, bool transpose_b, double weight_scale, double bias_scale) {
  if (shape.size() != 2)
    throw Error(fmt::format("segment_affine: the weight block must be a matrix, got shape {}", to_string(shape)));
  const std::size_t outputs = shape[transpose_b ? 0 : 1];
  return Attrs{.scalar = weight_scale,
               .start = start,
               .count = outputs,
               .shape = shape,
               .transpose_b = transpose_b,
               .bias_scale = bias_scale};
}
}  // namespace
Tensor segment_affine(const Tensor& x, const Tensor& w, std::size_t start, const Shape& shape, bool transpose_b,
                      double weight_scale, double bias_scale) {
  return eval<op::SegmentMatMul>(affine_attrs(start, shape, transpose_b, weight_scale, bias_scale), x, w);
}
Var segment_affine(const Var& x, const Var& w, std::size_t start, const Shape& shape, bool transpose_b,
                   double weight_scale, double bias_scale) {
  return record<op::SegmentMatMul>(affine_attrs(start, shape, transpose_b, weight_scale, bias_scale), x, w);
}
Tensor transpose(const Tensor& a) { return eval<op::Transpose>({}, a); }
Var transpose(const Var& a) { return record<op::Transpose>({}, a); }
Tensor dot(const Tensor& x, const Tensor& y) { return dot_any(x, y); }
Var dot(const Var& x, const Var& y) { return dot_any(x, y); }

}  // namespace autodiff
