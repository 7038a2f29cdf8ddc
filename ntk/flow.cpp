#include "ntk/flow.hpp"

#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "autodiff/ops.hpp"

namespace ntk {

namespace ad = autodiff;

namespace {

void require_vector(const char* what, const Tensor& v, std::size_t n) {
  if (v.shape() != Shape{n})
    throw ad::Error(fmt::format("{}: expected a vector of length {}, got shape {}", what, n, ad::to_string(v.shape())));
  if (!ad::all_finite(v)) throw ad::Error(fmt::format("{}: non-finite values", what));
}

Tensor project(const SymmetricEigen& e, const Tensor& v) {  // Vᵀ v
  return ad::matmul(ad::transpose(e.vectors), v);
}

}  // namespace

GradientFlow::GradientFlow(const Tensor& ntk, const Tensor& u0) : eigen_(symmetric_eigen(ntk, "GradientFlow")) {
  require_vector("GradientFlow: u0", u0, ntk.shape()[0]);
  u0_modes_ = project(eigen_, u0);
}

Tensor GradientFlow::modes(double t) const {
  if (!(t >= 0.0)) throw ad::Error(fmt::format("GradientFlow: time must be non-negative, got {}", t));
  Tensor m = u0_modes_;
  for (std::size_t i = 0; i < m.size(); ++i) m.flat(i) *= std::exp(-eigen_.values.flat(i) * t);
  return m;
}

Tensor GradientFlow::residual(double t) const { return ad::matmul(eigen_.vectors, modes(t)); }

Tensor GradientFlow::residual_gd(std::size_t steps, double learning_rate) const {
  Tensor m = u0_modes_;
  for (std::size_t i = 0; i < m.size(); ++i)
    m.flat(i) *= std::pow(1.0 - learning_rate * eigen_.values.flat(i), static_cast<double>(steps));
  return ad::matmul(eigen_.vectors, m);
}

double GradientFlow::loss(double t) const {
  const Tensor m = modes(t);
  double s = 0.0;
  for (std::size_t i = 0; i < m.size(); ++i) s += m.flat(i) * m.flat(i);
  return 0.5 * s;
}

KernelPredictor::KernelPredictor(const Tensor& theta_train, const Tensor& f0_train, const Tensor& y_train,
                                 const PredictOptions& options) {
  if (options.ridge < 0.0 || !std::isfinite(options.ridge))
    throw ad::Error(fmt::format("KernelPredictor: ridge must be a non-negative number, got {}", options.ridge));
  Tensor theta = theta_train;
  const std::size_t n = theta.dim() == 2 ? theta.shape()[0] : 0;
  if (options.ridge > 0.0) {
    for (std::size_t i = 0; i < n && theta.dim() == 2 && theta.shape()[1] == n; ++i) theta.flat(i * n + i) += options.ridge;
    warnings_.push_back(fmt::format("added a ridge of {} to the kernel's diagonal", options.ridge));
  }
  eigen_ = symmetric_eigen(theta, "KernelPredictor");
  require_vector("KernelPredictor: f0_train", f0_train, n);
  require_vector("KernelPredictor: y_train", y_train, n);
  residual_modes_ = project(eigen_, ad::sub(y_train, f0_train));
  const double top = n ? std::abs(eigen_.values.flat(n - 1)) : 0.0;
  std::size_t clamped = 0;
  double most_negative = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double l = eigen_.values.flat(i);
    kept_.push_back(l > options.eigenvalue_floor * top);
    if (!kept_.back()) ++clamped;
    most_negative = std::min(most_negative, l);
  }
  if (clamped > 0)
    warnings_.push_back(fmt::format("{} of {} kernel eigenvalues are below {:.3g} x the largest (smallest {:.3g}); "
                                    "their directions are treated as zero (pseudo-inverse)",
                                    clamped, n, options.eigenvalue_floor, most_negative < 0 ? most_negative : eigen_.values.flat(0)));
  for (const std::string& w : warnings_) std::cerr << "warning: KernelPredictor: " << w << '\n';
}

Tensor KernelPredictor::predict(const Tensor& theta_test, const Tensor& f0_test, double t) const {
  const std::size_t n = eigen_.values.size();
  if (theta_test.dim() != 2 || theta_test.shape()[1] != n)
    throw ad::Error(fmt::format("KernelPredictor::predict: Θ(X*, X) has shape {}, expected (M, {})",
                                ad::to_string(theta_test.shape()), n));
  require_vector("KernelPredictor::predict: f0_test", f0_test, theta_test.shape()[0]);
  if (!(t >= 0.0)) throw ad::Error(fmt::format("KernelPredictor::predict: time must be non-negative, got {}", t));
  // Θ⁻¹ (I − e^{−Θt}) in the eigenbasis: (1 − e^{−λt})/λ, which is t for λ → 0 and 1/λ for t = ∞.
  Tensor m = residual_modes_;
  for (std::size_t i = 0; i < n; ++i) {
    const double l = eigen_.values.flat(i);
    double factor;
    if (!kept_[i]) {
      factor = std::isinf(t) ? 0.0 : t;  // the small-λ limit; at t = ∞ a pseudo-inverse
    } else if (std::isinf(t)) {
      factor = 1.0 / l;
    } else {
      factor = -std::expm1(-l * t) / l;
    }
    m.flat(i) *= factor;
  }
  return ad::add(f0_test, ad::matmul(theta_test, ad::matmul(eigen_.vectors, m)));
}

}  // namespace ntk
