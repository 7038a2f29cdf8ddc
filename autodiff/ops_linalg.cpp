// Matrix products on OpenBLAS, and transpose.
#include <cblas.h>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

#include "autodiff/record.hpp"

namespace autodiff {
namespace op {

// C = A B for stacks of matrices: A (..., m, n), B (..., n, p) -> (..., m, p), leading axes
// broadcast. One GEMM per matrix pair; a stack times one matrix is a single GEMM.
Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  require_rank("matmul", a, 2);
  require_rank("matmul", b, 2);
  const std::size_t m = a.shape()[a.dim() - 2], n = a.shape()[a.dim() - 1];
  const std::size_t n2 = b.shape()[b.dim() - 2], p = b.shape()[b.dim() - 1];
  if (n != n2)
    throw Error(fmt::format("matmul: shapes {} and {} do not match (inner sizes {} and {})", to_string(a.shape()),
                            to_string(b.shape()), n, n2));
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
  Tensor out = Tensor::zeros(out_shape);
  if (m == 0 || n == 0 || p == 0) return out;
  const auto gemm = [&](const double* A, const double* B, double* C, std::size_t rows) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(p),
                static_cast<int>(n), 1.0, A, static_cast<int>(n), B, static_cast<int>(p), 0.0, C,
                static_cast<int>(p));
  };
  const std::size_t count = shape_size(batch);
  if (b_batch.empty() || shape_size(b_batch) == 1) {
    if (a_batch == batch) {
      gemm(a.data(), b.data(), out.data(), count * m);  // all of A's rows in one GEMM
      return out;
    }
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
    gemm(a.data() + a_index * m * n, b.data() + b_index * n * p, out.data() + k * m * p, m);
  }
  return out;
}

// C = A B:  dC = dA B + A dB;  Ā = C̄ Bᵀ,  B̄ = Aᵀ C̄
struct MatMul {
  static constexpr const char* name = "matmul";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) { return batched_matmul(in[0], in[1]); }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    return i == 0 ? matmul(g, transpose(r.y())) : matmul(transpose(r.x()), g);
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    return i == 0 ? matmul(d, r.y()) : matmul(r.x(), d);
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
    return Tensor(Array(xt::transpose(in[0].xt(), axes)));
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
Tensor transpose(const Tensor& a) { return eval<op::Transpose>({}, a); }
Var transpose(const Var& a) { return record<op::Transpose>({}, a); }
Tensor dot(const Tensor& x, const Tensor& y) { return dot_any(x, y); }
Var dot(const Var& x, const Var& y) { return dot_any(x, y); }

}  // namespace autodiff
