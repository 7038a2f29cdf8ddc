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

// Aᵀ B and A Bᵀ etc. are in autodiff::matmul / transpose; this is the GEMM A Bᵀ without a copy.
Tensor matmul_transposed(const Tensor& a, const Tensor& b);  // a (m, k), b (n, k) -> (m, n)
Tensor gram(const Tensor& a);  // A Aᵀ, exactly symmetric, at half the cost of matmul_transposed(a, a)

}  // namespace ntk

#include "ntk/linalg_impl.hpp"
