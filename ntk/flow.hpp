// Training dynamics in the kernel regime (the post's gradient-flow section). With a fixed NTK H
// (N×N, over the flattened outputs) the residual u = y − ȳ of gradient flow on ½‖u‖² obeys
//   u̇ = −H u,   u(t) = V e^{−Λt} Vᵀ u(0),
// one eigendecomposition H = V Λ Vᵀ (LAPACK); each eigen-direction decays at its own rate λᵢ.
// Gradient descent with step η gives the discrete form u_k = (I − ηH)^k u(0).
// At test points the linearized model predicts
//   f_t(x) = f_0(x) + Θ(x, X) Θ⁻¹ (I − e^{−Θt}) (Y − f_0(X)),
// for any t including t = ∞ (kernel regression on the residual at initialization).
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "ntk/linalg.hpp"

namespace ntk {

class GradientFlow {
 public:
  // H: the NTK on the training set (symmetric); u0: the residual y(w0) − ȳ (flattened).
  GradientFlow(const Tensor& ntk, const Tensor& u0);

  Tensor residual(double t) const;                                   // u(t)
  Tensor residual_gd(std::size_t steps, double learning_rate) const;  // (I − ηH)^k u(0)
  Tensor modes(double t) const;  // Vᵀ u(t): the component along each eigenvector, e^{−λᵢt} (Vᵀu0)ᵢ
  double loss(double t) const;   // ½ ‖u(t)‖²
  const SymmetricEigen& eigen() const { return eigen_; }  // rates λᵢ ascending, directions V

 private:
  SymmetricEigen eigen_;
  Tensor u0_modes_;  // Vᵀ u(0)
};

struct PredictOptions {
  double ridge = 0.0;               // added to Θ's diagonal before solving
  double eigenvalue_floor = 1e-12;  // eigenvalues below floor · λmax count as zero
};

// Linearized-model predictions at test points from kernels and the outputs at initialization.
class KernelPredictor {
 public:
  // theta_train: Θ(X, X) (N×N); f0_train: f(X, w0) and y_train: ȳ, both flattened (N).
  KernelPredictor(const Tensor& theta_train, const Tensor& f0_train, const Tensor& y_train,
                  const PredictOptions& options = {});

  // f_t at test points: theta_test: Θ(X*, X) (M×N), f0_test: f(X*, w0) flattened (M).
  // t = infinity() gives the limit.
  Tensor predict(const Tensor& theta_test, const Tensor& f0_test, double t) const;
  static constexpr double infinity() { return std::numeric_limits<double>::infinity(); }

  // What was done to an ill-conditioned kernel (clamped eigenvalues, ridge); also on stderr.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  SymmetricEigen eigen_;
  Tensor residual_modes_;  // Vᵀ (Y − f0(X))
  std::vector<bool> kept_;  // eigenvalue above the floor
  std::vector<std::string> warnings_;
};

}  // namespace ntk
