// Kept apart from linalg.cpp: OpenBLAS's cblas.h and xtensor-blas's bundled one cannot meet in one file.
#include <cblas.h>

#include <fmt/format.h>

#include "ntk/linalg.hpp"

namespace ntk {

namespace ad = autodiff;

Tensor gram(const Tensor& a, bool upper_only) {
  if (a.dim() != 2) throw ad::Error(fmt::format("gram: needs a matrix, got shape {}", ad::to_string(a.shape())));
  const std::size_t n = a.shape()[0], k = a.shape()[1];
  Tensor out = Tensor::zeros({n, n});
  if (n == 0 || k == 0) return out;
  // The upper triangle by a symmetric rank-k update (half a GEMM's work), then mirrored.
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(k), 1.0, a.data(),
              static_cast<int>(k), 0.0, out.data(), static_cast<int>(n));
  if (upper_only) return out;
  double* o = out.data();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) o[i * n + j] = o[j * n + i];
  return out;
}

}  // namespace ntk
