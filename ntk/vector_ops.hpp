// Small vector operations on flat (1-D) tensors, on BLAS level 1: shared by the Lanczos
// eigen-solver and ntk::kappa. Internal to ntk.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <cblas.h>

#include "autodiff/tensor.hpp"
#include "nn/random.hpp"

namespace ntk::detail {

using autodiff::Tensor;

inline double vdot(const Tensor& a, const Tensor& b) {
  return cblas_ddot(static_cast<int>(a.size()), a.data(), 1, b.data(), 1);
}
using autodiff::norm;  // ‖a‖₂
inline void axpy(double alpha, const Tensor& x, Tensor& y) {  // y += alpha x
  cblas_daxpy(static_cast<int>(x.size()), alpha, x.data(), 1, y.data(), 1);
}
inline void scale_in_place(Tensor& x, double s) {
  double* a = x.data();
  for (std::size_t i = 0, n = x.size(); i < n; ++i) a[i] *= s;
}
inline double max_abs(const Tensor& x) {
  double m = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x.flat(i)));
  return m;
}
inline Tensor random_unit(std::size_t n, nn::Rng& rng) {
  Tensor v = Tensor::zeros({n});
  for (std::size_t i = 0; i < n; ++i) v.flat(i) = rng.normal();
  scale_in_place(v, 1.0 / norm(v));
  return v;
}
inline Tensor unit(std::size_t n, std::size_t i) {
  Tensor e = Tensor::zeros({n});
  e.flat(i) = 1.0;
  return e;
}

}  // namespace ntk::detail
