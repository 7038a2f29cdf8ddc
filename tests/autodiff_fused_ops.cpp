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
