// autodiff::check_derivatives must catch broken derivative rules. Custom ops are defined here the
// way the library defines its own (autodiff/record.hpp): a struct with value, vjp and jvp (or an
// Elementwise `derivative`), recorded with record<Op>(attrs, vars...) and evaluated with
// eval<Op>(attrs, tensors...). Each broken op is a small, deliberate mistake; the checker must
// report failure (passed() false) with the error in the field that the mistake affects, while the
// correct versions of the same ops pass.
//
// Tolerances: the checker's default, 1e-6 (CheckOptions::tolerance). A "large" error is one above
// 1e-4, two orders of magnitude over the tolerance; a "small" one is below 1e-8 (the central
// differences are accurate to ~1e-10 on these smooth functions). AD-against-AD comparisons
// (adjoint identity when JVP and VJP are consistent) are below 1e-12.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "autodiff/record.hpp"

namespace {

using namespace autodiff;

constexpr double kLarge = 1e-4;   // an error this big is a detected mistake
constexpr double kSmall = 1e-8;   // finite differences agree with a correct rule to this
constexpr double kAdTol = 1e-12;  // two AD quantities that must agree up to rounding

// ---- sin with correct and broken derivatives ------------------------------------------------

enum class SinRule { Correct, ScaledBy1_01, Negated, ConstantDerivative };

template <SinRule kRule>
struct CustomSin : Elementwise<CustomSin<kRule>> {
  static constexpr const char* name = "custom_sin";
  static Tensor value(In in, const Attrs&) { return autodiff::sin(in[0]); }
  template <class T>
  static T derivative(const Rule<T>& r) {
    if constexpr (kRule == SinRule::Correct) {
      return cos(r.x());
    } else if constexpr (kRule == SinRule::ScaledBy1_01) {
      return scale(cos(r.x()), 1.01);  // 1% off
    } else if constexpr (kRule == SinRule::Negated) {
      return neg(cos(r.x()));  // the derivative of cos, not sin
    } else {
      // Right numbers, but recorded as a constant: first derivatives are right and the second
      // derivative (the -sin from differentiating cos) is lost.
      if constexpr (std::is_same_v<T, Tensor>) {
        return cos(r.x());
      } else {
        return r.x().tape().constant(cos(r.x().value()));
      }
    }
  }
};

template <SinRule kRule>
Var custom_sin(const Var& x) {
  return record<CustomSin<kRule>>({}, x);
}

// ---- multiplication with correct and broken rules -------------------------------------------

enum class MulRule { Correct, WrongVjpForInput1, WrongJvpForInput0 };

template <MulRule kRule>
struct CustomMul {
  static constexpr const char* name = "custom_mul";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) { return mul(in[0], in[1]); }
  template <class T>
  static T vjp(const Rule<T>& r, int i, const T& g) {
    if (i == 0) return g * r.y();
    if constexpr (kRule == MulRule::WrongVjpForInput1) return g * r.y();  // should be g * x
    return g * r.x();
  }
  template <class T>
  static T jvp(const Rule<T>& r, int i, const T& d) {
    if (i == 1) return r.x() * d;
    if constexpr (kRule == MulRule::WrongJvpForInput0) return d * r.x();  // should be d * y
    return d * r.y();
  }
};

template <MulRule kRule>
Var custom_mul(const Var& x, const Var& y) {
  return record<CustomMul<kRule>>({}, x, y);
}

// Test points: x in [0.3, 1.3] (3 x 2), y in [-1.2, -0.2]; x ≠ y so a swapped rule is visible.
const Tensor kX = {{0.3, 0.5, 0.7}, {0.9, 1.1, 1.3}};
const Tensor kY = {{-0.2, -0.4, -0.6}, {-0.8, -1.0, -1.2}};

// Both inputs from one flat vector of 12: the checker sees the derivatives w.r.t. x and y.
template <MulRule kRule>
Var mul_of_both(const Var& z) {
  return custom_mul<kRule>(reshape(slice(z, 0, 6), {2, 3}), reshape(slice(z, 6, 6), {2, 3}));
}
Tensor both_point() { return concat(std::vector<Tensor>{reshape(kX, {6}), reshape(kY, {6})}); }

std::string summary(const CheckReport& r) { return r.summary(); }

TEST_CASE("gradcheck: the custom ops compute the right values", "[gradcheck]") {
  // eval<Op> on tensors and record<Op> on variables both give the op's value (against std::sin
  // and a product written out; 1e-15 relative).
  const Tensor s = eval<CustomSin<SinRule::ScaledBy1_01>>({}, kX);
  const Tensor m = eval<CustomMul<MulRule::WrongVjpForInput1>>({}, kX, kY);
  REQUIRE(s.shape() == kX.shape());
  REQUIRE(m.shape() == kX.shape());
  for (std::size_t i = 0; i < kX.size(); ++i) {
    CHECK(s.flat(i) == Approx(std::sin(kX.flat(i))).epsilon(1e-15));
    CHECK(m.flat(i) == Approx(kX.flat(i) * kY.flat(i)).epsilon(1e-15));
  }
  TapeScope scope;
  const Var x = scope.tape().variable(kX);
  const Var y = custom_sin<SinRule::Negated>(x);
  CHECK(y.value().flat(4) == Approx(std::sin(1.1)).epsilon(1e-15));
  CHECK_THAT(scope.tape().dump(), Catch::Contains("custom_sin"));
}

TEST_CASE("gradcheck: correct custom ops pass", "[gradcheck]") {
  const auto sin_report = check_derivatives(custom_sin<SinRule::Correct>, kX);  // tolerance 1e-6
  INFO(summary(sin_report));
  CHECK(sin_report.passed());
  CHECK(sin_report.worst() < kSmall);
  CHECK_FALSE(sin_report.gradient_error.has_value());  // a vector output: no gradient check

  const auto scalar_report =
      check_derivatives([](const Var& x) { return sum(custom_sin<SinRule::Correct>(x)); }, kX);
  INFO(summary(scalar_report));
  CHECK(scalar_report.passed());
  REQUIRE(scalar_report.gradient_error.has_value());
  REQUIRE(scalar_report.hvp_error.has_value());
  CHECK(*scalar_report.hvp_error < kSmall);

  const auto mul_report = check_derivatives(mul_of_both<MulRule::Correct>, both_point());
  INFO(summary(mul_report));
  CHECK(mul_report.passed());
  CHECK(mul_report.worst() < kSmall);
  const auto mul_scalar = check_derivatives(
      [](const Var& z) { return sum(square(mul_of_both<MulRule::Correct>(z))); }, both_point());
  INFO(summary(mul_scalar));
  CHECK(mul_scalar.passed());
}

TEST_CASE("gradcheck: a derivative off by 1% is caught in JVP, VJP and gradient", "[gradcheck]") {
  const auto vector_report = check_derivatives(custom_sin<SinRule::ScaledBy1_01>, kX);
  INFO(summary(vector_report));
  CHECK_FALSE(vector_report.passed());
  CHECK(vector_report.jvp_error > kLarge);
  CHECK(vector_report.vjp_error > kLarge);
  CHECK(vector_report.adjoint_error < kAdTol);  // JVP and VJP are wrong in the same way
  CHECK(vector_report.worst() == std::max(vector_report.jvp_error, vector_report.vjp_error));

  const auto scalar_report =
      check_derivatives([](const Var& x) { return sum(custom_sin<SinRule::ScaledBy1_01>(x)); }, kX);
  INFO(summary(scalar_report));
  CHECK_FALSE(scalar_report.passed());
  REQUIRE(scalar_report.gradient_error.has_value());
  CHECK(*scalar_report.gradient_error > kLarge);
  // The HVP is compared with differences of the AD gradient, which is wrong by the same factor
  // 1.01: the two agree, so this mistake shows in the first-derivative fields only.
  CHECK(*scalar_report.hvp_error < kSmall);
  CHECK(scalar_report.worst() == std::max({scalar_report.jvp_error, scalar_report.vjp_error,
                                           *scalar_report.gradient_error}));

  // A tolerance of 0.1 accepts a 1% error: passed() follows options.tolerance.
  CheckOptions loose;
  loose.tolerance = 0.1;
  const auto loose_report = check_derivatives(custom_sin<SinRule::ScaledBy1_01>, kX, loose);
  CHECK(loose_report.tolerance == 0.1);
  CHECK(loose_report.passed());
}

TEST_CASE("gradcheck: a derivative of the wrong sign is caught, at 0-d and vector points", "[gradcheck]") {
  for (const Tensor& x : {Tensor(0.7), Tensor{0.2, -1.0, 2.0}, kX}) {
    INFO("x shape " << to_string(x.shape()));
    const auto report = check_derivatives(custom_sin<SinRule::Negated>, x);
    INFO(summary(report));
    CHECK_FALSE(report.passed());
    CHECK(report.jvp_error > kLarge);
    CHECK(report.vjp_error > kLarge);
    if (x.size() == 1) CHECK(*report.gradient_error > kLarge);  // a one-element f: gradient checked too
    // The same op composed inside a larger function is still caught.
    const auto composed = check_derivatives(
        [](const Var& v) { return sum(tanh(custom_sin<SinRule::Negated>(scale(v, 0.5)) * v)); }, x);
    INFO(summary(composed));
    CHECK_FALSE(composed.passed());
    CHECK(*composed.gradient_error > kLarge);
  }
}

TEST_CASE("gradcheck: a derivative recorded as a constant is caught by the HVP alone", "[gradcheck]") {
  const auto report =
      check_derivatives([](const Var& x) { return sum(custom_sin<SinRule::ConstantDerivative>(x)); }, kX);
  INFO(summary(report));
  CHECK_FALSE(report.passed());
  CHECK(report.jvp_error < kSmall);  // first derivatives are right
  CHECK(report.vjp_error < kSmall);
  CHECK(*report.gradient_error < kSmall);
  CHECK(*report.hvp_error > kLarge);  // ∇²f v = -sin(x) ⊙ v is missing
  CHECK(report.worst() == *report.hvp_error);
}

TEST_CASE("gradcheck: a wrong VJP with a right JVP is caught by VJP and adjoint checks", "[gradcheck]") {
  const auto report = check_derivatives(mul_of_both<MulRule::WrongVjpForInput1>, both_point());
  INFO(summary(report));
  CHECK_FALSE(report.passed());
  CHECK(report.jvp_error < kSmall);  // forward mode is right
  CHECK(report.vjp_error > kLarge);
  CHECK(report.adjoint_error > kLarge);  // <u, J v> ≠ <Jᵀu, v>

  // Scalar form: the gradient comes from the broken VJP.
  const auto scalar = check_derivatives(
      [](const Var& z) { return sum(sin(mul_of_both<MulRule::WrongVjpForInput1>(z))); }, both_point());
  INFO(summary(scalar));
  CHECK_FALSE(scalar.passed());
  CHECK(scalar.jvp_error < kSmall);
  CHECK(*scalar.gradient_error > kLarge);

  // The checker sees only what is differentiated: w.r.t. input 0 (y a constant) the op is right,
  // w.r.t. input 1 (x a constant) it is wrong.
  const auto wrt_x = check_derivatives(
      [](const Var& x) { return custom_mul<MulRule::WrongVjpForInput1>(x, Var(kY)); }, kX);
  const auto wrt_y = check_derivatives(
      [](const Var& y) { return custom_mul<MulRule::WrongVjpForInput1>(Var(kX), y); }, kY);
  INFO(summary(wrt_x) << "\n" << summary(wrt_y));
  CHECK(wrt_x.passed());
  CHECK_FALSE(wrt_y.passed());
  CHECK(wrt_y.vjp_error > kLarge);
}

TEST_CASE("gradcheck: a wrong JVP with a right VJP is caught by JVP and adjoint checks", "[gradcheck]") {
  const auto report = check_derivatives(mul_of_both<MulRule::WrongJvpForInput0>, both_point());
  INFO(summary(report));
  CHECK_FALSE(report.passed());
  CHECK(report.jvp_error > kLarge);
  CHECK(report.vjp_error < kSmall);  // reverse mode is right
  CHECK(report.adjoint_error > kLarge);

  // Scalar form: the gradient (reverse) is right; the HVP (forward over reverse) is not.
  const auto scalar = check_derivatives(
      [](const Var& z) { return sum(sin(mul_of_both<MulRule::WrongJvpForInput0>(z))); }, both_point());
  INFO(summary(scalar));
  CHECK_FALSE(scalar.passed());
  CHECK(*scalar.gradient_error < kSmall);
  CHECK(scalar.jvp_error > kLarge);
  CHECK(*scalar.hvp_error > kLarge);

  const auto wrt_y = check_derivatives(
      [](const Var& y) { return custom_mul<MulRule::WrongJvpForInput0>(Var(kX), y); }, kY);
  const auto wrt_x = check_derivatives(
      [](const Var& x) { return custom_mul<MulRule::WrongJvpForInput0>(x, Var(kY)); }, kX);
  INFO(summary(wrt_x) << "\n" << summary(wrt_y));
  CHECK(wrt_y.passed());
  CHECK_FALSE(wrt_x.passed());
  CHECK(wrt_x.jvp_error > kLarge);
}

TEST_CASE("gradcheck: the same seed gives the same report", "[gradcheck]") {
  const auto f = [](const Var& z) { return sum(sin(mul_of_both<MulRule::WrongVjpForInput1>(z))); };
  CheckOptions options;
  options.seed = 1234;
  const auto a = check_derivatives(f, both_point(), options);
  const auto b = check_derivatives(f, both_point(), options);
  // Exactly equal: the same directions, the same arithmetic.
  CHECK(a.jvp_error == b.jvp_error);
  CHECK(a.vjp_error == b.vjp_error);
  CHECK(a.adjoint_error == b.adjoint_error);
  CHECK(a.gradient_error == b.gradient_error);
  CHECK(a.hvp_error == b.hvp_error);
  CHECK(a.summary() == b.summary());

  // Another seed draws other directions (for this broken op the error depends on them).
  options.seed = 99;
  const auto c = check_derivatives(f, both_point(), options);
  CHECK(c.vjp_error != a.vjp_error);
  CHECK_FALSE(c.passed());
  // The default seed is 0 and is reproducible as well.
  CHECK(check_derivatives(f, both_point()).summary() == check_derivatives(f, both_point()).summary());
}

TEST_CASE("gradcheck: a non-finite point is an error", "[gradcheck]") {
  const auto f = [](const Var& x) { return sum(sin(x)); };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (double bad : {nan, inf, -inf}) {
    INFO("bad = " << bad);
    const Tensor x = {0.5, bad, -0.25};
    REQUIRE_THROWS_AS(check_derivatives(f, x), Error);
    REQUIRE_THROWS_WITH(check_derivatives(f, x), Catch::Contains("non-finite"));
    REQUIRE_THROWS_AS(check_derivatives(f, Tensor(bad)), Error);
  }
  CHECK_NOTHROW(check_derivatives(f, Tensor{0.5, 1.0, -0.25}));
}

TEST_CASE("gradcheck: a function that is non-finite near x fails instead of passing", "[gradcheck]") {
  // log at 0: the values around x are -inf/NaN, so no comparison can succeed.
  const auto report = check_derivatives([](const Var& x) { return sum(log(x)); }, Tensor{0.0, 1.0});
  INFO(summary(report));
  CHECK_FALSE(report.passed());
  CHECK(std::isinf(report.worst()));
}

}  // namespace
