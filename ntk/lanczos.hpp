// Lanczos: the eigenpair of largest magnitude of a symmetric operator, given only its products
// (ntk::kappa's eigen-solver; the algorithm is described in lanczos.cpp and docs/kappa.md). Internal
// to ntk.
#pragma once

#include <cstddef>
#include <functional>

#include "autodiff/tensor.hpp"

namespace ntk::detail {

using autodiff::Tensor;

using Apply = std::function<Tensor(const Tensor&)>;

struct LanczosSettings {
  double tolerance = 1e-8;  // relative, on the eigenvalue
  std::size_t max_applications = 1000;
  std::size_t max_basis = 40;
  std::size_t min_applications = 1;  // guards warm starts against a premature stop
};

struct LanczosRun {
  double value = 0.0;
  Tensor vector = Tensor::zeros({0});
  std::size_t applications = 0;
  bool converged = false;
  double error = 0.0;  // the final error estimate, absolute
};

// The Ritz pair of largest magnitude of the symmetric `apply`, from `start` (any nonzero vector;
// a warm start when it is near the eigenvector). Stops at the tolerance, at max_applications
// products (converged = false), or on breakdown (an invariant subspace: the value is exact).
LanczosRun lanczos_largest_magnitude(const Apply& apply, const Tensor& start, const LanczosSettings& s);

}  // namespace ntk::detail
