// Kept apart from linalg.cpp: OpenBLAS's cblas.h and xtensor-blas's bundled one cannot meet in one file.
#include <cblas.h>

#include <fmt/format.h>

#include "ntk/linalg.hpp"

namespace ntk {

namespace ad = autodiff;

Tensor matmul_transposed(const Tensor& a, const Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.shape()[1] != b.shape()[1])
    throw ad::Error(fmt::format("matmul_transposed: shapes {} and {} (need (m, k) and (n, k))",
                                ad::to_string(a.shape()), ad::to_string(b.shape())));
  const std::size_t m = a.shape()[0], n = b.shape()[0], k = a.shape()[1];
  Tensor out = Tensor::zeros({m, n});
  if (m == 0 || n == 0 || k == 0) return out;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              1.0, a.data(), static_cast<int>(k), b.data(), static_cast<int>(k), 0.0, out.data(), static_cast<int>(n));
  return out;
}

}  // namespace ntk
