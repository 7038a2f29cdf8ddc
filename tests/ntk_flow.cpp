// Linearized models, gradient flow in closed form, and kernel predictions at test points.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/flow.hpp"
#include "ntk/linearize.hpp"

namespace {

using autodiff::Tensor;
using autodiff::Var;

Tensor random_matrix(std::size_t n, std::size_t d, std::uint64_t seed) { return nn::standard_normal({n, d}, seed); }

using autodiff::norm;

Tensor flat(const Tensor& t) { return autodiff::reshape(t, {t.size()}); }

std::shared_ptr<nn::MLP> small_net(std::size_t width, nn::Activation activation = nn::Activation::tanh) {
  return std::make_shared<nn::MLP>(
      nn::MLPConfig{.input_dim = 2, .hidden = {width}, .output_dim = 1, .activation = activation});
}

}  // namespace

TEST_CASE("linearize: f(x, w0) + J (w - w0) with one JVP, differentiable in w", "[ntk][flow]") {
  const auto net = small_net(6);
  const Tensor w0 = net->init(1), x = random_matrix(4, 2, 2);
  const auto lin = ntk::linearize(net, w0);
  Tensor w = w0;
  for (std::size_t i = 0; i < w.size(); ++i) w.flat(i) += 0.3 * std::cos(static_cast<double>(i));
  const Tensor J = ntk::jacobian(*net, w0, x);  // (4, p)
  const Tensor expected = autodiff::add(flat(net->predict(w0, x)), autodiff::matmul(J, autodiff::sub(w, w0)));
  // Agreement with the definition to 1e-12 relative; exactly f(w0) at w0.
  CHECK(autodiff::max_relative_difference(flat(lin->predict(w, x)), expected) < 1e-12);
  CHECK(autodiff::max_relative_difference(lin->predict(w0, x), net->predict(w0, x)) == 0.0);
  // Its Jacobian in w is J(w0) everywhere (1e-12), its Hessian is zero (1e-12 absolute).
  CHECK(autodiff::max_relative_difference(ntk::jacobian(*lin, w, x), J) < 1e-12);
  const auto scalar = [&](const Var& wv) { return autodiff::sum(autodiff::sin(lin->forward(wv, wv.tape().constant(x)))); };
  const auto report = autodiff::check_derivatives(scalar, w);  // FD tolerance 1e-6
  INFO(report.summary());
  CHECK(report.passed());
  const auto linear_part = [&](const Var& wv) { return autodiff::sum(lin->forward(wv, wv.tape().constant(x))); };
  CHECK(norm(autodiff::hessian(linear_part, w)) < 1e-12);
  // Inputs as variables are refused.
  autodiff::TapeScope scope;
  CHECK_THROWS_WITH(lin->forward(scope.tape().variable(w), scope.tape().variable(x)), Catch::Contains("inputs x"));
}

TEST_CASE("gradient flow: the closed form matches a fine RK4 integration of du/dt = -H u", "[ntk][flow]") {
  const Tensor a = random_matrix(5, 5, 3);
  const Tensor h = autodiff::add(autodiff::matmul(a, autodiff::transpose(a)), autodiff::scale(Tensor::identity(5), 0.1));
  const Tensor u0 = flat(random_matrix(5, 1, 4));
  const ntk::GradientFlow flow(h, u0);
  // RK4 with dt = 1e-3 has global error ~ (λmax dt)⁴ ≈ 1e-9 here; compare to 1e-8 relative.
  Tensor u = u0;
  const double dt = 1e-3;
  const auto rhs = [&](const Tensor& v) { return autodiff::neg(autodiff::matmul(h, v)); };
  for (int step = 1; step <= 1000; ++step) {
    const Tensor k1 = rhs(u), k2 = rhs(autodiff::add(u, autodiff::scale(k1, dt / 2)));
    const Tensor k3 = rhs(autodiff::add(u, autodiff::scale(k2, dt / 2))), k4 = rhs(autodiff::add(u, autodiff::scale(k3, dt)));
    u = autodiff::add(u, autodiff::scale(autodiff::add(autodiff::add(k1, autodiff::scale(k2, 2)), autodiff::add(autodiff::scale(k3, 2), k4)), dt / 6));
    if (step % 250 == 0) {
      CHECK(norm(autodiff::sub(u, flow.residual(step * dt))) < 1e-8 * norm(u0));
    }
  }
  // Each eigen-direction decays at its own rate: modes(t) = e^{-λ t} modes(0) (1e-14).
  const Tensor m0 = flow.modes(0.0), m1 = flow.modes(0.7);
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(m1.flat(i) == Approx(std::exp(-0.7 * flow.eigen().values.flat(i)) * m0.flat(i)).epsilon(1e-14));
  CHECK(flow.loss(0.0) == Approx(0.5 * norm(u0) * norm(u0)).epsilon(1e-14));
  CHECK_THROWS_AS(ntk::GradientFlow(h, Tensor{1.0, 2.0}), autodiff::Error);
}

TEST_CASE("gradient flow: a linearized model trained by GD follows (I - ηH)^k u0", "[ntk][flow]") {
  const auto net = small_net(16);
  const Tensor w0 = net->init(5), x = random_matrix(3, 2, 6), y = random_matrix(3, 1, 7);
  const auto lin = ntk::linearize(net, w0);
  const Tensor h = ntk::empirical_ntk(*net, w0, x);
  const ntk::GradientFlow flow(h, flat(autodiff::sub(net->predict(w0, x), y)));
  const double lr = 0.5 / flow.eigen().values.flat(2);
  const nn::TrainResult run = nn::train(*lin, w0, x, y, {.learning_rate = lr, .max_steps = 40});
  // The linearized model is exactly linear in w, so GD on it is exactly the discrete flow (1e-9).
  const Tensor u = flat(autodiff::sub(lin->predict(run.w, x), y));
  CHECK(norm(autodiff::sub(u, flow.residual_gd(40, lr))) < 1e-9 * norm(flow.residual_gd(0, lr)));
}

TEST_CASE("gradient flow: a wide centered net with large alpha tracks the kernel prediction, small alpha does not",
          "[ntk][flow]") {
  // The post's setting: 2 points, 1-256-256-1 ReLU, Scaled(Centered(net), α), loss divided by α².
  const Tensor x = Tensor::column({-2.0, 0.5}), y = Tensor::column({3.0, -1.0});
  const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 1, .hidden = {256, 256}, .output_dim = 1});
  const auto centered = nn::centered(net, 11);
  const Tensor w0 = centered->w0();
  // With the loss divided by α², the residual follows u_k = (I − ηH)^k u0 with H the NTK of the
  // unscaled centered net, whatever α — exactly so only in the lazy limit.
  const Tensor h = ntk::empirical_ntk(*centered, w0, x);
  const ntk::GradientFlow flow(h, flat(autodiff::neg(y)));
  const double lr = 0.5 / flow.eigen().values.flat(1);
  const std::size_t steps = 60;
  const auto deviation = [&](double alpha) {
    const auto model = nn::scaled(centered, alpha);
    double worst = 0.0;
    nn::train(*model, w0, x, y, {.learning_rate = lr, .max_steps = steps, .loss = {.divisor = alpha * alpha}},
              [&](const nn::TrainState& s) {
                const Tensor u = flat(autodiff::sub(model->predict(s.w, x), y));
                worst = std::max(worst, norm(autodiff::sub(u, flow.residual_gd(s.step, lr))) / norm(y));
              });
    return worst;
  };
  const double lazy = deviation(1000.0), rich = deviation(0.3);
  INFO("max relative deviation from the kernel flow: alpha 1000 " << lazy << ", alpha 0.3 " << rich);
  CHECK(lazy < 1e-3);   // tracks the closed form
  CHECK(rich > 5e-2);   // visibly leaves it
  CHECK(rich > 50 * lazy);
}

TEST_CASE("kernel predictions at test points", "[ntk][flow]") {
  const auto net = small_net(12);
  const Tensor w0 = net->init(8), x = random_matrix(3, 2, 9), y = random_matrix(3, 1, 10), xs = random_matrix(4, 2, 11);
  const Tensor theta = ntk::empirical_ntk(*net, w0, x), theta_test = ntk::empirical_ntk(*net, w0, xs, x);
  const Tensor f0 = flat(net->predict(w0, x)), f0_test = flat(net->predict(w0, xs));
  const ntk::KernelPredictor predictor(theta, f0, flat(y));
  CHECK(predictor.warnings().empty());
  // t = 0: the initial function; t = ∞ on the training points: the targets (1e-10).
  CHECK(autodiff::max_relative_difference(predictor.predict(theta_test, f0_test, 0.0), f0_test) == 0.0);
  CHECK(autodiff::max_relative_difference(predictor.predict(theta, f0, ntk::KernelPredictor::infinity()), flat(y)) < 1e-10);
  // On the training points at finite t it is ȳ + u(t) of the gradient flow (1e-12).
  const ntk::GradientFlow flow(theta, autodiff::sub(f0, flat(y)));
  CHECK(autodiff::max_relative_difference(predictor.predict(theta, f0, 0.8), autodiff::add(flat(y), flow.residual(0.8))) < 1e-12);
  // The linearized model trained by GD to convergence predicts the t = ∞ limit at test points (1e-7).
  const auto lin = ntk::linearize(net, w0);
  const double lr = 0.9 / flow.eigen().values.flat(2);
  const nn::TrainResult run = nn::train(*lin, w0, x, y, {.learning_rate = lr, .max_steps = 200000, .loss_threshold = 1e-26});
  CHECK(run.reached_threshold);
  CHECK(autodiff::max_relative_difference(flat(lin->predict(run.w, xs)),
                                          predictor.predict(theta_test, f0_test, ntk::KernelPredictor::infinity())) < 1e-7);
}

TEST_CASE("kernel predictions: ill-conditioned kernels are clamped or ridged, with a warning", "[ntk][flow]") {
  const auto net = small_net(12);
  const Tensor w0 = net->init(8);
  const Tensor x = {{0.5, -1.0}, {0.5, -1.0}, {1.0, 2.0}};  // a repeated point: Θ is singular
  const Tensor y = {0.3, 0.3, -1.0};
  const Tensor theta = ntk::empirical_ntk(*net, w0, x), f0 = flat(net->predict(w0, x));
  const ntk::KernelPredictor clamped(theta, f0, y);
  REQUIRE(clamped.warnings().size() == 1);
  CHECK_THAT(clamped.warnings()[0], Catch::Contains("pseudo-inverse"));
  const Tensor fit = clamped.predict(theta, f0, ntk::KernelPredictor::infinity());
  CHECK(autodiff::all_finite(fit));
  CHECK(autodiff::max_relative_difference(fit, y) < 1e-8);  // consistent targets are still fitted
  const ntk::KernelPredictor ridged(theta, f0, y, {.ridge = 1e-3});
  CHECK_THAT(ridged.warnings()[0], Catch::Contains("ridge"));
  CHECK_THROWS_AS(ntk::KernelPredictor(theta, f0, Tensor{1.0}), autodiff::Error);
  CHECK_THROWS_AS(clamped.predict(theta, f0, -1.0), autodiff::Error);
}
