// Ops that fuse a common chain into one node: checked like every other op.
#include <catch2/catch.hpp>

#include "autodiff/autodiff.hpp"

using namespace autodiff;

TEST_CASE("one_minus_square: value, derivatives, and tanh's derivative through it", "[ops]") {
  const Tensor x = {{-1.3, 0.2, 0.7}, {2.1, -0.4, 0.0}};
  const Tensor y = one_minus_square(x);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(y.flat(i) == 1.0 - x.flat(i) * x.flat(i));  // exact
  // Gradient, JVP, VJP, adjoint identity and HVP against central differences (tolerance 1e-6),
  // as a vector function and through a scalar with non-trivial second derivatives.
  const auto vector_form = [](const Var& v) { return one_minus_square(v); };
  const auto scalar_form = [](const Var& v) { return sum(sin(one_minus_square(v))); };
  const auto r1 = check_derivatives(vector_form, x), r2 = check_derivatives(scalar_form, x);
  INFO(r1.summary() << "\n" << r2.summary());
  CHECK(r1.passed());
  CHECK(r2.passed());
  // tanh's rules use it: its Hessian against the closed form tanh'' = -2 tanh (1 - tanh²) (1e-14).
  const Tensor v = {0.3, -1.1, 0.8};
  const Tensor h = hessian([](const Var& w) { return sum(tanh(w)); }, v);
  for (std::size_t i = 0; i < 3; ++i) {
    const double t = std::tanh(v.flat(i));
    CHECK(h(i, i) == Approx(-2.0 * t * (1.0 - t * t)).epsilon(1e-14));
  }
}

TEST_CASE("squared_distance: ‖a − b‖² in one node, checked against its composite", "[ops]") {
  const Tensor a = {{-1.3, 0.2, 0.7}, {2.1, -0.4, 0.0}}, b = {{0.5, 0.5, -0.2}, {1.0, 0.3, 0.9}};
  double expected = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) expected += (a.flat(i) - b.flat(i)) * (a.flat(i) - b.flat(i));
  CHECK(squared_distance(a, b).item() == Approx(expected).epsilon(1e-15));  // the same sum, up to FMA rounding
  CHECK(squared_distance(a, b).shape() == Shape{});
  // Both arguments differentiable: x = [a | b] flattened; finite differences (1e-6), and every
  // derivative against the composite sum(square(a − b)) (1e-13), forward and reverse, batched too.
  const Tensor x = concat(std::vector<Tensor>{reshape(a, {6}), reshape(b, {6})}, 0);
  const auto split = [](const Var& v, std::size_t k) { return reshape(slice(v, 6 * k, 6), {2, 3}); };
  const auto fused = [&](const Var& v) { return sin(squared_distance(split(v, 0), split(v, 1))); };
  const auto composite = [&](const Var& v) { return sin(sum(square(split(v, 0) - split(v, 1)))); };
  const auto report = check_derivatives(fused, x);
  INFO(report.summary());
  CHECK(report.passed());
  const auto close = [](const Tensor& p, const Tensor& q) { return max_relative_difference(p, q) < 1e-13; };
  CHECK(close(grad(fused, x), grad(composite, x)));
  CHECK(close(jacfwd(fused, x), jacrev(composite, x)));
  CHECK(close(hessian(fused, x), hessian(composite, x)));
  CHECK(close(jacrev(grad_fn(fused), x), hessian(composite, x)));
  CHECK_THROWS_WITH(squared_distance(a, Tensor::ones({3, 2})), Catch::Contains("squared_distance") &&
                                                                  Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
}
