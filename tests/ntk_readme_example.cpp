// The README's kernels snippet, compiled and checked.
#include <catch2/catch.hpp>

#include "autodiff/ops.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/flow.hpp"
#include "ntk/linearize.hpp"

TEST_CASE("README: the post's NTK, its gradient flow and the linearized net", "[readme]") {
  auto net = std::make_shared<nn::MLP>(nn::MLPConfig{
      .input_dim = 1, .hidden = {100, 100}, .output_dim = 1, .activation = nn::Activation::relu});
  const autodiff::Tensor w0 = net->init(/*seed=*/0);
  const auto x = autodiff::Tensor::column({-2.0, 0.5});
  const auto y = autodiff::Tensor::column({3.0, -1.0});
  // README snippet, verbatim from here ...
  const autodiff::Tensor theta = ntk::empirical_ntk(*net, w0, x);   // Θ = J Jᵀ, 2×2 for the post's points
  const autodiff::Tensor u0 = autodiff::reshape(autodiff::sub(net->predict(w0, x), y), {2});  // y(w0) − ȳ
  ntk::GradientFlow flow(theta, u0);                                // u(t) = V e^{−Λt} Vᵀ u0
  auto lin = ntk::linearize(net, w0);                               // f(x,w0) + J(w − w0), trainable
  // ... to here.
  REQUIRE(theta.shape() == autodiff::Shape{2, 2});
  CHECK(theta(0, 1) == theta(1, 0));
  CHECK(flow.loss(1.0) < flow.loss(0.0));  // Θ is positive definite: the residual decays
  CHECK(autodiff::max_relative_difference(lin->predict(w0, x), net->predict(w0, x)) == 0.0);
}
