// nn models: the flat-weight layout, Dense/MLP forward passes against hand-written loops,
// derivatives in w and x against finite differences, shape errors, names.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "autodiff/gradcheck.hpp"
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
using nn_test::hand_forward;
using nn_test::kActivations;
using nn_test::random_tensor;

nn::MLPConfig small_config(nn::Activation act, nn::Parameterization param, bool bias) {
  return nn::MLPConfig{.input_dim = 3,
                       .hidden = {5, 4},
                       .output_dim = 2,
                       .activation = act,
                       .parameterization = param,
                       .init = nn::Init::torch_default,
                       .bias = bias,
                       .sw2 = 1.69,
                       .sb2 = 0.16};
}

std::string label(const nn::MLP& net) { return net.describe(); }

}  // namespace

TEST_CASE("MLP layout: contiguous blocks in layer order whose sizes sum to num_params", "[nn][layout]") {
  const std::vector<nn::MLPConfig> configs = {
      {.input_dim = 1, .hidden = {100, 100}, .output_dim = 1},
      {.input_dim = 3, .hidden = {5, 4}, .output_dim = 2, .bias = false},
      {.input_dim = 2, .hidden = {}, .output_dim = 3},
      {.input_dim = 4, .hidden = {7}, .output_dim = 1, .parameterization = nn::Parameterization::ntk},
  };
  for (const nn::MLPConfig& c : configs) {
    const nn::MLP net(c);
    INFO(net.describe());
    std::vector<std::size_t> sizes = {c.input_dim};
    sizes.insert(sizes.end(), c.hidden.begin(), c.hidden.end());
    sizes.push_back(c.output_dim);
    std::size_t expected_p = 0;
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l)
      expected_p += sizes[l] * sizes[l + 1] + (c.bias ? sizes[l + 1] : 0);

    const std::vector<nn::ParamBlock> layout = net.layout();
    REQUIRE(layout.size() == (sizes.size() - 1) * (c.bias ? 2 : 1));
    std::size_t next = 0, total = 0, block = 0;
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
      const nn::ParamBlock& W = layout[block++];
      CHECK(W.name == "layer" + std::to_string(l + 1) + ".weight");
      CHECK(W.shape == Shape{sizes[l + 1], sizes[l]});  // (out, in), as PyTorch stores it
      CHECK(W.offset == next);
      next = W.offset + W.size();
      total += W.size();
      if (c.bias) {
        const nn::ParamBlock& b = layout[block++];
        CHECK(b.name == "layer" + std::to_string(l + 1) + ".bias");
        CHECK(b.shape == Shape{sizes[l + 1]});
        CHECK(b.offset == next);
        next = b.offset + b.size();
        total += b.size();
      }
    }
    CHECK(total == expected_p);
    CHECK(next == expected_p);
    CHECK(net.num_params() == expected_p);
    CHECK(net.init(0).shape() == Shape{expected_p});
    // The Dense layers agree with the model's layout.
    REQUIRE(net.layers().size() == sizes.size() - 1);
    for (std::size_t l = 0; l < net.layers().size(); ++l) {
      CHECK(net.layers()[l].weight().offset == layout[l * (c.bias ? 2 : 1)].offset);
      CHECK(net.layers()[l].bias().size() == (c.bias ? sizes[l + 1] : 0));
    }
  }
  CHECK(nn::MLP({.input_dim = 1, .hidden = {100, 100}, .output_dim = 1}).num_params() == 10401);
}

TEST_CASE("unflatten places w row-major into each block, flatten inverts it bitwise", "[nn][layout]") {
  const nn::MLP net({.input_dim = 3, .hidden = {5, 4}, .output_dim = 2});
  const Tensor w = random_tensor({net.num_params()}, 11);
  const std::vector<nn::ParamBlock> layout = net.layout();
  const std::vector<Tensor> tensors = nn::unflatten(layout, w);
  REQUIRE(tensors.size() == layout.size());
  for (std::size_t k = 0; k < layout.size(); ++k) {
    REQUIRE(tensors[k].shape() == layout[k].shape);
    for (std::size_t i = 0; i < tensors[k].size(); ++i) CHECK(tensors[k].flat(i) == w.flat(layout[k].offset + i));
  }
  CHECK(tensors[0](2, 1) == w.flat(2 * 3 + 1));  // layer1.weight is (5, 3): W[2][1] at 2·3 + 1
  CHECK(bitwise_equal(nn::flatten(layout, tensors), w));
  // And the other way: tensors -> w -> tensors.
  std::vector<Tensor> other;
  for (std::size_t k = 0; k < layout.size(); ++k) other.push_back(random_tensor(layout[k].shape, 100 + k));
  const std::vector<Tensor> back = nn::unflatten(layout, nn::flatten(layout, other));
  for (std::size_t k = 0; k < layout.size(); ++k) CHECK(bitwise_equal(back[k], other[k]));
}

TEST_CASE("unflatten and flatten refuse wrong sizes", "[nn][layout][errors]") {
  const nn::MLP net({.input_dim = 2, .hidden = {3}, .output_dim = 1});  // p = 13
  const std::vector<nn::ParamBlock> layout = net.layout();
  REQUIRE(net.num_params() == 13);
  CHECK_THROWS_AS(nn::unflatten(layout, Tensor::zeros({12})), ad::Error);
  // Regression: a longer w (e.g. another model's weights) used to be cut silently.
  CHECK_THROWS_WITH(nn::unflatten(layout, Tensor::zeros({14})), Catch::Contains("[14]") && Catch::Contains("13"));
  CHECK_THROWS_AS(nn::unflatten(layout, Tensor::zeros({13, 1})), ad::Error);
  CHECK_THROWS_AS(nn::unflatten(layout, Tensor::zeros({1, 13})), ad::Error);
  CHECK_NOTHROW(nn::unflatten(layout, Tensor::zeros({13})));

  std::vector<Tensor> tensors = nn::unflatten(layout, Tensor::zeros({13}));
  std::vector<Tensor> fewer(tensors.begin(), tensors.end() - 1);
  CHECK_THROWS_AS(nn::flatten(layout, fewer), ad::Error);
  std::vector<Tensor> transposed = tensors;
  transposed[0] = Tensor::zeros({2, 3});  // layer1.weight is (3, 2)
  CHECK_THROWS_WITH(nn::flatten(layout, transposed), Catch::Contains("layer1.weight") && Catch::Contains("[2, 3]"));
}

TEST_CASE("MLP forward equals a hand-written loop over W and b, both parameterizations", "[nn][forward]") {
  // Tolerance: max|a − b| / max(1, |a|, |b|) ≤ 1e-12 — the loops sum in another order than BLAS.
  const Tensor x = random_tensor({6, 3}, 7, -2.0, 2.0);
  for (nn::Activation act : kActivations)
    for (nn::Parameterization param : {nn::Parameterization::standard, nn::Parameterization::ntk})
      for (bool bias : {true, false}) {
        const nn::MLP net(small_config(act, param, bias));
        INFO(label(net));
        for (std::uint64_t seed : {0u, 1u}) {
          const Tensor w = net.init(seed);
          const Tensor y = net.predict(w, x);
          REQUIRE(y.shape() == Shape{6, 2});
          CHECK(ad::max_relative_difference(y, hand_forward(net, w, x)) <= 1e-12);
          // forward on a tape records the same numbers as predict.
          ad::TapeScope scope;
          const Var yv = net.forward(scope.tape().constant(w), scope.tape().constant(x));
          CHECK(bitwise_equal(yv.value(), y));
        }
      }
}

TEST_CASE("NTK parameterization: σ_w/√fan_in and σ_b multiply W h and b", "[nn][forward]") {
  // A single Dense layer with chosen weights, against closed forms (tolerance 1e-15 relative).
  const nn::MLP net({.input_dim = 4,
                     .hidden = {},
                     .output_dim = 1,
                     .parameterization = nn::Parameterization::ntk,
                     .sw2 = 4.0,
                     .sb2 = 0.25});
  REQUIRE(net.layers().size() == 1);
  CHECK(net.layers()[0].weight_multiplier() == 2.0 / std::sqrt(4.0));
  CHECK(net.layers()[0].bias_multiplier() == 0.5);
  const Tensor w = {1.0, 2.0, 3.0, 4.0, 10.0};  // W = [1 2 3 4], b = 10
  const Tensor x = {{1.0, 1.0, 1.0, 1.0}, {0.5, 0.0, 0.0, -1.0}};
  const Tensor y = net.predict(w, x);
  CHECK(y(0, 0) == Approx(1.0 * 10.0 + 0.5 * 10.0).epsilon(1e-15));
  CHECK(y(1, 0) == Approx(1.0 * (0.5 - 4.0) + 0.5 * 10.0).epsilon(1e-15));
  // The same weights in the standard parameterization: no multipliers.
  const nn::MLP standard({.input_dim = 4, .hidden = {}, .output_dim = 1});
  CHECK(standard.layers()[0].weight_multiplier() == 1.0);
  CHECK(standard.layers()[0].bias_multiplier() == 1.0);
  CHECK(standard.predict(w, x)(0, 0) == Approx(20.0).epsilon(1e-15));
}

TEST_CASE("Model derivatives in w and in x match central finite differences", "[nn][gradcheck]") {
  // check_derivatives compares the gradient, JVP, VJP and HVP along 3 random unit directions with
  // central differences (h = 1e-6 for first derivatives, 1e-5 for the HVP). Its error is
  // max|a − b| / max(1, |a|, |b|); the differences' own error is ~1e-9 here, so 1e-6 leaves a
  // wide margin while a wrong rule (errors of order 1) fails. ReLU kinks: with random data no
  // pre-activation lies within h of 0 (the seeds are fixed, so this is reproducible).
  ad::CheckOptions options;
  options.tolerance = 1e-6;
  const Tensor x = random_tensor({4, 3}, 3, -1.5, 1.5);
  int checked = 0;
  for (nn::Activation act : kActivations)
    for (nn::Parameterization param : {nn::Parameterization::standard, nn::Parameterization::ntk})
      for (bool bias : {true, false}) {
        const nn::MLP net(small_config(act, param, bias));
        const Tensor w = net.init(5);
        INFO(label(net));
        // w ↦ Σ sin(f(X, w)): one-element, so the gradient and HVP are checked too.
        const auto in_w = [&](const Var& wv) { return ad::sum(ad::sin(net.forward(wv, Var(x)))); };
        const ad::CheckReport rw = ad::check_derivatives(in_w, w, options);
        INFO("in w: " << rw.summary());
        CHECK(rw.passed());
        // w ↦ f(X, w) itself (N × k): JVP and VJP of the raw outputs.
        const auto raw_w = [&](const Var& wv) { return net.forward(wv, Var(x)); };
        const ad::CheckReport rr = ad::check_derivatives(raw_w, w, options);
        INFO("raw in w: " << rr.summary());
        CHECK(rr.passed());
        // x ↦ Σ sin(f(X, w)).
        const auto in_x = [&](const Var& xv) { return ad::sum(ad::sin(net.forward(Var(w), xv))); };
        const ad::CheckReport rx = ad::check_derivatives(in_x, x, options);
        INFO("in x: " << rx.summary());
        CHECK(rx.passed());
        // Forward and reverse Jacobians are the same numbers up to summation order (1e-13).
        CHECK(ad::max_relative_difference(ad::jacrev(raw_w, w), ad::jacfwd(raw_w, w)) <= 1e-13);
        ++checked;
      }
  CHECK(checked == 24);  // 6 activations × 2 parameterizations × bias on/off
}

TEST_CASE("A wrong-sized w or x is refused with an error naming the shapes", "[nn][errors]") {
  const nn::MLP net({.input_dim = 2, .hidden = {3}, .output_dim = 1});  // p = 13
  const Tensor w = net.init(0);
  const Tensor x = Tensor::zeros({4, 2});
  CHECK_NOTHROW(net.predict(w, x));
  CHECK_THROWS_WITH(net.predict(w, Tensor::zeros({4, 3})),
                    Catch::Contains("predict") && Catch::Contains("[4, 3]") && Catch::Contains("(N, 2)"));
  CHECK_THROWS_WITH(net.predict(w, Tensor::zeros({2})), Catch::Contains("[2]") && Catch::Contains("(N, 2)"));
  CHECK_THROWS_WITH(net.predict(w, Tensor::zeros({1, 4, 2})), Catch::Contains("[1, 4, 2]"));
  CHECK_THROWS_WITH(net.predict(Tensor::zeros({12}), x), Catch::Contains("[12]") && Catch::Contains("13"));
  CHECK_THROWS_WITH(net.predict(Tensor::zeros({13, 1}), x), Catch::Contains("[13, 1]"));
  CHECK_THROWS_AS(net.predict(w, Tensor::zeros({4, 3})), ad::Error);
  // forward on a tape checks too.
  ad::TapeScope scope;
  ad::Tape& tape = scope.tape();
  CHECK_THROWS_WITH(net.forward(tape.variable(w), tape.constant(Tensor::zeros({4, 1}))),
                    Catch::Contains("MLP::forward") && Catch::Contains("[4, 1]"));
  CHECK_THROWS_WITH(net.forward(tape.variable(Tensor::zeros({14})), tape.constant(x)),
                    Catch::Contains("MLP::forward") && Catch::Contains("[14]"));
}

TEST_CASE("Names: activations, parameterizations, inits and describe()", "[nn][names]") {
  for (nn::Activation act : kActivations) CHECK(nn::parse_activation(nn::to_string(act)) == act);
  CHECK(nn::to_string(nn::Activation::erf) == "erf");
  CHECK_THROWS_WITH(nn::parse_activation("gelu"), Catch::Contains("gelu"));
  CHECK(nn::parse_parameterization("ntk") == nn::Parameterization::ntk);
  CHECK(nn::parse_parameterization("standard") == nn::Parameterization::standard);
  CHECK_THROWS_AS(nn::parse_parameterization("mup"), ad::Error);
  CHECK(nn::parse_init("lecun_normal") == nn::Init::lecun_normal);
  CHECK(nn::parse_init("torch_default") == nn::Init::torch_default);
  CHECK_THROWS_AS(nn::parse_init("xavier"), ad::Error);

  CHECK(nn::MLP({.input_dim = 1, .hidden = {100, 100}, .output_dim = 1}).describe() ==
        "MLP 1-100-100-1 relu standard torch_default bias sw2=1 sb2=0");
  const std::string ntk = nn::MLP({.input_dim = 3,
                                   .hidden = {8},
                                   .output_dim = 2,
                                   .activation = nn::Activation::tanh,
                                   .parameterization = nn::Parameterization::ntk,
                                   .bias = false})
                              .describe();
  CHECK_THAT(
      ntk, Catch::Contains("3-8-2") && Catch::Contains("tanh") && Catch::Contains("ntk") && Catch::Contains("no-bias"));
}

TEST_CASE("Dense refuses empty layers, the activation between layers is the configured one", "[nn][errors]") {
  CHECK_THROWS_AS(nn::Dense(nn::DenseConfig{.in = 0, .out = 3}, 0, "layer1"), ad::Error);
  CHECK_THROWS_AS(nn::MLP({.input_dim = 2, .hidden = {0}, .output_dim = 1}), ad::Error);
  CHECK_THROWS_WITH(nn::MLP({.sw2 = -1.0}), Catch::Contains("sw2 and sb2 are variances") && Catch::Contains("-1"));
  CHECK_THROWS_WITH(nn::MLP({.sb2 = std::nan("")}), Catch::Contains("sw2 and sb2 are variances"));
  // With identity the MLP is affine in x: f(x1 + x2) − f(x1) − f(x2) + f(0) = 0 up to rounding
  // (1e-13 absolute, outputs are O(1)); with tanh between the layers it is not.
  const Tensor x1 = random_tensor({5, 3}, 21), x2 = random_tensor({5, 3}, 22);
  const Tensor zero = Tensor::zeros({5, 3});
  const auto affine_defect = [&](nn::Activation act) {
    const nn::MLP net(small_config(act, nn::Parameterization::standard, true));
    const Tensor w = net.init(3);
    const Tensor d = net.predict(w, x1 + x2) - net.predict(w, x1) - net.predict(w, x2) + net.predict(w, zero);
    double m = 0.0;
    for (std::size_t i = 0; i < d.size(); ++i) m = std::max(m, std::abs(d.flat(i)));
    return m;
  };
  CHECK(affine_defect(nn::Activation::identity) <= 1e-13);
  CHECK(affine_defect(nn::Activation::tanh) > 1e-3);
}
