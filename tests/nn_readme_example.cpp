// The README's nn example, compiled and checked.
#include <catch2/catch.hpp>

#include "nn/nn.hpp"

TEST_CASE("README: train a 2-hidden-layer width-100 ReLU net on the post's 2 points", "[readme]") {
  // README example, verbatim from here ...
  auto net = std::make_shared<nn::MLP>(nn::MLPConfig{
      .input_dim = 1, .hidden = {100, 100}, .output_dim = 1, .activation = nn::Activation::relu});
  const autodiff::Tensor w0 = net->init(/*seed=*/0);  // PyTorch's nn.Linear initialization
  const auto x = autodiff::Tensor::column({-2.0, 0.5});
  const auto y = autodiff::Tensor::column({3.0, -1.0});
  nn::TrainConfig config{.learning_rate = 0.01, .max_steps = 10000, .loss_threshold = 1e-8};
  const nn::TrainResult run = nn::train(*net, w0, x, y, config, [](const nn::TrainState& s) {
    if (s.step % 20 == 0) std::printf("step %zu  loss %.3e  |w-w0|/|w0| %.4f\n", s.step, s.loss, s.relative_change);
  });
  // ... to here.
  CHECK(run.reached_threshold);
  CHECK(run.losses.back() <= 1e-8);
  CHECK(net->num_params() == 10401);
}
