#include "ntk/linalg.hpp"

#include <cmath>

#include <fmt/format.h>
#include <xtensor-blas/xlinalg.hpp>

namespace ntk {

namespace ad = autodiff;

SymmetricEigen symmetric_eigen(const Tensor& a, const char* what) {
  if (a.dim() != 2 || a.shape()[0] != a.shape()[1])
    throw ad::Error(fmt::format("{}: needs a square matrix, got shape {}", what, ad::to_string(a.shape())));
  if (!ad::all_finite(a)) throw ad::Error(fmt::format("{}: the matrix has non-finite entries", what));
  const std::size_t n = a.shape()[0];
  double scale = 0.0, asymmetry = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      scale = std::max(scale, std::abs(a.flat(i * n + j)));
      asymmetry = std::max(asymmetry, std::abs(a.flat(i * n + j) - a.flat(j * n + i)));
    }
  if (asymmetry > 1e-10 * std::max(scale, 1e-300))
    throw ad::Error(fmt::format("{}: the matrix is not symmetric (max |A - Aᵀ| = {:.3g})", what, asymmetry));
  if (n == 0) return {Tensor::zeros({0}), Tensor::zeros({0, 0})};
  auto [values, vectors] = xt::linalg::eigh(a.xt());
  return {Tensor(values), Tensor(vectors)};
}

}  // namespace ntk
