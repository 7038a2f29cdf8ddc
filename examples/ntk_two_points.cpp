// The empirical NTK of the post's network on its 2-point data set: a 2-hidden-layer width-100
// ReLU net, x = [-2, 0.5], y = [3, -1]. Θ = J Jᵀ, J the 2 × p Jacobian of the outputs in the
// weights; and κ, the inverse relative scale, for the net and its centered, α-scaled versions.
#include <cmath>
#include <iostream>
#include <memory>

#include "autodiff/autodiff.hpp"
#include "examples/print.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/kappa.hpp"

using autodiff::Tensor;
using examples::number;

int main() {
  auto net = std::make_shared<nn::MLP>(nn::MLPConfig{
      .input_dim = 1, .hidden = {100, 100}, .output_dim = 1, .activation = nn::Activation::relu});
  const Tensor w0 = net->init(/*seed=*/0);
  const Tensor x = Tensor::column({-2.0, 0.5});
  const Tensor y = Tensor::column({3.0, -1.0});
  std::cout << "p = " << net->num_params() << " weights\n";

  const Tensor theta = ntk::empirical_ntk(*net, w0, x);  // 2 × 2
  examples::print_matrix("Θ = empirical_ntk(net, w0, x)", theta);
  const Tensor J = ntk::jacobian(*net, w0, x);  // 2 × p, one row per point (a batched reverse sweep)
  const Tensor JJt = autodiff::matmul(J, J, false, true);
  std::cout << "J has shape " << autodiff::to_string(J.shape()) << "; Θ equals J Jᵀ: "
            << (autodiff::max_relative_difference(theta, JJt) < 1e-10 ? "yes" : "NO") << '\n';
  // Eigenvalues of the symmetric 2 × 2 Θ: the rates at which gradient flow fits the two directions.
  const double a = theta(0, 0), b = theta(0, 1), d = theta(1, 1);
  const double mean = (a + d) / 2, radius = std::sqrt((a - d) * (a - d) / 4 + b * b);
  std::cout << "eigenvalues of Θ: " << number(mean + radius) << " and " << number(mean - radius) << "\n\n";

  // κ = ‖y(w0) − ȳ‖ ‖∇²y(w0)‖ / ‖∇y(w0)‖²; centered (output 0 at w0) and scaled by α it falls as 1/α.
  const ntk::KappaOptions options{.tolerance = 1e-10};
  const auto base = nn::centered(net, /*seed=*/0);
  for (const double alpha : {1.0, 10.0, 100.0}) {
    const auto model = nn::scaled(base, alpha);
    const ntk::KappaResult k = ntk::kappa(*model, w0, x, y, options);
    std::cout << "alpha = " << number(alpha) << ": kappa = " << number(k.kappa, 4) << " (residual "
              << number(k.residual_norm, 4) << ", |grad y| " << number(k.jacobian_norm, 4) << ", |hess y| "
              << number(k.hessian_norm, 4) << ")\n";
  }
}
