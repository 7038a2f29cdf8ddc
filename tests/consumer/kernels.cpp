// The consumer's second program: nn/ and ntk/ headers alone (no autodiff header) are enough for
// models, Tensor arithmetic, kernels and κ — built against the installed package by install.consumer.
#include <cstdio>
#include <memory>

#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/kappa.hpp"

int main() {
  auto net = std::make_shared<nn::MLP>(nn::MLPConfig{
      .input_dim = 1, .hidden = {100, 100}, .output_dim = 1, .activation = nn::Activation::relu});
  const autodiff::Tensor w0 = net->init(/*seed=*/0);
  const autodiff::Tensor x({-2.0, 0.5}, {2, 1});
  const autodiff::Tensor y({3.0, -1.0}, {2, 1});
  const autodiff::Tensor theta = ntk::empirical_ntk(*net, w0, x);
  const autodiff::Tensor residual = autodiff::reshape(net->predict(w0, x) - y, {2});
  const ntk::KappaResult k = ntk::kappa(*net, w0, x, y);
  const autodiff::Tensor inf = ntk::infinite_width_kernel(x, {.depth = 2, .sw2 = 2.0}, ntk::KernelKind::ntk);
  std::printf("theta %.6g %.6g %.6g, |residual| %.6g, kappa %.6g, infinite-width NTK %.6g\n", theta(0, 0), theta(0, 1),
              theta(1, 1), autodiff::norm(residual), k.kappa, inf(0, 0));
  return theta(0, 1) == theta(1, 0) && k.kappa > 0.0 ? 0 : 1;
}
