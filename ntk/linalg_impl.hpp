#pragma once

#include "autodiff/ops.hpp"

namespace ntk {

template <class F>
Tensor apply_spectral(const SymmetricEigen& e, const Tensor& x, F f) {
  const std::size_t n = e.values.size();
  const bool vector = x.dim() == 1;
  const Tensor xm = vector ? autodiff::reshape(x, {n, 1}) : x;
  Tensor coefficients = autodiff::matmul(autodiff::transpose(e.vectors), xm);  // Vᵀ x
  const std::size_t cols = coefficients.shape()[1];
  for (std::size_t i = 0; i < n; ++i) {
    const double factor = f(e.values.flat(i));
    for (std::size_t j = 0; j < cols; ++j) coefficients.flat(i * cols + j) *= factor;
  }
  Tensor result = autodiff::matmul(e.vectors, coefficients);
  return vector ? autodiff::reshape(result, {n}) : result;
}

}  // namespace ntk
