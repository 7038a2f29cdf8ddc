// Dense symmetric linear algebra on LAPACK (through xtensor-blas) for kernels (N x N).
#pragma once

#include "autodiff/tensor.hpp"

namespace ntk {

using autodiff::Shape;
using autodiff::Tensor;

struct SymmetricEigen {
  Tensor values;   // ascending, shape (n)
  Tensor vectors;  // columns are the eigenvectors, shape (n, n)
};

// A = V diag(λ) Vᵀ for a symmetric A (checked: square, finite, symmetric to 1e-10 relative).
SymmetricEigen symmetric_eigen(const Tensor& a, const char* what = "symmetric_eigen");

// V diag(f(λ)) Vᵀ x for a vector or matrix x: functions of a symmetric matrix applied to x.
template <class F>
Tensor apply_spectral(const SymmetricEigen& e, const Tensor& x, F f);

// A Aᵀ, exactly symmetric, at half the cost of autodiff::matmul(a, a, false, true) (A Bᵀ in general).
// upper_only: the entries below the diagonal are left zero, for callers that read the upper
// triangle only (and mirror their own result once).
Tensor gram(const Tensor& a, bool upper_only = false);

}  // namespace ntk

#include "ntk/linalg_impl.hpp"
