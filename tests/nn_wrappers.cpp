// Centered and Scaled: exact zeros at w0, exact factors α, composition, names and errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
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
using nn_test::exactly_equal;
using nn_test::normwise_difference;
using nn_test::random_tensor;

std::vector<std::shared_ptr<const nn::MLP>> nets() {
  return {
      std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 1, .hidden = {100, 100}, .output_dim = 1}),
      std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 3,
                                              .hidden = {6, 5},
                                              .output_dim = 2,
                                              .activation = nn::Activation::tanh,
                                              .parameterization = nn::Parameterization::ntk,
                                              .sb2 = 0.09}),
      std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 2,
                                              .hidden = {7},
                                              .output_dim = 3,
                                              .activation = nn::Activation::erf,
                                              .init = nn::Init::lecun_normal,
                                              .bias = false,
                                              .sw2 = 1.96}),
  };
}

// The Jacobian of x ↦ f(x, w) or w ↦ f(x, w) by reverse mode.
Tensor jac_w(const nn::Model& m, const Tensor& w, const Tensor& x) {
  return ad::jacrev([&](const Var& wv) { return m.forward(wv, Var(x)); }, w);
}
Tensor jac_x(const nn::Model& m, const Tensor& w, const Tensor& x) {
  return ad::jacrev([&](const Var& xv) { return m.forward(Var(w), xv); }, x);
}

bool all_zero(const Tensor& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (t.flat(i) != 0.0) return false;
  return true;
}

}  // namespace

TEST_CASE("Centered: the output at w0 is exactly 0.0 for several nets, seeds and inputs", "[nn][wrappers]") {
  for (const auto& net : nets())
    for (std::uint64_t seed : {0u, 1u, 17u, 123456789u}) {
      const auto c = nn::centered(net, seed);
      INFO(c->describe() << " seed " << seed);
      CHECK(bitwise_equal(c->w0(), net->init(seed)));
      CHECK(bitwise_equal(c->init(seed + 1), c->w0()));  // init is the frozen point, whatever the seed
      for (std::uint64_t data : {1u, 2u}) {
        const Tensor x = random_tensor({9, net->input_dim()}, data, -3.0, 3.0);
        const Tensor y = c->predict(c->w0(), x);
        REQUIRE(y.shape() == Shape{9, net->output_dim()});
        CHECK(all_zero(y));  // exactly, not approximately
        // The uncentered net is not zero there: the test could fail.
        CHECK_FALSE(all_zero(net->predict(c->w0(), x)));
      }
    }
}

TEST_CASE("Centered: f(w) − f(w0) elsewhere, and the inner model's Jacobian in w", "[nn][wrappers]") {
  for (const auto& net : nets()) {
    const auto c = nn::centered(net, 3);
    INFO(c->describe());
    const Tensor x = random_tensor({5, net->input_dim()}, 4);
    const Tensor w = net->init(99);
    // Same op sequence on the same numbers: bitwise equal.
    CHECK(bitwise_equal(c->predict(w, x), net->predict(w, x) - net->predict(c->w0(), x)));
    // The frozen copy is a constant, so the Jacobian in w is the inner one, bitwise (the
    // subtraction passes the cotangent through unchanged), at w0 and elsewhere.
    CHECK(bitwise_equal(jac_w(*c, w, x), jac_w(*net, w, x)));
    CHECK(bitwise_equal(jac_w(*c, c->w0(), x), jac_w(*net, c->w0(), x)));
    // The frozen copy still sees x: at w0 the output is 0 for every x, so its x-Jacobian is 0.
    CHECK(all_zero(jac_x(*c, c->w0(), x)));
    CHECK_FALSE(all_zero(jac_x(*c, w, x)));
  }
}

TEST_CASE("Scaled: values and Jacobians are α times the inner model's", "[nn][wrappers]") {
  for (const auto& net : nets()) {
    const Tensor x = random_tensor({5, net->input_dim()}, 8);
    const Tensor w = net->init(2);
    const Tensor y = net->predict(w, x), Jw = jac_w(*net, w, x), Jx = jac_x(*net, w, x);
    // A power of two scales floating-point numbers exactly: equal values (for α < 0 a zero
    // may come out as −0.0 on one side and +0.0 on the other, so == rather than bytes).
    for (double alpha : {8.0, 0.25, -2.0}) {
      const auto s = nn::scaled(net, alpha);
      INFO(s->describe());
      CHECK(exactly_equal(s->predict(w, x), ad::scale(y, alpha)));
      CHECK(exactly_equal(jac_w(*s, w, x), ad::scale(Jw, alpha)));
      CHECK(exactly_equal(jac_x(*s, w, x), ad::scale(Jx, alpha)));
    }
    // Any other α: the values are one multiplication, hence exact; the Jacobians apply α at
    // another point of the chain, so they agree to rounding: max|Δ| ≤ 1e-14 · max|αJ|.
    for (double alpha : {3.7, 1e3, -0.1}) {
      const auto s = nn::scaled(net, alpha);
      INFO(s->describe());
      CHECK(exactly_equal(s->predict(w, x), ad::scale(y, alpha)));
      const double ew = normwise_difference(jac_w(*s, w, x), ad::scale(Jw, alpha));
      const double ex = normwise_difference(jac_x(*s, w, x), ad::scale(Jx, alpha));
      INFO("errors " << ew << " (w), " << ex << " (x)");
      CHECK(ew <= 1e-14);
      CHECK(ex <= 1e-14);
    }
    CHECK(bitwise_equal(nn::scaled(net, 5.0)->init(4), net->init(4)));
    CHECK(nn::scaled(net, 5.0)->alpha() == 5.0);
    CHECK(nn::scaled(net, 5.0)->num_params() == net->num_params());
  }
}

TEST_CASE("Scaled(Centered(net)): exactly 0 at w0, α (f(w) − f(w0)) elsewhere", "[nn][wrappers]") {
  for (const auto& net : nets()) {
    const double alpha = 16.0;  // a power of two: every comparison below is bitwise
    const auto c = nn::centered(net, 6);
    const auto sc = nn::scaled(c, alpha);
    INFO(sc->describe());
    CHECK(sc->input_dim() == net->input_dim());
    CHECK(sc->output_dim() == net->output_dim());
    CHECK(sc->num_params() == net->num_params());
    REQUIRE(sc->layout().size() == net->layout().size());
    CHECK(bitwise_equal(sc->init(0), c->w0()));  // the frozen point, through both wrappers
    const Tensor x = random_tensor({7, net->input_dim()}, 9, -2.0, 2.0);
    CHECK(all_zero(sc->predict(c->w0(), x)));
    const Tensor w = net->init(7);
    CHECK(exactly_equal(sc->predict(w, x), ad::scale(net->predict(w, x) - net->predict(c->w0(), x), alpha)));
    CHECK(exactly_equal(jac_w(*sc, w, x), ad::scale(jac_w(*net, w, x), alpha)));
    // Nesting the other way round is the same model: Centered(Scaled(net)) at the same w0.
    const auto cs = std::make_shared<nn::Centered>(nn::scaled(net, alpha), c->w0());
    CHECK(exactly_equal(cs->predict(w, x), sc->predict(w, x)));
  }
}

TEST_CASE("Wrapper names mention each wrapper and α, bad arguments are refused", "[nn][wrappers][errors]") {
  const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 1, .hidden = {100, 100}, .output_dim = 1});
  CHECK(nn::scaled(nn::centered(net, 0), 10.0)->describe() ==
        "Scaled(alpha=10, Centered(MLP 1-100-100-1 relu standard torch_default bias sw2=1 sb2=0))");
  CHECK(nn::centered(net, 0)->describe() == "Centered(MLP 1-100-100-1 relu standard torch_default bias sw2=1 sb2=0)");
  CHECK_THAT(nn::scaled(net, 0.5)->describe(), Catch::StartsWith("Scaled(alpha=0.5, MLP 1-100-100-1"));

  CHECK_THROWS_WITH(nn::Centered(net, Tensor::zeros({10400})), Catch::Contains("[10400]") && Catch::Contains("10401"));
  CHECK_THROWS_AS(nn::Centered(net, Tensor::zeros({10401, 1})), ad::Error);
  CHECK_THROWS_AS(nn::Centered(nullptr, Tensor::zeros({1})), ad::Error);
  CHECK_THROWS_AS(nn::Scaled(nullptr, 2.0), ad::Error);
  CHECK_THROWS_AS(nn::Scaled(net, NAN), ad::Error);
  CHECK_THROWS_AS(nn::Scaled(net, INFINITY), ad::Error);
  // The wrappers check shapes through the inner model.
  const auto sc = nn::scaled(nn::centered(net, 0), 2.0);
  CHECK_THROWS_WITH(sc->predict(sc->init(0), Tensor::zeros({3, 2})), Catch::Contains("[3, 2]"));
  CHECK_THROWS_AS(sc->predict(Tensor::zeros({5}), Tensor::zeros({3, 1})), ad::Error);
}
