// nn::Sgd: minibatch SGD with momentum. Plain full-batch SGD is nn::GradientDescent; a momentum
// step (heavy-ball and Nesterov) by hand on a one-layer linear model; the same seed gives the same
// weights bit for bit; the epochs, batches and callback; refused settings.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "nn/nn.hpp"
#include "nn_helpers.hpp"

namespace {

using autodiff::Tensor;
using nn_test::bitwise_equal;
using nn_test::random_tensor;
using Catch::Matchers::Contains;

double max_relative_gap(const Tensor& a, const Tensor& b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(a.flat(i) - b.flat(i)));
    scale = std::max(scale, std::fabs(b.flat(i)));
  }
  return diff / scale;
}

// A small ReLU net on random data: 12 rows, 3 features, 2 outputs.
const nn::MLPConfig kNet{.input_dim = 3, .hidden = {16, 16}, .output_dim = 2, .parameterization = nn::Parameterization::ntk};
const Tensor kX = random_tensor({12, 3}, 11);
const Tensor kY = random_tensor({12, 2}, 12);

}  // namespace

TEST_CASE("SGD without momentum on one batch of all rows is gradient descent", "[nn][sgd]") {
  const nn::MLP net(kNet);
  const Tensor w0 = net.init(3);
  for (const nn::Reduction reduction : {nn::Reduction::sum, nn::Reduction::mean}) {
    const nn::LossConfig loss{.reduction = reduction, .divisor = 2.0};
    nn::GradientDescent descent(net, w0, kX, kY, {.learning_rate = 0.05, .max_steps = 0, .loss = loss});
    for (int k = 0; k < 25; ++k) descent.step();
    for (const bool shuffle : {false, true}) {
      INFO("shuffle " << shuffle << " reduction " << static_cast<int>(reduction));
      const nn::SgdResult r = nn::sgd(net, w0, kX, kY,
                                      {.learning_rate = 0.05, .momentum = 0.0, .batch_size = 12, .epochs = 25, .seed = 1,
                                       .shuffle = shuffle, .loss = loss});
      CHECK(r.steps == 25);
      // Another summation order (the rows shuffled, the gradient formed before the update): rounding only.
      CHECK(max_relative_gap(r.w, descent.w()) <= 1e-14);
      CHECK(max_relative_gap(r.w, w0) > 1e-3);  // and it did move
    }
  }
}

TEST_CASE("A momentum step by hand on a linear model", "[nn][sgd]") {
  // f(x) = a x + b (one Dense layer, no hidden layer): L = ½ Σ (a xᵢ + b − yᵢ)², so
  // ∂L/∂a = Σ rᵢ xᵢ, ∂L/∂b = Σ rᵢ with rᵢ = a xᵢ + b − yᵢ.
  const nn::MLP line({.input_dim = 1, .hidden = {}, .output_dim = 1});
  const auto layout = line.layout();
  REQUIRE(layout.size() == 2);
  const std::size_t ia = layout[0].offset, ib = layout[1].offset;
  Tensor w0 = Tensor::zeros({2});
  w0.flat(ia) = 0.5;
  w0.flat(ib) = -0.25;
  const Tensor x = Tensor::column({1.0, 2.0, -1.0});
  const Tensor y = Tensor::column({1.0, 0.0, 2.0});
  const double eta = 0.1, mu = 0.5;

  const auto gradient = [&](double a, double b) {
    double ga = 0.0, gb = 0.0;
    for (std::size_t i = 0; i < 3; ++i) {
      const double r = a * x.flat(i) + b - y.flat(i);
      ga += r * x.flat(i);
      gb += r;
    }
    return std::pair{ga, gb};
  };
  for (const bool nesterov : {false, true}) {
    INFO("nesterov " << nesterov);
    nn::Sgd sgd(line, w0, x, y,
                {.learning_rate = eta, .momentum = mu, .nesterov = nesterov, .batch_size = 3, .shuffle = false,
                 .loss = {.reduction = nn::Reduction::sum}});
    double a = 0.5, b = -0.25, va = 0.0, vb = 0.0;
    for (int k = 0; k < 3; ++k) {
      const auto [ga, gb] = gradient(a, b);
      va = mu * va + ga;
      vb = mu * vb + gb;
      a -= eta * (nesterov ? ga + mu * va : va);
      b -= eta * (nesterov ? gb + mu * vb : vb);
      sgd.epoch();
      CHECK(sgd.w().flat(ia) == Approx(a).epsilon(1e-15));
      CHECK(sgd.w().flat(ib) == Approx(b).epsilon(1e-15));
      CHECK(sgd.velocity().flat(ia) == Approx(va).epsilon(1e-15));
      CHECK(sgd.velocity().flat(ib) == Approx(vb).epsilon(1e-15));
    }
  }
}

TEST_CASE("The same seed gives bitwise the same weights and another seed other batches", "[nn][sgd]") {
  const nn::MLP net(kNet);
  const Tensor w0 = net.init(4);
  const nn::SgdConfig config{.learning_rate = 0.05, .momentum = 0.9, .batch_size = 5, .epochs = 6, .seed = 42};
  const nn::SgdResult a = nn::sgd(net, w0, kX, kY, config);
  const nn::SgdResult b = nn::sgd(net, w0, kX, kY, config);
  CHECK(bitwise_equal(a.w, b.w));
  CHECK(a.epoch_losses == b.epoch_losses);
  nn::SgdConfig other = config;
  other.seed = 43;
  CHECK(!bitwise_equal(nn::sgd(net, w0, kX, kY, other).w, a.w));
  // 12 rows in batches of 5: 5, 5 and 2 rows, three steps an epoch.
  CHECK(a.steps == 18);
  CHECK(a.epoch_losses.back() < a.epoch_losses.front());
}

TEST_CASE("The epoch callback sees every epoch", "[nn][sgd]") {
  const nn::MLP net(kNet);
  std::vector<std::size_t> epochs, steps;
  std::vector<double> losses;
  const nn::SgdResult r = nn::sgd(net, net.init(0), kX, kY, {.batch_size = 4, .epochs = 3},
                                  [&](const nn::EpochState& s) {
                                    epochs.push_back(s.epoch);
                                    steps.push_back(s.steps);
                                    losses.push_back(s.mean_loss);
                                  });
  CHECK(epochs == std::vector<std::size_t>{0, 1, 2, 3});
  CHECK(steps == std::vector<std::size_t>{0, 3, 6, 9});
  CHECK(std::isnan(losses[0]));
  CHECK(losses[3] == r.epoch_losses[2]);
}

TEST_CASE("Bad SGD settings are refused with messages", "[nn][sgd]") {
  const nn::MLP net(kNet);
  const Tensor w0 = net.init(0);
  // A valid configuration with one setting changed.
  const auto refuse = [&](const std::function<void(nn::SgdConfig&)>& change, const std::string& message) {
    nn::SgdConfig c{.batch_size = 4};
    change(c);
    CHECK_THROWS_WITH(nn::Sgd(net, w0, kX, kY, c), Contains(message));
  };
  refuse([](nn::SgdConfig& c) { c.learning_rate = 0.0; }, "learning rate must be positive");
  refuse([](nn::SgdConfig& c) { c.learning_rate = std::nan(""); }, "learning rate must be positive");
  refuse([](nn::SgdConfig& c) { c.momentum = 1.0; }, "momentum must be in [0, 1)");
  refuse([](nn::SgdConfig& c) { c.momentum = -0.1; }, "momentum must be in [0, 1)");
  refuse([](nn::SgdConfig& c) { c.momentum = 0.0, c.nesterov = true; }, "Nesterov momentum needs momentum > 0");
  refuse([](nn::SgdConfig& c) { c.batch_size = 0; }, "batch size must be in 1..12");
  refuse([](nn::SgdConfig& c) { c.batch_size = 13; }, "batch size must be in 1..12");
  refuse([](nn::SgdConfig& c) { c.loss.divisor = 0.0; }, "divisor");
  CHECK_THROWS_WITH(nn::Sgd(net, w0, kX, random_tensor({12, 3}, 1), {.batch_size = 4}), Contains("targets have shape"));
  CHECK_THROWS_WITH(nn::Sgd(net, w0, random_tensor({12, 4}, 1), kY, {.batch_size = 4}), Contains("sgd"));
  nn::Sgd sgd(net, w0, kX, kY, {.batch_size = 4});
  CHECK_THROWS_WITH(sgd.step({12}), Contains("row 12 out of range"));
  // A linear net (no ReLU that a wild step could switch off for good) diverges at this rate whatever its start.
  nn::MLPConfig linear_config = kNet;
  linear_config.activation = nn::Activation::identity;
  const nn::MLP linear(linear_config);
  nn::Sgd wild(linear, linear.init(0), kX, kY, {.learning_rate = 1e6, .momentum = 0.9, .batch_size = 12, .epochs = 100});
  CHECK_THROWS_WITH([&] { for (int k = 0; k < 100; ++k) wild.epoch(); }(), Contains("too large"));
}
