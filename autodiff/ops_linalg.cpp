// Matrix products on OpenBLAS, and transpose.
#include <cblas.h>

#include <vector>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

#include "autodiff/record.hpp"

namespace autodiff {
namespace op {
namespace {

// C (rows × p) = op(A) op(B) for small products, where OpenBLAS's packing and thread hand-off
// cost more than the arithmetic (a 2 × 100 × 100 product in the seed's training step). One loop
// nest per case, each with a contiguous innermost loop the compiler vectorizes.
void small_gemm(bool ta, bool tb, std::size_t rows, std::size_t p, std::size_t n, const double* __restrict A,
                std::size_t lda, const double* __restrict B, std::size_t ldb, double* __restrict C) {
  if (!tb && ta && p == 1) {  // C = Aᵀ b: columns of Aᵀ are rows of A, scaled and added
    for (std::size_t i = 0; i < rows; ++i) C[i] = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      const double bk = B[k * ldb];
      const double* __restrict a = A + k * lda;
      for (std::size_t i = 0; i < rows; ++i) C[i] += a[i] * bk;
    }
    return;
  }
  if (!tb) {  // C[i, :] = Σ_k op(A)[i, k] B[k, :]: rows of B scaled and added
    for (std::size_t i = 0; i < rows; ++i) {
      double* __restrict c = C + i * p;
      for (std::size_t j = 0; j < p; ++j) c[j] = 0.0;
      std::size_t k = 0;
      for (; k + 2 <= n; k += 2) {  // two rows of B per pass over C's row
        const double a0 = ta ? A[k * lda + i] : A[i * lda + k];
        const double a1 = ta ? A[(k + 1) * lda + i] : A[i * lda + k + 1];
        const double* __restrict b0 = B + k * ldb;
        const double* __restrict b1 = b0 + ldb;
        for (std::size_t j = 0; j < p; ++j) c[j] += a0 * b0[j] + a1 * b1[j];
      }
      for (; k < n; ++k) {
        const double a0 = ta ? A[k * lda + i] : A[i * lda + k];
        const double* __restrict b0 = B + k * ldb;
        for (std::size_t j = 0; j < p; ++j) c[j] += a0 * b0[j];
      }
    }
    return;
  }
  if (ta) {  // Aᵀ Bᵀ: rare in practice, kept simple
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < p; ++j) {
        double sum = 0.0;
        for (std::size_t k = 0; k < n; ++k) sum += A[k * lda + i] * B[j * ldb + k];
        C[i * p + j] = sum;
      }
    return;
  }
  if (n < 8) {  // short dot products: transpose B (n × p, small) and scale-and-add its rows instead
    std::vector<double> bt(n * p);
    for (std::size_t j = 0; j < p; ++j)
      for (std::size_t k = 0; k < n; ++k) bt[k * p + j] = B[j * ldb + k];
    small_gemm(false, false, rows, p, n, A, lda, bt.data(), p, C);
    return;
  }
  // A Bᵀ: C[i, j] is the dot product of row i of A and row j of B.
  for (std::size_t i = 0; i < rows; ++i) {
    const double* __restrict a = A + i * lda;
    for (std::size_t j = 0; j < p; ++j) {
      const double* __restrict b = B + j * ldb;
      double lanes[8] = {};  // independent partial sums, kept in vector registers
      std::size_t k = 0;
      for (; k + 8 <= n; k += 8)
        for (std::size_t l = 0; l < 8; ++l) lanes[l] += a[k + l] * b[k + l];
      double sum = 0.0;
      for (; k < n; ++k) sum += a[k] * b[k];
      for (double lane : lanes) sum += lane;
      C[i * p + j] = sum;
    }
  }
}

constexpr std::size_t kSmallProduct = 1 << 15;  // rows · p · n below this: small_gemm

}  // namespace

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
  const auto gemm = [&](const double* A, const double* B, double* C, std::size_t rows) {
    if (rows * p * n <= kSmallProduct) return small_gemm(ta, tb, rows, p, n, A, a_cols, B, b_cols, C);
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(rows),
                static_cast<int>(p), static_cast<int>(n), 1.0, A, static_cast<int>(a_cols), B,
                static_cast<int>(b_cols), 0.0, C, static_cast<int>(p));
  };
  const std::size_t count = shape_size(batch);
  if (!ta && shape_size(b_batch) == 1 && a_batch == batch) {
    gemm(a.data(), b.data(), out.data(), count * m);  // all of A's rows in one GEMM
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
    gemm(a.data() + a_index * m * n, b.data() + b_index * n * p, out.data() + k * m * p, m);
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
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  return eval<op::MatMul>(Attrs{.transpose_a = transpose_a, .transpose_b = transpose_b}, a, b);
}
Var matmul(const Var& a, const Var& b, bool transpose_a, bool transpose_b) {
  return record<op::MatMul>(Attrs{.transpose_a = transpose_a, .transpose_b = transpose_b}, a, b);
}
Tensor transpose(const Tensor& a) { return eval<op::Transpose>({}, a); }
Var transpose(const Var& a) { return record<op::Transpose>({}, a); }
Tensor dot(const Tensor& x, const Tensor& y) { return dot_any(x, y); }
Var dot(const Var& x, const Var& y) { return dot_any(x, y); }

}  // namespace autodiff
