// Training: the post's 2-point problem, reproducibility, the callback and snapshots, the loss's
// reductions and divisor, stopping rules, refused inputs, divergence.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <sstream>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/transforms.hpp"
#include "nn/nn.hpp"
#include "nn_helpers.hpp"

namespace {

namespace ad = autodiff;
using ad::Shape;
using ad::Tensor;
using ad::Var;
using nn_test::bitwise_equal;
using nn_test::random_tensor;

// The post's problem: x = [−2, 0.5], y = [3, −1], a 1 → 100 → 100 → 1 ReLU net, standard
// parameterization, PyTorch's default init.
const nn::MLPConfig kSeedNet{.input_dim = 1, .hidden = {100, 100}, .output_dim = 1};
const Tensor kX = Tensor::column({-2.0, 0.5});
const Tensor kY = Tensor::column({3.0, -1.0});

nn::TrainConfig seed_config(std::size_t max_steps = 2000) {
  return nn::TrainConfig{.learning_rate = 0.01, .max_steps = max_steps, .loss_threshold = 1e-8};
}

using autodiff::norm;

// ½ Σ (p − y)² by hand, in plain doubles.
double half_sum_squares(const Tensor& p, const Tensor& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) s += (p.flat(i) - y.flat(i)) * (p.flat(i) - y.flat(i));
  return 0.5 * s;
}

}  // namespace

TEST_CASE("The post's 2-point problem trains below 1e-8 with lr 0.01 from several seeds", "[nn][train]") {
  const nn::MLP net(kSeedNet);
  for (std::uint64_t seed : {0u, 1u, 2u, 3u}) {
    INFO("seed " << seed);
    const Tensor w0 = net.init(seed);
    const nn::TrainResult r = nn::train(net, w0, kX, kY, seed_config());
    CHECK(r.reached_threshold);
    CHECK(r.losses.back() <= 1e-8);
    // Measured: 91, 122, 90, 85 steps for seeds 0–3; 2000 is the budget, 300 catches a
    // trainer that got much slower (e.g. a gradient off by a factor).
    CHECK(r.steps < 300);
    if (seed == 0) CHECK((r.steps >= 80 && r.steps <= 100));  // the lead measured ~91 from seed 0
    REQUIRE(r.losses.size() == r.steps + 1);
    REQUIRE(r.relative_changes.size() == r.steps + 1);
    for (std::size_t i = 0; i + 1 < r.losses.size(); ++i) CHECK(r.losses[i] > 1e-8);  // stopped at the first
    // The first loss is at w0 and the last at the returned w: recomputed by hand (1e-12 relative:
    // another summation order).
    CHECK(r.losses.front() == Approx(half_sum_squares(net.predict(w0, kX), kY)).epsilon(1e-12));
    CHECK(r.losses.back() == Approx(half_sum_squares(net.predict(r.w, kX), kY)).epsilon(1e-12));
    CHECK(r.relative_changes.front() == 0.0);
    CHECK(r.relative_changes.back() == Approx(norm(r.w - w0) / norm(w0)).epsilon(1e-12));
    // The fitted net interpolates the two points: |f(x_i) − y_i| ≤ √(2 · 1e-8).
    const Tensor p = net.predict(r.w, kX);
    CHECK(std::abs(p(0, 0) - 3.0) <= std::sqrt(2e-8));
    CHECK(std::abs(p(1, 0) + 1.0) <= std::sqrt(2e-8));
  }
}

TEST_CASE("Training is reproducible: same seed, same losses and final w, bitwise", "[nn][train]") {
  const nn::MLP net(kSeedNet);
  const nn::TrainResult a = nn::train(net, net.init(5), kX, kY, seed_config());
  const nn::TrainResult b = nn::train(nn::MLP(kSeedNet), nn::MLP(kSeedNet).init(5), kX, kY, seed_config());
  CHECK(a.steps == b.steps);
  CHECK(a.losses == b.losses);  // std::vector<double> ==: every element exactly
  CHECK(a.relative_changes == b.relative_changes);
  CHECK(bitwise_equal(a.w, b.w));
  const nn::TrainResult c = nn::train(net, net.init(6), kX, kY, seed_config());
  CHECK(a.losses != c.losses);
}

TEST_CASE("One step is w − η ∇L(w) with ∇L computed independently", "[nn][train]") {
  const nn::MLP net({.input_dim = 2, .hidden = {6}, .output_dim = 2, .activation = nn::Activation::tanh});
  const Tensor x = random_tensor({5, 2}, 1), y = random_tensor({5, 2}, 2);
  const Tensor w0 = net.init(0);
  const double lr = 0.05;
  const nn::TrainResult r = nn::train(net, w0, x, y, {.learning_rate = lr, .max_steps = 1});
  REQUIRE(r.steps == 1);
  // ∇ of ½ Σ (f(X, w) − Y)², written here without nn::squared_loss.
  const Tensor g =
      ad::grad([&](const Var& w) { return 0.5 * ad::sum(ad::square(net.forward(w, Var(x)) - Var(y))); }, w0);
  // The same numbers up to how ½ is applied (≤ 1e-15 absolute on weights of size ~0.5).
  CHECK(ad::max_relative_difference(r.w, w0 - lr * g) <= 1e-15);
  CHECK(r.losses[1] == Approx(half_sum_squares(net.predict(r.w, x), y)).epsilon(1e-13));
}

TEST_CASE("Steps after the first replay the recorded model and step w in place, as fresh steps would", "[nn][train]") {
  // GradientDescent records the model once and replays it (Tape::replay); each update steps the
  // layers' blocks of w during the backward sweep (autodiff::descend). Against steps recorded
  // afresh with a separate gradient: 1e-14 relative after 20 steps (the step is folded into the
  // GEMM of each layer's weight gradient), losses likewise.
  const nn::MLP net({.input_dim = 2, .hidden = {6, 5}, .output_dim = 2, .activation = nn::Activation::relu});
  const Tensor x = random_tensor({5, 2}, 3), y = random_tensor({5, 2}, 4);
  const double lr = 0.05;
  nn::GradientDescent descent(net, net.init(1), x, y, {.learning_rate = lr});
  Tensor w = net.init(1);
  for (int step = 0; step < 20; ++step) {
    const auto loss = [&](const Var& v) { return 0.5 * ad::sum(ad::square(net.forward(v, Var(x)) - Var(y))); };
    const auto [value, g] = ad::value_and_grad(loss, w);
    CHECK(descent.step() == Approx(value).epsilon(1e-13));
    w = w - lr * g;
    CHECK(ad::max_relative_difference(descent.w(), w) <= 1e-14);
  }
}

TEST_CASE("The callback sees every step, consistent with TrainResult", "[nn][train]") {
  const nn::MLP net(kSeedNet);
  const Tensor w0 = net.init(0);
  std::vector<std::size_t> steps;
  std::vector<double> losses, changes, recomputed;
  std::ostringstream log;  // what a README-style callback prints
  const nn::TrainResult r = nn::train(net, w0, kX, kY, seed_config(), [&](const nn::TrainState& s) {
    steps.push_back(s.step);
    losses.push_back(s.loss);
    changes.push_back(s.relative_change);
    recomputed.push_back(norm(s.w - w0) / norm(w0));
    if (s.step % 20 == 0) log << "step " << s.step << " loss " << s.loss << "\n";
  });
  REQUIRE(steps.size() == r.steps + 1);
  for (std::size_t i = 0; i < steps.size(); ++i) CHECK(steps[i] == i);
  CHECK(losses == r.losses);  // the same numbers, exactly
  CHECK(changes == r.relative_changes);
  for (std::size_t i = 0; i < changes.size(); ++i)
    CHECK(changes[i] == Approx(recomputed[i]).epsilon(1e-12).margin(1e-300));
  CHECK(changes.back() > 0.0);
  CHECK_THAT(log.str(), Catch::StartsWith("step 0 loss ") && Catch::Contains("step 80 loss "));
}

TEST_CASE("Snapshots keep w every k steps, starting at step 0", "[nn][train]") {
  const nn::MLP net(kSeedNet);
  const Tensor w0 = net.init(0);
  nn::Snapshots snaps{.every = 10};
  const nn::TrainResult r = nn::train(net, w0, kX, kY, seed_config(), snaps.callback());
  REQUIRE(r.steps >= 30);
  REQUIRE(snaps.steps.size() == r.steps / 10 + 1);
  REQUIRE(snaps.weights.size() == snaps.steps.size());
  for (std::size_t i = 0; i < snaps.steps.size(); ++i) CHECK(snaps.steps[i] == 10 * i);
  CHECK(bitwise_equal(snaps.weights[0], w0));
  // Snapshot 3 is w after 30 updates: what a 30-step run returns.
  const nn::TrainResult thirty = nn::train(net, w0, kX, kY, seed_config(30));
  CHECK(thirty.steps == 30);
  CHECK_FALSE(thirty.reached_threshold);
  CHECK(bitwise_equal(snaps.weights[3], thirty.w));
  // every = 1 keeps all of them; every = 0 keeps none.
  nn::Snapshots all{.every = 1}, none{.every = 0};
  nn::train(net, w0, kX, kY, seed_config(5), all.callback());
  nn::train(net, w0, kX, kY, seed_config(5), none.callback());
  CHECK(all.steps == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
  CHECK(none.steps.empty());
}

TEST_CASE("Training stops at max_steps or at the loss threshold, whichever comes first", "[nn][train]") {
  const nn::MLP net(kSeedNet);
  const Tensor w0 = net.init(0);
  const nn::TrainResult five = nn::train(net, w0, kX, kY, {.learning_rate = 0.01, .max_steps = 5});
  CHECK(five.steps == 5);
  CHECK(five.losses.size() == 6);
  CHECK_FALSE(five.reached_threshold);
  for (std::size_t i = 1; i < five.losses.size(); ++i)
    CHECK(five.losses[i] < five.losses[i - 1]);  // small steps descend
  const nn::TrainResult zero = nn::train(net, w0, kX, kY, {.learning_rate = 0.01, .max_steps = 0});
  CHECK(zero.steps == 0);
  CHECK(bitwise_equal(zero.w, w0));
  // A threshold above the initial loss: stop at step 0 without an update.
  const nn::TrainResult at_once =
      nn::train(net, w0, kX, kY, {.learning_rate = 0.01, .max_steps = 5, .loss_threshold = 1e3});
  CHECK(at_once.steps == 0);
  CHECK(at_once.reached_threshold);
  CHECK(bitwise_equal(at_once.w, w0));
  // A threshold met during training: the run stops at the first loss at or below it.
  const double threshold = five.losses[3];
  const nn::TrainResult mid =
      nn::train(net, w0, kX, kY, {.learning_rate = 0.01, .max_steps = 5, .loss_threshold = threshold});
  CHECK(mid.steps == 3);
  CHECK(mid.reached_threshold);
}

TEST_CASE("squared_loss: ½‖y − ȳ‖², its mean form and the divisor, against hand computation", "[nn][train][loss]") {
  const Tensor p = random_tensor({3, 2}, 31, -2.0, 2.0), t = random_tensor({3, 2}, 32, -2.0, 2.0);
  const double half = half_sum_squares(p, t);
  ad::TapeScope scope;
  ad::Tape& tape = scope.tape();
  const Var P = tape.variable(p), T = tape.constant(t);
  const auto loss = [&](nn::Reduction reduction, double divisor) {
    return nn::squared_loss(P, T, {.reduction = reduction, .divisor = divisor}).value().item();
  };
  // Tolerance 1e-15 relative: a few roundings apart.
  CHECK(loss(nn::Reduction::sum, 1.0) == Approx(half).epsilon(1e-15));
  CHECK(loss(nn::Reduction::mean, 1.0) == Approx(half / 3.0).epsilon(1e-15));   // mean over N = 3 rows
  CHECK(loss(nn::Reduction::sum, 49.0) == Approx(half / 49.0).epsilon(1e-15));  // α = 7: divide by α²
  CHECK(loss(nn::Reduction::mean, 49.0) == Approx(half / 3.0 / 49.0).epsilon(1e-15));
  // The gradient in the predictions: (p − ȳ) · factor.
  const Tensor g = ad::gradient(nn::squared_loss(P, T, {.reduction = nn::Reduction::mean, .divisor = 4.0}), P);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(g.flat(i) == Approx((p.flat(i) - t.flat(i)) / 12.0).epsilon(1e-15));
  CHECK_THROWS_WITH(nn::squared_loss(P, tape.constant(Tensor::zeros({2, 3}))),
                    Catch::Contains("[3, 2]") && Catch::Contains("[2, 3]"));
}

TEST_CASE("Mean reduction and divisor scale the loss and the gradient exactly", "[nn][train][loss]") {
  // With N = 2 and divisor 4 (α = 2) the factors are powers of two, so scaling the learning rate
  // back gives the same trajectory bitwise and losses in exact ratio.
  const nn::MLP net(kSeedNet);
  const Tensor w0 = net.init(1);
  const double lr = 0.01;
  const nn::TrainResult sum = nn::train(net, w0, kX, kY, {.learning_rate = lr, .max_steps = 20});
  const nn::TrainResult mean = nn::train(
      net, w0, kX, kY, {.learning_rate = 2 * lr, .max_steps = 20, .loss = {.reduction = nn::Reduction::mean}});
  const nn::TrainResult divided =
      nn::train(net, w0, kX, kY, {.learning_rate = 4 * lr, .max_steps = 20, .loss = {.divisor = 4.0}});
  REQUIRE(mean.losses.size() == sum.losses.size());
  REQUIRE(divided.losses.size() == sum.losses.size());
  for (std::size_t i = 0; i < sum.losses.size(); ++i) {
    CHECK(mean.losses[i] == sum.losses[i] / 2.0);
    CHECK(divided.losses[i] == sum.losses[i] / 4.0);
  }
  CHECK(bitwise_equal(mean.w, sum.w));
  CHECK(bitwise_equal(divided.w, sum.w));
  // With the same learning rate the mean form moves half as far in the first step (1e-15).
  const nn::TrainResult mean_same =
      nn::train(net, w0, kX, kY, {.learning_rate = lr, .max_steps = 1, .loss = {.reduction = nn::Reduction::mean}});
  const nn::TrainResult sum_one = nn::train(net, w0, kX, kY, {.learning_rate = lr, .max_steps = 1});
  CHECK(ad::max_relative_difference(mean_same.w - w0, 0.5 * (sum_one.w - w0)) <= 1e-15);
}

TEST_CASE("Scaled(Centered(net)) with the loss divided by α²: loss ½‖ȳ‖²/α² at w0, lazier for larger α",
          "[nn][train]") {
  const auto net = std::make_shared<nn::MLP>(kSeedNet);
  std::vector<double> final_change;
  for (double alpha : {1.0, 10.0}) {
    const auto model = nn::scaled(nn::centered(net, 0), alpha);
    const nn::TrainConfig config{.learning_rate = 0.01,
                                 .max_steps = 2000,
                                 .loss_threshold = 1e-8 / (alpha * alpha),
                                 .loss = {.divisor = alpha * alpha}};
    const nn::TrainResult r = nn::train(*model, model->init(0), kX, kY, config);
    INFO(model->describe());
    CHECK(r.losses[0] == Approx(0.5 * (9.0 + 1.0) / (alpha * alpha)).epsilon(1e-15));  // f(w0) = 0 exactly
    CHECK(r.reached_threshold);
    final_change.push_back(r.relative_changes.back());
  }
  // Lazy training (Chizat et al.): the weights move ~1/α as far. Measured 0.068 and 0.0084; the
  // bounds allow a factor 2 either way around the 1/10 ratio.
  CHECK(final_change[1] * 10.0 > 0.5 * final_change[0]);
  CHECK(final_change[1] * 10.0 < 2.0 * final_change[0]);
}

TEST_CASE("train refuses bad inputs up front", "[nn][train][errors]") {
  const nn::MLP net({.input_dim = 1, .hidden = {10}, .output_dim = 1});
  const Tensor w0 = net.init(0);
  const nn::TrainConfig ok{.learning_rate = 0.01, .max_steps = 3};
  CHECK_NOTHROW(nn::train(net, w0, kX, kY, ok));
  // Shapes: targets, inputs, weights.
  CHECK_THROWS_WITH(nn::train(net, w0, kX, Tensor::zeros({2, 2}), ok),
                    Catch::Contains("targets") && Catch::Contains("[2, 2]") && Catch::Contains("[2, 1]"));
  CHECK_THROWS_WITH(nn::train(net, w0, kX, Tensor::zeros({3, 1}), ok), Catch::Contains("[3, 1]"));
  CHECK_THROWS_AS(nn::train(net, w0, kX, Tensor::zeros({2}), ok), ad::Error);
  CHECK_THROWS_WITH(nn::train(net, w0, Tensor::zeros({2, 2}), kY, ok), Catch::Contains("[2, 2]"));
  CHECK_THROWS_AS(nn::train(net, Tensor::zeros({5}), kX, kY, ok), ad::Error);
  // Non-finite data.
  Tensor bad_x = kX, bad_y = kY, bad_w = w0;
  bad_x(1, 0) = NAN;
  bad_y(0, 0) = INFINITY;
  bad_w.flat(3) = -INFINITY;
  CHECK_THROWS_WITH(nn::train(net, w0, bad_x, kY, ok), Catch::Contains("non-finite"));
  CHECK_THROWS_AS(nn::train(net, w0, kX, bad_y, ok), ad::Error);
  CHECK_THROWS_AS(nn::train(net, bad_w, kX, kY, ok), ad::Error);
  // Learning rates and divisors.
  for (double lr : {0.0, -0.01, double(NAN), double(INFINITY)}) {
    INFO("lr " << lr);
    CHECK_THROWS_WITH(nn::train(net, w0, kX, kY, {.learning_rate = lr}), Catch::Contains("learning rate"));
  }
  for (double d : {0.0, -1.0, double(NAN), double(INFINITY)}) {
    INFO("divisor " << d);
    CHECK_THROWS_AS(nn::train(net, w0, kX, kY, {.learning_rate = 0.01, .loss = {.divisor = d}}), ad::Error);
  }
  // Nothing ran: no callback call before the refusal.
  int calls = 0;
  CHECK_THROWS(nn::train(net, w0, kX, kY, {.learning_rate = -1.0}, [&](const nn::TrainState&) { ++calls; }));
  CHECK(calls == 0);
}

TEST_CASE("A diverging learning rate stops with an error naming the step, not NaN weights", "[nn][train][errors]") {
  // lr = 10 on the post's problem: the last bias alone multiplies its error by |1 − 2·10| = 19
  // per step, so the loss overflows (measured: inf at step 84).
  const nn::MLP net(kSeedNet);
  std::vector<double> seen;
  CHECK_THROWS_WITH(nn::train(net, net.init(0), kX, kY, {.learning_rate = 10.0, .max_steps = 1000},
                              [&](const nn::TrainState& s) { seen.push_back(s.loss); }),
                    Catch::Contains("at step") && Catch::Contains("learning rate 10"));
  REQUIRE(seen.size() > 1);
  for (double l : seen) CHECK(std::isfinite(l));  // the callback never saw a non-finite loss
  CHECK(seen.back() > 1e100);                     // it was diverging
  std::string message;
  try {
    nn::train(net, net.init(0), kX, kY, {.learning_rate = 10.0, .max_steps = 1000});
  } catch (const ad::Error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains(fmt::format("at step {} ", seen.size())));  // the first bad step
}

TEST_CASE("README-style example: 2 hidden layers of width 100, ReLU, the post's two points", "[nn][train][readme]") {
  auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 1, .hidden = {100, 100}, .output_dim = 1});
  const Tensor w0 = net->init(0);
  const auto x = Tensor::column({-2.0, 0.5});
  const auto y = Tensor::column({3.0, -1.0});
  std::ostringstream printed;
  const nn::TrainResult run =
      nn::train(*net, w0, x, y, {.learning_rate = 0.01, .max_steps = 10000, .loss_threshold = 1e-8},
                [&](const nn::TrainState& s) {
                  if (s.step % 20 == 0) printed << fmt::format("step {} loss {:.3e}\n", s.step, s.loss);
                });
  printed << fmt::format("final: {} steps, loss {:.3e}, |w-w0|/|w0| {:.4f}\n", run.steps, run.losses.back(),
                         run.relative_changes.back());
  INFO(printed.str());
  CHECK(net->num_params() == 10401);
  CHECK(run.reached_threshold);
  CHECK(run.losses.back() < 1e-8);
  CHECK(run.losses.front() > 1.0);  // it did have to learn: ½(3² + 1²) = 5 for a zero net
  CHECK_THAT(printed.str(), Catch::Contains("step 0 loss") && Catch::Contains("final: "));
}
