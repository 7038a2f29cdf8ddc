// Every public op of autodiff/ops.hpp: its value against an independent computation (hand loops
// or std:: math), its derivatives against central finite differences (autodiff::check_derivatives:
// gradient, JVP, VJP, adjoint identity and HVP), forward against reverse Jacobians, HVP against
// the Hessian, on random shapes (rapidcheck, size-1 axes included) and on fixed broadcasting
// cases, and the errors raised on mismatched shapes.
//
// Tolerances (each repeated next to its check):
//   values, elementwise math          1e-14 relative (libm vs xtensor: a few ulp at most)
//   values, sums and matrix products  1e-13 relative (summation order, BLAS blocking)
//   values, pure data movement        exact (slice, reshape, concat, ... copy numbers)
//   derivatives vs finite differences 1e-6, the default CheckOptions::tolerance
//   AD vs AD (jacfwd/jacrev, hvp/H·v) 1e-12 relative (the same numbers, rounded differently)
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "autodiff_helpers.hpp"

namespace {

using namespace autodiff;
using Fn = std::function<Var(const Var&)>;

constexpr double kElementwiseTol = 1e-14;  // elementwise values vs std:: math, relative
constexpr double kReductionTol = 1e-13;    // sums / matrix products vs hand loops, relative
constexpr double kAdVsAdTol = 1e-12;       // two AD computations of the same derivative

// ---- tensors and comparisons ----------------------------------------------------------------

using autodiff_test::rel_error;

// Exact equality of shape and every element.
bool identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a.flat(i) != b.flat(i)) return false;
  return true;
}

std::string describe(const Tensor& actual, const Tensor& expected) {
  std::ostringstream os;
  os << "got shape " << to_string(actual.shape()) << ":\n"
     << actual << "\nexpected shape " << to_string(expected.shape()) << ":\n"
     << expected << "\n";
  return os.str();
}

// "" when actual matches expected within tol (relative), else a description.
std::string mismatch(const std::string& what, const Tensor& actual, const Tensor& expected, double tol) {
  const double e = rel_error(actual, expected);
  if (e <= tol) return "";
  return what + ": error " + std::to_string(e) + " > " + std::to_string(tol) + "\n" + describe(actual, expected);
}
std::string not_identical(const std::string& what, const Tensor& actual, const Tensor& expected) {
  return identical(actual, expected) ? "" : what + ": not identical\n" + describe(actual, expected);
}

#define REQUIRE_NONE(failures_expr)          \
  do {                                       \
    const std::string failures_ = (failures_expr); \
    INFO(failures_);                         \
    REQUIRE(failures_.empty());              \
  } while (false)

#define RC_REQUIRE_NONE(failures_expr)             \
  do {                                             \
    const std::string failures_ = (failures_expr); \
    if (!failures_.empty()) RC_FAIL(failures_);    \
  } while (false)

using autodiff_test::uniform;

// |x| in [lo, hi] with a random sign: away from the kinks of relu and abs at 0.
Tensor away_from_zero(const Shape& shape, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::bernoulli_distribution coin;
  Tensor t = Tensor::zeros(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.flat(i) = coin(rng) ? u(rng) : -u(rng);
  return t;
}

Tensor with_data(const Shape& shape, const std::vector<double>& data) {
  Tensor t = Tensor::zeros(shape);
  if (t.size() != data.size()) throw std::logic_error("with_data: wrong number of elements");
  std::copy(data.begin(), data.end(), t.data());
  return t;
}

// The elements of several tensors, one after the other, as one vector.
Tensor flat_join(const std::vector<Tensor>& xs) {
  std::size_t n = 0;
  for (const Tensor& x : xs) n += x.size();
  Tensor out = Tensor::zeros({n});
  std::size_t k = 0;
  for (const Tensor& x : xs)
    for (std::size_t i = 0; i < x.size(); ++i) out.flat(k++) = x.flat(i);
  return out;
}

// The part of a flat vector z at [offset, offset + size of shape), viewed with that shape.
Var piece(const Var& z, std::size_t offset, const Shape& shape) {
  return reshape(slice(z, offset, shape_size(shape)), shape);
}

Tensor value_of(const Fn& f, const Tensor& x) {
  TapeScope scope;
  return f(scope.tape().variable(x)).value();
}

// s with `value` inserted before position pos (built by push_back: svector::insert of a
// temporary trips GCC's -Warray-bounds inside xtensor).
Shape inserted(const Shape& s, std::size_t pos, std::size_t value) {
  Shape out;
  for (std::size_t k = 0; k <= s.size(); ++k) {
    if (k == pos) out.push_back(value);
    if (k < s.size()) out.push_back(s[k]);
  }
  return out;
}

Shape cat(Shape a, const Shape& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---- index arithmetic for the reference computations ----------------------------------------

std::vector<std::size_t> unravel(std::size_t flat, const Shape& shape) {
  std::vector<std::size_t> index(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return index;
}

std::size_t ravel(const std::vector<std::size_t>& index, const Shape& shape) {
  std::size_t flat = 0;
  for (std::size_t k = 0; k < shape.size(); ++k) flat = flat * shape[k] + index[k];
  return flat;
}

// The flat element of an input of shape `in` that NumPy broadcasting reads at output index `out`.
std::size_t broadcast_source(const std::vector<std::size_t>& out, const Shape& in) {
  const std::size_t offset = out.size() - in.size();
  std::size_t flat = 0;
  for (std::size_t k = 0; k < in.size(); ++k) flat = flat * in[k] + (in[k] == 1 ? 0 : out[offset + k]);
  return flat;
}

// NumPy's broadcasting rule, written out (assumes compatible shapes).
Shape broadcast_shape(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t k = 0; k < rank; ++k) {
    const std::size_t da = k + a.size() >= rank ? a[k + a.size() - rank] : 1;
    const std::size_t db = k + b.size() >= rank ? b[k + b.size() - rank] : 1;
    out[k] = std::max(da, db);
  }
  return out;
}

// ---- reference computations -----------------------------------------------------------------

template <class F>
Tensor ref_unary(const Tensor& x, F f) {
  Tensor out = Tensor::zeros(x.shape());
  for (std::size_t i = 0; i < x.size(); ++i) out.flat(i) = f(x.flat(i));
  return out;
}

template <class F>
Tensor ref_binary(const Tensor& a, const Tensor& b, F f) {
  const Shape shape = broadcast_shape(a.shape(), b.shape());
  Tensor out = Tensor::zeros(shape);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto index = unravel(i, shape);
    out.flat(i) = f(a.flat(broadcast_source(index, a.shape())), b.flat(broadcast_source(index, b.shape())));
  }
  return out;
}

// NumPy's matmul as loops: a vector is a row on the left and a column on the right.
Tensor ref_matmul(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  const bool a_vector = as.size() == 1, b_vector = bs.size() == 1;
  if (a_vector) as = {1, as[0]};
  if (b_vector) bs = {bs[0], 1};
  const std::size_t m = as[as.size() - 2], n = as[as.size() - 1], p = bs[bs.size() - 1];
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const Shape batch = broadcast_shape(a_batch, b_batch);
  std::vector<double> out(shape_size(batch) * m * p, 0.0);
  for (std::size_t k = 0; k < shape_size(batch); ++k) {
    const auto index = unravel(k, batch);
    const double* A = a.data() + broadcast_source(index, a_batch) * m * n;
    const double* B = b.data() + broadcast_source(index, b_batch) * n * p;
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < p; ++j) {
        double s = 0.0;
        for (std::size_t l = 0; l < n; ++l) s += A[i * n + l] * B[l * p + j];
        out[(k * m + i) * p + j] = s;
      }
  }
  Shape shape = batch;
  if (!a_vector) shape.push_back(m);
  if (!b_vector) shape.push_back(p);
  return with_data(shape, out);
}

Tensor ref_transpose(const Tensor& x) {
  Shape shape = x.shape();
  const std::size_t r = shape.size();
  std::swap(shape[r - 1], shape[r - 2]);
  Tensor out = Tensor::zeros(shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto index = unravel(i, x.shape());
    std::swap(index[r - 1], index[r - 2]);
    out.flat(ravel(index, shape)) = x.flat(i);
  }
  return out;
}

double ref_sum(const Tensor& x) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x.flat(i);
  return s;
}

Tensor ref_sum_axis(const Tensor& x, std::size_t axis, bool mean) {
  Shape shape = x.shape();
  shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
  Tensor out = Tensor::zeros(shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto index = unravel(i, x.shape());
    index.erase(index.begin() + static_cast<std::ptrdiff_t>(axis));
    out.flat(ravel(index, shape)) += x.flat(i);
  }
  if (mean)
    for (std::size_t i = 0; i < out.size(); ++i) out.flat(i) /= static_cast<double>(x.shape()[axis]);
  return out;
}

Tensor ref_sum_to(const Tensor& x, const Shape& target) {
  Tensor out = Tensor::zeros(target);
  const std::size_t offset = x.dim() - target.size();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto index = unravel(i, x.shape());
    std::size_t flat = 0;
    for (std::size_t k = 0; k < target.size(); ++k) flat = flat * target[k] + (target[k] == 1 ? 0 : index[offset + k]);
    out.flat(flat) += x.flat(i);
  }
  return out;
}

Tensor ref_broadcast_to(const Tensor& x, const Shape& target) {
  Tensor out = Tensor::zeros(target);
  for (std::size_t i = 0; i < out.size(); ++i) out.flat(i) = x.flat(broadcast_source(unravel(i, target), x.shape()));
  return out;
}

Tensor ref_slice(const Tensor& x, std::size_t start, std::size_t count, std::size_t axis) {
  Shape shape = x.shape();
  shape[axis] = count;
  Tensor out = Tensor::zeros(shape);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto index = unravel(i, shape);
    index[axis] += start;
    out.flat(i) = x.flat(ravel(index, x.shape()));
  }
  return out;
}

Tensor ref_embed(const Tensor& x, std::size_t start, std::size_t length, std::size_t axis) {
  Shape shape = x.shape();
  shape[axis] = length;
  Tensor out = Tensor::zeros(shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto index = unravel(i, x.shape());
    index[axis] += start;
    out.flat(ravel(index, shape)) = x.flat(i);
  }
  return out;
}

Tensor ref_concat(const std::vector<Tensor>& xs, std::size_t axis) {
  Shape shape = xs[0].shape();
  shape[axis] = 0;
  for (const Tensor& x : xs) shape[axis] += x.shape()[axis];
  Tensor out = Tensor::zeros(shape);
  std::size_t offset = 0;
  for (const Tensor& x : xs) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      auto index = unravel(i, x.shape());
      index[axis] += offset;
      out.flat(ravel(index, shape)) = x.flat(i);
    }
    offset += x.shape()[axis];
  }
  return out;
}

Tensor ref_stack(const std::vector<Tensor>& xs, std::size_t axis) {
  const Shape shape = inserted(xs[0].shape(), axis, xs.size());
  Tensor out = Tensor::zeros(shape);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto index = unravel(i, shape);
    const std::size_t which = index[axis];
    index.erase(index.begin() + static_cast<std::ptrdiff_t>(axis));
    out.flat(i) = xs[which].flat(ravel(index, xs[which].shape()));
  }
  return out;
}

// A non-negative axis from one that may be negative (NumPy's convention).
std::size_t axis_position(std::int64_t axis, std::size_t rank) {
  return static_cast<std::size_t>(axis < 0 ? axis + static_cast<std::int64_t>(rank) : axis);
}

// ---- derivative checks ----------------------------------------------------------------------

// check_derivatives (tolerance 1e-6, the default CheckOptions::tolerance) on f itself (JVP, VJP,
// adjoint identity; gradient and HVP too when f has one element) and on two scalar forms,
// sum(sin(f)) and sum(square(f)), whose gradients and non-trivial HVPs are checked even when f
// is linear. "" when everything passes.
std::string derivative_failures(const std::string& what, const Fn& f, const Tensor& x, std::uint64_t seed = 0) {
  CheckOptions options;  // tolerance 1e-6 (default), steps 1e-6 and 1e-5 (HVP), 3 directions
  options.seed = seed;
  std::string failures;
  const auto run = [&](const std::string& form, const Fn& g, bool scalar) {
    const CheckReport r = check_derivatives(g, x, options);
    if (!r.passed() || r.tolerance != 1e-6) failures += what + " [" + form + "]: " + r.summary() + "\n";
    if (scalar && !(r.gradient_error && r.hvp_error)) failures += what + " [" + form + "]: no gradient/HVP check\n";
  };
  run("f", f, false);
  run("sum(sin(f))", [&](const Var& v) { return sum(sin(f(v))); }, true);
  run("sum(square(f))", [&](const Var& v) { return sum(square(f(v))); }, true);
  return failures;
}

// Forward against reverse mode, batched against unbatched, and the Hessian against HVPs:
//   jacfwd == jacrev (shape y.shape + x.shape), J·v == jvp(f, x, v),
//   H = hessian(s, x) symmetric, H·v == hvp(s, x, v) and H == jacrev(grad_fn(s), x) for
//   s = sum(sin(f)).
// Tolerance kAdVsAdTol = 1e-12 relative: these are the same derivatives computed two ways.
std::string jacobian_failures(const std::string& what, const Fn& f, const Tensor& x, std::uint64_t seed = 0) {
  std::string failures;
  const Tensor y = value_of(f, x);
  const Shape expected = cat(y.shape(), x.shape());
  const Tensor jf = jacfwd(f, x), jr = jacrev(f, x);
  if (jf.shape() != expected || jr.shape() != expected)
    return what + ": Jacobian shapes " + to_string(jf.shape()) + " and " + to_string(jr.shape()) + ", expected " +
           to_string(expected) + "\n";
  failures += mismatch(what + " jacfwd vs jacrev", jf, jr, kAdVsAdTol);

  const std::size_t n = x.size(), m = y.size();
  const Tensor v = uniform(x.shape(), seed + 1, -1.0, 1.0);
  Tensor jv = Tensor::zeros(y.shape());
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) jv.flat(i) += jf.flat(i * n + j) * v.flat(j);
  failures += mismatch(what + " jacfwd·v vs jvp", jv, jvp(f, x, v).second, kAdVsAdTol);

  const Fn s = [&](const Var& z) { return sum(sin(f(z))); };
  const Tensor H = hessian(s, x);
  if (H.shape() != cat(x.shape(), x.shape())) return failures + what + ": Hessian shape " + to_string(H.shape()) + "\n";
  Tensor hv = Tensor::zeros(x.shape()), Ht = Tensor::zeros(H.shape());
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      hv.flat(i) += H.flat(i * n + j) * v.flat(j);
      Ht.flat(i * n + j) = H.flat(j * n + i);
    }
  failures += mismatch(what + " hessian·v vs hvp", hv, hvp(s, x, v), kAdVsAdTol);
  failures += mismatch(what + " hessian symmetric", H, Ht, kAdVsAdTol);
  // Reverse over reverse (batched cotangents through the recorded gradient) agrees as well.
  failures += mismatch(what + " jacrev(grad_fn) vs hessian", jacrev(grad_fn(s), x), H, kAdVsAdTol);
  return failures;
}

// ---- random shapes (inside rapidcheck properties) -------------------------------------------

Shape draw_shape(int min_rank, int max_rank, std::size_t max_dim = 4) {
  const int rank = *rc::gen::inRange(min_rank, max_rank + 1);
  Shape s;
  for (int k = 0; k < rank; ++k) s.push_back(*rc::gen::inRange<std::size_t>(1, max_dim + 1));
  return s;
}

// Two shapes that broadcast: from a common shape, each keeps a suffix and turns some axes into 1.
std::pair<Shape, Shape> draw_broadcast_pair() {
  const Shape full = draw_shape(0, 3);
  const auto derive = [&] {
    const std::size_t drop = *rc::gen::inRange<std::size_t>(0, full.size() + 1);
    Shape s(full.begin() + static_cast<std::ptrdiff_t>(drop), full.end());
    for (auto& d : s)
      if (*rc::gen::inRange(0, 3) == 0) d = 1;
    return s;
  };
  Shape a = derive();
  Shape b = derive();
  return {a, b};
}

std::uint64_t draw_seed() { return *rc::gen::arbitrary<std::uint32_t>(); }

// ---- elementwise unary ops ------------------------------------------------------------------

enum class Domain { Any, Positive, AwayFromZero, Divisor };

Tensor sample(Domain domain, const Shape& shape, std::uint64_t seed) {
  switch (domain) {
    case Domain::Positive: return uniform(shape, seed, 0.5, 2.0);  // log, sqrt, pow: x > 0
    case Domain::AwayFromZero: return away_from_zero(shape, seed, 0.2, 2.0);  // relu, abs: |x| >= 0.2
    // Divisors: |y| >= 0.5 keeps the higher derivatives of x / y moderate, so that the central
    // differences of the HVP check (error ~ h² f'''') stay well inside the tolerance.
    case Domain::Divisor: return away_from_zero(shape, seed, 0.5, 2.0);
    case Domain::Any: break;
  }
  return uniform(shape, seed, -2.0, 2.0);
}

struct Unary {
  std::string name;
  std::function<Tensor(const Tensor&)> tensor_op;
  Fn var_op;
  std::function<double(double)> reference;
  Domain domain;
};

#define UNARY(label, call, reference_expr, domain) \
  Unary { label, [](const Tensor& x) { return call; }, [](const Var& x) { return call; }, \
          [](double x) { return reference_expr; }, Domain::domain }

std::vector<Unary> unary_ops() {
  return {
      UNARY("neg", autodiff::neg(x), -x, Any),
      UNARY("square", autodiff::square(x), x * x, Any),
      UNARY("sqrt", autodiff::sqrt(x), std::sqrt(x), Positive),
      UNARY("exp", autodiff::exp(x), std::exp(x), Any),
      UNARY("log", autodiff::log(x), std::log(x), Positive),
      UNARY("sin", autodiff::sin(x), std::sin(x), Any),
      UNARY("cos", autodiff::cos(x), std::cos(x), Any),
      UNARY("tanh", autodiff::tanh(x), std::tanh(x), Any),
      UNARY("sigmoid", autodiff::sigmoid(x), 1.0 / (1.0 + std::exp(-x)), Any),
      UNARY("relu", autodiff::relu(x), x > 0.0 ? x : 0.0, AwayFromZero),
      UNARY("erf", autodiff::erf(x), std::erf(x), Any),
      UNARY("abs", autodiff::abs(x), std::fabs(x), AwayFromZero),
      UNARY("scale(x, 2.5)", autodiff::scale(x, 2.5), 2.5 * x, Any),
      UNARY("scale(x, -0.75)", autodiff::scale(x, -0.75), -0.75 * x, Any),
      UNARY("add_scalar(x, 1.25)", autodiff::add_scalar(x, 1.25), x + 1.25, Any),
      UNARY("pow(x, 0)", autodiff::pow(x, 0.0), 0.0 * x + 1.0, Any),
      UNARY("pow(x, 1)", autodiff::pow(x, 1.0), x, Any),
      UNARY("pow(x, 2)", autodiff::pow(x, 2.0), x * x, Any),
      UNARY("pow(x, 3)", autodiff::pow(x, 3.0), x * x * x, Any),
      UNARY("pow(x, 0.5)", autodiff::pow(x, 0.5), std::sqrt(x), Positive),
      UNARY("pow(x, -1)", autodiff::pow(x, -1.0), 1.0 / x, Positive),
      UNARY("pow(x, -2.5)", autodiff::pow(x, -2.5), std::pow(x, -2.5), Positive),
      UNARY("pow(x, 1.7)", autodiff::pow(x, 1.7), std::pow(x, 1.7), Positive),
      // The operators, which map to the ops above.
      UNARY("-x", -x, -x, Any),
      UNARY("3 * x - 1", 3.0 * x - 1.0, 3.0 * x - 1.0, Any),
      UNARY("2 / x", 2.0 / x, 2.0 / x, Positive),
      UNARY("x / 4 + 0.5", x / 4.0 + 0.5, x / 4.0 + 0.5, Any),
  };
}

// Value (against std:: math, 1e-14 relative; Var and Tensor forms identical) and derivatives.
std::string unary_failures(const Unary& op, const Tensor& x, std::uint64_t seed) {
  const std::string what = op.name + " on " + to_string(x.shape());
  const Tensor value = op.tensor_op(x);
  std::string failures = mismatch(what + " value", value, ref_unary(x, op.reference), kElementwiseTol);
  failures += not_identical(what + " Var value", value_of(op.var_op, x), value);  // exact: the same code
  failures += derivative_failures(what, op.var_op, x, seed);
  return failures;
}

TEST_CASE("ops: elementwise unary ops, values and derivatives on random shapes", "[ops][unary]") {
  for (const Unary& op : unary_ops()) {
    rc::prop(op.name, [&] {
      const Shape shape = draw_shape(0, 3);
      const std::uint64_t seed = draw_seed();
      RC_REQUIRE_NONE(unary_failures(op, sample(op.domain, shape, seed), seed));
    });
  }
}

TEST_CASE("ops: elementwise unary ops on fixed points, incl. size-1 axes and 0-d", "[ops][unary]") {
  for (const Unary& op : unary_ops()) {
    for (const Shape& shape : {Shape{}, Shape{1}, Shape{5}, Shape{1, 3}, Shape{2, 1, 3}}) {
      REQUIRE_NONE(unary_failures(op, sample(op.domain, shape, 7), 3));
    }
  }
  // Jacobians of elementwise ops are diagonal: jacfwd == jacrev and both are diag(f'(x)).
  const Tensor x = {0.3, -1.2, 0.7};
  REQUIRE_NONE(jacobian_failures("tanh", [](const Var& v) { return tanh(v); }, x));
  const Tensor J = jacrev([](const Var& v) { return tanh(v); }, x);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      const double t = std::tanh(x.flat(i));
      CHECK(J(i, j) == Approx(i == j ? 1.0 - t * t : 0.0).margin(1e-15));  // tolerance 1e-15 absolute
    }
}

TEST_CASE("ops: derivative conventions at the kinks of relu and abs", "[ops][unary]") {
  // relu'(0) = 0 and |x|'(0) = 0 (PyTorch's and JAX's choice), relu'(x) = 1 for x > 0.
  const Tensor x = {-1.0, 0.0, 2.0};
  const Tensor g_relu = grad([](const Var& v) { return sum(relu(v)); }, x);
  const Tensor g_abs = grad([](const Var& v) { return sum(abs(v)); }, x);
  CHECK(identical(g_relu, Tensor{0.0, 0.0, 1.0}));  // exact: derivatives are 0 or 1
  CHECK(identical(g_abs, Tensor{-1.0, 0.0, 1.0}));   // exact
  CHECK(identical(jvp([](const Var& v) { return relu(v); }, x, Tensor{1.0, 1.0, 1.0}).second, Tensor{0.0, 0.0, 1.0}));
}

TEST_CASE("ops: pow(x, p) has finite derivatives of every order at x = 0 for p = 0, 1, 2, 3", "[ops][unary]") {
  // Regression: the derivative p·x^(p-1) of pow(x, 0) was 0·0^(-1) = NaN at x = 0, so grad of
  // pow(x, 0) and the HVP of pow(x, 1) were NaN there. All values below are exact.
  const Tensor x = {0.0, 1.5, -2.0};
  const Tensor zeros = Tensor::zeros({3}), ones = Tensor::ones({3});
  CHECK(identical(pow(x, 0.0), ones));
  CHECK(identical(grad([](const Var& v) { return sum(pow(v, 0.0)); }, x), zeros));
  CHECK(identical(hessian([](const Var& v) { return sum(pow(v, 0.0)); }, x), Tensor::zeros({3, 3})));
  CHECK(identical(grad([](const Var& v) { return sum(pow(v, 1.0)); }, x), ones));
  CHECK(identical(hvp([](const Var& v) { return sum(pow(v, 1.0)); }, x, ones), zeros));
  CHECK(identical(hessian([](const Var& v) { return sum(pow(v, 2.0)); }, x), Tensor::full({3}, 2.0) * Tensor::identity(3)));
  CHECK(identical(hvp([](const Var& v) { return sum(pow(v, 3.0)); }, Tensor{0.0}, Tensor{1.0}), Tensor{0.0}));
  // Third derivatives at 0: (x²)''' = 0, (x³)''' = 6.
  const Fn cube = [](const Var& v) { return pow(v, 3.0); }, sq = [](const Var& v) { return pow(v, 2.0); };
  CHECK(grad(grad_fn(grad_fn(sq)), Tensor(0.0)).item() == 0.0);
  CHECK(grad(grad_fn(grad_fn(cube)), Tensor(0.0)).item() == 6.0);
}

TEST_CASE("ops: step and sign have values 0/1 and -1/0/1 and zero derivative", "[ops][unary]") {
  const Tensor x = {{-2.0, -0.0, 0.0}, {1e-300, 3.5, -1e-300}};
  const Tensor expected_step = ref_unary(x, [](double v) { return v > 0.0 ? 1.0 : 0.0; });
  const Tensor expected_sign = ref_unary(x, [](double v) { return v > 0.0 ? 1.0 : v < 0.0 ? -1.0 : 0.0; });
  CHECK(identical(step(x), expected_step));  // exact
  CHECK(identical(sign(x), expected_sign));  // exact

  for (const auto& [name, f] : {std::pair<std::string, Fn>{"step", [](const Var& v) { return step(v); }},
                                std::pair<std::string, Fn>{"sign", [](const Var& v) { return sign(v); }}}) {
    INFO(name);
    const Tensor y = value_of(f, x);
    CHECK(identical(y, name == "step" ? expected_step : expected_sign));
    // Zero derivative in every mode: exactly zero, not merely small.
    const Tensor zeros_j = Tensor::zeros(cat(x.shape(), x.shape()));
    CHECK(identical(jacfwd(f, x), zeros_j));
    CHECK(identical(jacrev(f, x), zeros_j));
    CHECK(identical(jvp(f, x, Tensor::ones(x.shape())).second, Tensor::zeros(x.shape())));
    CHECK(identical(vjp(f, x, Tensor::ones(x.shape())).second, Tensor::zeros(x.shape())));
    CHECK(identical(grad([&](const Var& v) { return sum(f(v)); }, x), Tensor::zeros(x.shape())));
    // x * step(x) is relu(x) and x * sign(x) is |x|, with step/sign treated as constants: the
    // gradient is step(x) / sign(x) itself.
    CHECK(identical(grad([&](const Var& v) { return sum(v * f(v)); }, x), y));  // exact
  }
  // Away from 0 (|x| >= 0.2) the finite-difference derivative of step and sign is zero too.
  const Tensor x0 = away_from_zero({2, 3}, 11, 0.2, 2.0);
  REQUIRE_NONE(derivative_failures("v * step(v)", [](const Var& v) { return v * step(v); }, x0));
  REQUIRE_NONE(derivative_failures("v * sign(v)", [](const Var& v) { return v * sign(v); }, x0));
}

// ---- elementwise binary ops, broadcasting ---------------------------------------------------

struct Binary {
  std::string name;
  std::function<Tensor(const Tensor&, const Tensor&)> tensor_op;
  std::function<Var(const Var&, const Var&)> var_op;
  std::function<double(double, double)> reference;
  Domain x_domain, y_domain;
};

#define BINARY(label, call, reference_expr, xd, yd)                                                      \
  Binary {                                                                                               \
    label, [](const Tensor& x, const Tensor& y) { return call; }, [](const Var& x, const Var& y) { return call; }, \
        [](double x, double y) { return reference_expr; }, Domain::xd, Domain::yd                        \
  }

std::vector<Binary> binary_ops() {
  return {
      BINARY("add", autodiff::add(x, y), x + y, Any, Any),
      BINARY("sub", autodiff::sub(x, y), x - y, Any, Any),
      BINARY("mul", autodiff::mul(x, y), x * y, Any, Any),
      BINARY("div", autodiff::div(x, y), x / y, Any, Divisor),
      BINARY("pow", autodiff::pow(x, y), std::pow(x, y), Positive, Any),
      BINARY("x * y + x / y - y", x * y + x / y - y, x * y + x / y - y, Any, Divisor),
  };
}

// Value (reference broadcasting by hand), derivatives with respect to x (y a constant), y (x a
// constant) and both (one flat vector sliced inside f), Jacobians and Hessians.
std::string binary_failures(const Binary& op, const Tensor& a, const Tensor& b, std::uint64_t seed) {
  const std::string what = op.name + "(" + to_string(a.shape()) + ", " + to_string(b.shape()) + ")";
  const Tensor value = op.tensor_op(a, b);
  std::string failures = mismatch(what + " value", value, ref_binary(a, b, op.reference), kElementwiseTol);
  const Fn both = [&](const Var& z) { return op.var_op(piece(z, 0, a.shape()), piece(z, a.size(), b.shape())); };
  const Tensor z = flat_join({a, b});
  failures += not_identical(what + " Var value", value_of(both, z), value);  // exact: the same code
  const Fn wrt_x = [&](const Var& x) { return op.var_op(x, Var(b)); };
  const Fn wrt_y = [&](const Var& y) { return op.var_op(Var(a), y); };
  failures += derivative_failures(what + " d/dx", wrt_x, a, seed);
  failures += derivative_failures(what + " d/dy", wrt_y, b, seed);
  failures += jacobian_failures(what + " d/dx", wrt_x, a, seed);  // one input with a tangent:
  failures += jacobian_failures(what + " d/dy", wrt_y, b, seed);  // it is broadcast to the output
  failures += derivative_failures(what + " d/d(x, y)", both, z, seed);
  failures += jacobian_failures(what + " d/d(x, y)", both, z, seed);
  return failures;
}

TEST_CASE("ops: elementwise binary ops on random broadcasting shapes", "[ops][binary]") {
  for (const Binary& op : binary_ops()) {
    rc::prop(op.name, [&] {
      const auto [sa, sb] = draw_broadcast_pair();
      const std::uint64_t seed = draw_seed();
      RC_REQUIRE_NONE(binary_failures(op, sample(op.x_domain, sa, seed), sample(op.y_domain, sb, seed + 1), seed));
    });
  }
}

TEST_CASE("ops: elementwise binary ops on fixed broadcasting cases", "[ops][binary]") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}}, {{2, 3}, {3}},       {{3}, {2, 3}},     {{}, {2, 3}},
      {{2, 3}, {}},     {{}, {}},         {{2, 1, 3}, {4, 1}}, {{1}, {2, 3}},     {{4, 1, 1}, {1, 3, 2}},
      {{1, 1}, {1}},    {{5}, {1}},
  };
  for (const Binary& op : binary_ops())
    for (const auto& [sa, sb] : cases) REQUIRE_NONE(binary_failures(op, sample(op.x_domain, sa, 5), sample(op.y_domain, sb, 6), 9));
}

TEST_CASE("ops: VJPs of broadcast ops reduce over the broadcast axes", "[ops][binary]") {
  // x (3, 1) * y (1, 4): ∂/∂x sum(x * y) = row sums of y, ∂/∂y = column sums of x, written out.
  const Tensor x = with_data({3, 1}, {1.0, -2.0, 0.5});
  const Tensor y = with_data({1, 4}, {0.25, 3.0, -1.0, 2.0});
  const Tensor gx = grad([&](const Var& v) { return sum(v * Var(y)); }, x);
  const Tensor gy = grad([&](const Var& v) { return sum(Var(x) * v); }, y);
  const double ysum = 0.25 + 3.0 - 1.0 + 2.0, xsum = 1.0 - 2.0 + 0.5;
  CHECK(identical(gx, Tensor::full({3, 1}, ysum)));  // exact: small sums of binary fractions
  CHECK(identical(gy, Tensor::full({1, 4}, xsum)));  // exact
  // A 0-d scalar times a (2, 3) matrix: the scalar's gradient is the sum of the matrix.
  const Tensor m = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  const Tensor gs = grad([&](const Var& s) { return sum(s * Var(m)); }, Tensor(2.0));
  CHECK(gs.dim() == 0);
  CHECK(gs.item() == 21.0);  // exact
  // (2, 3) + (3): the vector's gradient under a weighting w is w's column sums.
  const Tensor w = {{1.0, 0.5, -1.0}, {2.0, 0.5, 3.0}};
  const Tensor gb = vjp([&](const Var& b) { return Var(m) + b; }, Tensor{0.0, 0.0, 0.0}, w).second;
  CHECK(identical(gb, Tensor{3.0, 1.0, 2.0}));  // exact
}

// ---- matmul, transpose, dot -----------------------------------------------------------------

// Value against loops (1e-13 relative), derivatives w.r.t. a, b and both, Jacobians, Hessians.
std::string matmul_failures(const Tensor& a, const Tensor& b, std::uint64_t seed) {
  const std::string what = "matmul(" + to_string(a.shape()) + ", " + to_string(b.shape()) + ")";
  const Tensor value = matmul(a, b);
  std::string failures = mismatch(what + " value", value, ref_matmul(a, b), kReductionTol);
  const Fn both = [&](const Var& z) { return matmul(piece(z, 0, a.shape()), piece(z, a.size(), b.shape())); };
  const Tensor z = flat_join({a, b});
  failures += not_identical(what + " Var value", value_of(both, z), value);
  const Fn wrt_a = [&](const Var& x) { return matmul(x, Var(b)); };
  const Fn wrt_b = [&](const Var& y) { return matmul(Var(a), y); };
  failures += derivative_failures(what + " d/da", wrt_a, a, seed);
  failures += derivative_failures(what + " d/db", wrt_b, b, seed);
  failures += jacobian_failures(what + " d/da", wrt_a, a, seed);
  failures += jacobian_failures(what + " d/db", wrt_b, b, seed);
  failures += derivative_failures(what + " d/d(a, b)", both, z, seed);
  failures += jacobian_failures(what + " d/d(a, b)", both, z, seed);
  return failures;
}

// Operand shapes for matmul: matrix x matrix, matrix x vector, vector x matrix, vector x vector,
// and stacks of matrices with leading axes that broadcast.
std::pair<Shape, Shape> matmul_shapes(int kind, std::size_t s, std::size_t m, std::size_t n, std::size_t p) {
  switch (kind) {
    case 0: return {{m, n}, {n, p}};
    case 1: return {{m, n}, {n}};
    case 2: return {{n}, {n, p}};
    case 3: return {{n}, {n}};
    case 4: return {{s, m, n}, {n, p}};
    case 5: return {{m, n}, {s, n, p}};
    case 6: return {{s, m, n}, {s, n, p}};
    case 7: return {{2, 1, m, n}, {s, n, p}};
    case 8: return {{s, 1, m, n}, {1, 2, n, p}};
    case 9: return {{n}, {s, n, p}};
    case 10: return {{s, m, n}, {n}};
    default: return {{1, m, n}, {s, n, p}};
  }
}
constexpr int kMatmulKinds = 12;

TEST_CASE("ops: matmul on fixed shapes: matrices, vectors, broadcast stacks", "[ops][matmul]") {
  for (int kind = 0; kind < kMatmulKinds; ++kind)
    for (const auto& [s, m, n, p] : std::vector<std::tuple<std::size_t, std::size_t, std::size_t, std::size_t>>{
             {3, 2, 3, 4}, {1, 1, 1, 1}, {2, 1, 4, 1}}) {
      const auto [sa, sb] = matmul_shapes(kind, s, m, n, p);
      REQUIRE_NONE(matmul_failures(uniform(sa, 1, -1.5, 1.5), uniform(sb, 2, -1.5, 1.5), 4));
    }
  // Shapes of the results, as in NumPy.
  CHECK(matmul(Tensor::ones({2, 3}), Tensor::ones({3})).shape() == Shape{2});
  CHECK(matmul(Tensor::ones({3}), Tensor::ones({3, 4})).shape() == Shape{4});
  CHECK(matmul(Tensor::ones({3}), Tensor::ones({3})).shape() == Shape{});
  CHECK(matmul(Tensor::ones({2, 1, 2, 3}), Tensor::ones({5, 3, 4})).shape() == Shape{2, 5, 2, 4});
  CHECK(matmul(Tensor::ones({3}), Tensor::ones({5, 3, 4})).shape() == Shape{5, 4});
}

TEST_CASE("ops: matmul on random sizes", "[ops][matmul]") {
  rc::prop("matmul", [] {
    const int kind = *rc::gen::inRange(0, kMatmulKinds);
    const auto size = [] { return *rc::gen::inRange<std::size_t>(1, 4); };
    const std::size_t s = size(), m = size(), n = size(), p = size();
    const std::uint64_t seed = draw_seed();
    const auto [sa, sb] = matmul_shapes(kind, s, m, n, p);
    RC_REQUIRE_NONE(matmul_failures(uniform(sa, seed, -1.5, 1.5), uniform(sb, seed + 1, -1.5, 1.5), seed));
  });
}

TEST_CASE("ops: transpose swaps the last two axes", "[ops][linalg]") {
  rc::prop("transpose", [] {
    const Shape shape = draw_shape(2, 4);
    const std::uint64_t seed = draw_seed();
    const Tensor x = uniform(shape, seed, -2.0, 2.0);
    const Fn f = [](const Var& v) { return transpose(v); };
    RC_REQUIRE_NONE(not_identical("transpose value", transpose(x), ref_transpose(x)));  // exact: a copy
    RC_REQUIRE_NONE(not_identical("transpose Var value", value_of(f, x), ref_transpose(x)));
    RC_REQUIRE_NONE(not_identical("transpose twice", transpose(transpose(x)), x));
    RC_REQUIRE_NONE(derivative_failures("transpose " + to_string(shape), f, x, seed));
  });
  REQUIRE_NONE(jacobian_failures("transpose", [](const Var& v) { return transpose(v); }, uniform({2, 2, 3}, 3, -1, 1)));
}

TEST_CASE("ops: dot of two vectors", "[ops][linalg]") {
  rc::prop("dot", [] {
    const std::size_t n = *rc::gen::inRange<std::size_t>(1, 7);
    const std::uint64_t seed = draw_seed();
    const Tensor x = uniform({n}, seed, -2.0, 2.0), y = uniform({n}, seed + 1, -2.0, 2.0);
    double expected = 0.0;
    for (std::size_t i = 0; i < n; ++i) expected += x.flat(i) * y.flat(i);
    const Tensor d = dot(x, y);
    RC_ASSERT(d.dim() == 0u);
    RC_ASSERT(std::abs(d.item() - expected) <= kReductionTol * std::max(1.0, std::abs(expected)));  // 1e-13
    const Fn both = [n](const Var& z) { return dot(slice(z, 0, n), slice(z, n, n)); };
    RC_REQUIRE_NONE(derivative_failures("dot d/dx", [&](const Var& v) { return dot(v, Var(y)); }, x, seed));
    RC_REQUIRE_NONE(derivative_failures("dot d/dy", [&](const Var& v) { return dot(Var(x), v); }, y, seed));
    RC_REQUIRE_NONE(derivative_failures("dot d/d(x, y)", both, flat_join({x, y}), seed));
  });
  // ∂dot(x, y)/∂x = y exactly, and the Hessian of dot(z1, z2) w.r.t. z = (z1, z2) is [[0, I], [I, 0]].
  const Tensor x = {1.0, 2.0, -3.0}, y = {0.5, -4.0, 8.0};
  CHECK(identical(grad([&](const Var& v) { return dot(v, Var(y)); }, x), y));
  const Tensor H = hessian([](const Var& z) { return dot(slice(z, 0, 3), slice(z, 3, 3)); }, flat_join({x, y}));
  Tensor expected_h = Tensor::zeros({6, 6});
  for (std::size_t i = 0; i < 3; ++i) expected_h(i, i + 3) = expected_h(i + 3, i) = 1.0;
  CHECK(identical(H, expected_h));  // exact: the entries are sums of 0s and 1s
}

// ---- reductions -----------------------------------------------------------------------------

TEST_CASE("ops: sum and mean of all elements", "[ops][reduce]") {
  rc::prop("sum and mean", [] {
    const Shape shape = draw_shape(0, 3);
    const std::uint64_t seed = draw_seed();
    const Tensor x = uniform(shape, seed, -2.0, 2.0);
    const double expected = ref_sum(x);
    const double n = static_cast<double>(x.size());
    const Tensor s = sum(x), m = mean(x);
    RC_ASSERT(s.dim() == 0u);
    RC_ASSERT(m.dim() == 0u);
    RC_ASSERT(std::abs(s.item() - expected) <= kReductionTol * std::max(1.0, std::abs(expected)));  // 1e-13
    RC_ASSERT(std::abs(m.item() - expected / n) <= kReductionTol * std::max(1.0, std::abs(expected / n)));
    RC_REQUIRE_NONE(derivative_failures("sum " + to_string(shape), [](const Var& v) { return sum(v); }, x, seed));
    RC_REQUIRE_NONE(derivative_failures("mean " + to_string(shape), [](const Var& v) { return mean(v); }, x, seed));
    // The gradients are all ones and all 1/n, exactly.
    RC_ASSERT(identical(grad([](const Var& v) { return sum(v); }, x), Tensor::ones(shape)));
    RC_ASSERT(identical(grad([](const Var& v) { return mean(v); }, x), Tensor::full(shape, 1.0 / n)));
  });
}

TEST_CASE("ops: sum and mean along an axis, negative axes included", "[ops][reduce]") {
  rc::prop("sum and mean along an axis", [] {
    const Shape shape = draw_shape(1, 4);
    const auto rank = static_cast<std::int64_t>(shape.size());
    const std::int64_t axis = *rc::gen::inRange<std::int64_t>(-rank, rank);
    const std::size_t pos = axis_position(axis, shape.size());
    const std::uint64_t seed = draw_seed();
    const Tensor x = uniform(shape, seed, -2.0, 2.0);
    RC_REQUIRE_NONE(mismatch("sum value", sum(x, axis), ref_sum_axis(x, pos, false), kReductionTol));
    RC_REQUIRE_NONE(mismatch("mean value", mean(x, axis), ref_sum_axis(x, pos, true), kReductionTol));
    const Fn fs = [axis](const Var& v) { return sum(v, axis); };
    const Fn fm = [axis](const Var& v) { return mean(v, axis); };
    const std::string what = to_string(shape) + " axis " + std::to_string(axis);
    RC_REQUIRE_NONE(derivative_failures("sum " + what, fs, x, seed));
    RC_REQUIRE_NONE(derivative_failures("mean " + what, fm, x, seed));
    RC_REQUIRE_NONE(jacobian_failures("sum " + what, fs, x, seed));
  });
  // Negative and positive spellings of an axis agree.
  const Tensor x = uniform({2, 3, 4}, 1, -1.0, 1.0);
  CHECK(identical(sum(x, -1), sum(x, 2)));
  CHECK(identical(sum(x, -3), sum(x, 0)));
  CHECK(identical(mean(x, -2), mean(x, 1)));
  REQUIRE_THROWS_AS(sum(x, 3), Error);
  REQUIRE_THROWS_WITH(sum(x, -4), Catch::Contains("sum") && Catch::Contains("axis -4"));
  REQUIRE_THROWS_AS(mean(x, 3), Error);
}

// ---- shapes ---------------------------------------------------------------------------------

TEST_CASE("ops: reshape keeps the elements in order", "[ops][shape]") {
  rc::prop("reshape", [] {
    const Shape shape = draw_shape(0, 3);
    const std::uint64_t seed = draw_seed();
    // The target: the same sizes shuffled, with some size-1 axes inserted.
    Shape target = shape;
    std::shuffle(target.begin(), target.end(), std::mt19937_64(seed));
    const std::size_t ones = *rc::gen::inRange<std::size_t>(0, 3);
    for (std::size_t k = 0; k < ones; ++k)
      target = inserted(target, *rc::gen::inRange<std::size_t>(0, target.size() + 1), 1);
    const Tensor x = uniform(shape, seed, -2.0, 2.0);
    const Tensor y = reshape(x, target);
    RC_ASSERT(y.shape() == target);
    RC_ASSERT(std::equal(x.data(), x.data() + x.size(), y.data()));  // exact: the same numbers in order
    const Fn f = [target](const Var& v) { return reshape(v, target); };
    RC_REQUIRE_NONE(not_identical("reshape Var value", value_of(f, x), y));
    RC_REQUIRE_NONE(derivative_failures("reshape " + to_string(shape) + " -> " + to_string(target), f, x, seed));
  });
  // Var::reshape is the same op.
  const Tensor x = uniform({6}, 2, -1.0, 1.0);
  REQUIRE_NONE(not_identical("Var::reshape", value_of([](const Var& v) { return v.reshape({2, 3}); }, x), reshape(x, {2, 3})));
  REQUIRE_NONE(jacobian_failures("reshape", [](const Var& v) { return v.reshape({3, 1, 2}); }, x));
}

TEST_CASE("ops: sum_to and broadcast_to are adjoint and undo broadcasting", "[ops][shape]") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      // (small, large): broadcast_to maps small -> large, sum_to maps large -> small.
      {{3}, {2, 3}}, {{1, 3}, {2, 3}}, {{2, 1}, {2, 3}}, {{}, {2, 3}},       {{2, 1}, {4, 2, 3}},
      {{1}, {4}},    {{1, 1}, {3, 2}}, {{3}, {3}},       {{1, 2, 1}, {3, 2, 4}}, {{}, {}},
  };
  for (const auto& [small, large] : cases) {
    const std::string what = to_string(small) + " <-> " + to_string(large);
    const Tensor xs = uniform(small, 1, -2.0, 2.0), xl = uniform(large, 2, -2.0, 2.0);
    REQUIRE_NONE(not_identical("broadcast_to value " + what, broadcast_to(xs, large), ref_broadcast_to(xs, large)));
    REQUIRE_NONE(mismatch("sum_to value " + what, sum_to(xl, small), ref_sum_to(xl, small), kReductionTol));
    const Fn b = [large](const Var& v) { return broadcast_to(v, large); };
    const Fn s = [small](const Var& v) { return sum_to(v, small); };
    REQUIRE_NONE(derivative_failures("broadcast_to " + what, b, xs));
    REQUIRE_NONE(derivative_failures("sum_to " + what, s, xl));
    REQUIRE_NONE(jacobian_failures("broadcast_to " + what, b, xs));
    REQUIRE_NONE(jacobian_failures("sum_to " + what, s, xl));
    // Adjointness: <broadcast_to(a), c> = <a, sum_to(c)>, 1e-13 relative.
    const double lhs = ref_sum(ref_binary(broadcast_to(xs, large), xl, std::multiplies<>()));
    const double rhs = ref_sum(ref_binary(xs, sum_to(xl, small), std::multiplies<>()));
    CHECK(lhs == Approx(rhs).epsilon(kReductionTol).margin(kReductionTol));
  }
  REQUIRE_THROWS_WITH(broadcast_to(Tensor::ones({2, 3}), {3, 3}),
                      Catch::Contains("broadcast_to") && Catch::Contains("[2, 3]") && Catch::Contains("[3, 3]"));
  REQUIRE_THROWS_WITH(sum_to(Tensor::ones({2, 3}), {2}),
                      Catch::Contains("sum_to") && Catch::Contains("[2, 3]") && Catch::Contains("[2]"));
  REQUIRE_THROWS_AS(sum_to(Tensor::ones({3}), {2, 3}), Error);
}

TEST_CASE("ops: reshape, sum_to and broadcast_to leave `lead` leading axes alone", "[ops][shape]") {
  // With lead = 1 each op acts on every x[i] separately (the form the rules use for batches).
  const Tensor x = uniform({2, 3, 4}, 8, -1.0, 1.0);
  const Tensor r = reshape(x, {12}, 1), s = sum_to(x, {1, 4}, 1);
  const Tensor small = uniform({2, 4}, 9, -1.0, 1.0);
  const Tensor b = broadcast_to(small, {3, 4}, 1);
  REQUIRE(r.shape() == (Shape{2, 12}));
  REQUIRE(s.shape() == (Shape{2, 1, 4}));
  REQUIRE(b.shape() == (Shape{2, 3, 4}));
  for (std::size_t i = 0; i < 2; ++i) {
    const Tensor xi = ref_slice(x, i, 1, 0), si = ref_slice(small, i, 1, 0);
    const Tensor xi2 = with_data({3, 4}, std::vector<double>(xi.data(), xi.data() + 12));
    const Tensor si2 = with_data({4}, std::vector<double>(si.data(), si.data() + 4));
    CHECK(std::equal(r.data() + 12 * i, r.data() + 12 * (i + 1), xi.data()));  // exact
    REQUIRE_NONE(mismatch("sum_to slice", with_data({1, 4}, std::vector<double>(s.data() + 4 * i, s.data() + 4 * (i + 1))),
                          ref_sum_to(xi2, {1, 4}), kReductionTol));
    REQUIRE_NONE(not_identical("broadcast_to slice",
                               with_data({3, 4}, std::vector<double>(b.data() + 12 * i, b.data() + 12 * (i + 1))),
                               ref_broadcast_to(si2, {3, 4})));
  }
  REQUIRE_NONE(derivative_failures("reshape lead 1", [](const Var& v) { return reshape(v, {12}, 1); }, x));
  REQUIRE_NONE(derivative_failures("sum_to lead 1", [](const Var& v) { return sum_to(v, {1, 4}, 1); }, x));
  REQUIRE_NONE(derivative_failures("broadcast_to lead 1", [](const Var& v) { return broadcast_to(v, {3, 4}, 1); }, small));
  REQUIRE_NONE(jacobian_failures("sum_to lead 1", [](const Var& v) { return sum_to(v, {1, 4}, 1); }, x));
  REQUIRE_NONE(jacobian_failures("broadcast_to lead 1", [](const Var& v) { return broadcast_to(v, {3, 4}, 1); }, small));
  REQUIRE_THROWS_WITH(reshape(x, {5}, 1), Catch::Contains("reshape") && Catch::Contains("[2, 3, 4]") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_AS(reshape(x, {24}, 4), Error);  // more leading axes than x has
}

TEST_CASE("ops: slice cuts a flat parameter vector into layer matrices", "[ops][shape]") {
  rc::prop("a 2-layer perceptron on a flat w", [] {
    const auto size = [] { return *rc::gen::inRange<std::size_t>(1, 5); };
    const std::size_t n_in = size(), n_h = size(), n_out = size();
    const std::uint64_t seed = draw_seed();
    // w = [W1 (n_h x n_in), b1 (n_h), W2 (n_out x n_h), b2 (n_out)], row-major.
    const std::size_t o_b1 = n_h * n_in, o_w2 = o_b1 + n_h, o_b2 = o_w2 + n_out * n_h, n_w = o_b2 + n_out;
    const Tensor w = uniform({n_w}, seed, -1.0, 1.0);
    const Tensor x = uniform({n_in}, seed + 1, -1.0, 1.0);

    // The views are the parameters, element by element (exact).
    const Tensor W1 = reshape(slice(w, 0, o_b1), {n_h, n_in});
    const Tensor W2 = reshape(slice(w, o_w2, n_out * n_h), {n_out, n_h});
    for (std::size_t i = 0; i < n_h; ++i)
      for (std::size_t j = 0; j < n_in; ++j) RC_ASSERT(W1(i, j) == w.flat(i * n_in + j));
    for (std::size_t i = 0; i < n_out; ++i)
      for (std::size_t j = 0; j < n_h; ++j) RC_ASSERT(W2(i, j) == w.flat(o_w2 + i * n_h + j));
    RC_REQUIRE_NONE(not_identical("slice b2", slice(w, o_b2, n_out), ref_slice(w, o_b2, n_out, 0)));

    // y = W2 tanh(W1 x + b1) + b2 with the layers viewed through slice/reshape (free functions
    // for layer 1, the Var conveniences for layer 2).
    const Fn model = [=](const Var& v) {
      const Var h = tanh(matmul(reshape(slice(v, 0, o_b1), {n_h, n_in}), Var(x)) + slice(v, o_b1, n_h));
      return matmul(v.slice(o_w2, n_out * n_h).reshape({n_out, n_h}), h) + v.slice(o_b2, n_out);
    };
    Tensor expected = Tensor::zeros({n_out});
    for (std::size_t i = 0; i < n_out; ++i) {
      double yi = w.flat(o_b2 + i);
      for (std::size_t k = 0; k < n_h; ++k) {
        double a = w.flat(o_b1 + k);
        for (std::size_t j = 0; j < n_in; ++j) a += w.flat(k * n_in + j) * x.flat(j);
        yi += w.flat(o_w2 + i * n_h + k) * std::tanh(a);
      }
      expected.flat(i) = yi;
    }
    RC_REQUIRE_NONE(mismatch("model value", value_of(model, w), expected, kReductionTol));
    RC_REQUIRE_NONE(derivative_failures("model", model, w, seed));
    RC_REQUIRE_NONE(jacobian_failures("model", model, w, seed));
  });
}

TEST_CASE("ops: slice and embed along any axis", "[ops][shape]") {
  rc::prop("slice and embed", [] {
    const Shape shape = draw_shape(1, 3);
    const auto rank = static_cast<std::int64_t>(shape.size());
    const std::int64_t axis = *rc::gen::inRange<std::int64_t>(-rank, rank);
    const std::size_t pos = axis_position(axis, shape.size());
    const std::size_t length = shape[pos];
    const std::size_t start = *rc::gen::inRange<std::size_t>(0, length);
    const std::size_t count = *rc::gen::inRange<std::size_t>(1, length - start + 1);
    const std::size_t extra = *rc::gen::inRange<std::size_t>(0, 3);
    const std::size_t at = *rc::gen::inRange<std::size_t>(0, extra + 1);  // embed's start: x must fit
    const std::uint64_t seed = draw_seed();
    const Tensor x = uniform(shape, seed, -2.0, 2.0);
    const std::string what = to_string(shape) + " axis " + std::to_string(axis) + " [" + std::to_string(start) +
                             ", " + std::to_string(start + count) + ")";
    // slice: x[..., start:start+count, ...]; embed: x placed at `at` in zeros of length + extra.
    const Fn fs = [=](const Var& v) { return slice(v, start, count, axis); };
    const Fn fe = [=](const Var& v) { return embed(v, at, length + extra, axis); };
    RC_REQUIRE_NONE(not_identical("slice value " + what, slice(x, start, count, axis), ref_slice(x, start, count, pos)));
    RC_REQUIRE_NONE(not_identical("embed value " + what, embed(x, at, length + extra, axis),
                                  ref_embed(x, at, length + extra, pos)));
    RC_REQUIRE_NONE(derivative_failures("slice " + what, fs, x, seed));
    RC_REQUIRE_NONE(derivative_failures("embed " + what, fe, x, seed));
    RC_REQUIRE_NONE(jacobian_failures("slice " + what, fs, x, seed));
    RC_REQUIRE_NONE(jacobian_failures("embed " + what, fe, x, seed));
  });
}

TEST_CASE("ops: concat along any axis", "[ops][shape]") {
  rc::prop("concat", [] {
    const Shape base = draw_shape(1, 3, 3);
    const auto rank = static_cast<std::int64_t>(base.size());
    const std::int64_t axis = *rc::gen::inRange<std::int64_t>(-rank, rank);
    const std::size_t pos = axis_position(axis, base.size());
    const std::size_t k = *rc::gen::inRange<std::size_t>(1, 5);
    const std::uint64_t seed = draw_seed();
    std::vector<Shape> shapes;
    std::vector<Tensor> xs;
    for (std::size_t i = 0; i < k; ++i) {
      Shape s = base;
      s[pos] = *rc::gen::inRange<std::size_t>(1, 4);
      shapes.push_back(s);
      xs.push_back(uniform(s, seed + i, -2.0, 2.0));
    }
    const std::string what = std::to_string(k) + " pieces like " + to_string(base) + " axis " + std::to_string(axis);
    RC_REQUIRE_NONE(not_identical("concat value " + what, concat(xs, axis), ref_concat(xs, pos)));
    const Fn f = [&](const Var& z) {
      std::vector<Var> parts;
      std::size_t offset = 0;
      for (const Shape& s : shapes) {
        parts.push_back(piece(z, offset, s));
        offset += shape_size(s);
      }
      return concat(parts, axis);
    };
    RC_REQUIRE_NONE(derivative_failures("concat " + what, f, flat_join(xs), seed));
    RC_REQUIRE_NONE(jacobian_failures("concat " + what, f, flat_join(xs), seed));
    // With respect to one piece, the others constant: only some inputs carry tangents.
    const std::size_t which = *rc::gen::inRange<std::size_t>(0, k);
    const Fn one = [&](const Var& v) {
      std::vector<Var> parts;
      for (std::size_t i = 0; i < k; ++i) parts.push_back(i == which ? v : Var(xs[i]));
      return concat(parts, axis);
    };
    RC_REQUIRE_NONE(derivative_failures("concat piece " + std::to_string(which) + " of " + what, one, xs[which], seed));
    RC_REQUIRE_NONE(jacobian_failures("concat piece " + std::to_string(which) + " of " + what, one, xs[which], seed));
  });
}

TEST_CASE("ops: stack along a new axis", "[ops][shape]") {
  rc::prop("stack", [] {
    const Shape shape = draw_shape(0, 2, 3);
    const auto rank = static_cast<std::int64_t>(shape.size()) + 1;
    const std::int64_t axis = *rc::gen::inRange<std::int64_t>(-rank, rank);
    const std::size_t pos = axis_position(axis, shape.size() + 1);
    const std::size_t k = *rc::gen::inRange<std::size_t>(1, 5);
    const std::uint64_t seed = draw_seed();
    std::vector<Tensor> xs;
    for (std::size_t i = 0; i < k; ++i) xs.push_back(uniform(shape, seed + i, -2.0, 2.0));
    const std::string what = std::to_string(k) + " x " + to_string(shape) + " axis " + std::to_string(axis);
    RC_REQUIRE_NONE(not_identical("stack value " + what, stack(xs, axis), ref_stack(xs, pos)));
    const std::size_t n = shape_size(shape);
    const Fn f = [&](const Var& z) {
      std::vector<Var> parts;
      for (std::size_t i = 0; i < k; ++i) parts.push_back(piece(z, i * n, shape));
      return stack(parts, axis);
    };
    RC_REQUIRE_NONE(derivative_failures("stack " + what, f, flat_join(xs), seed));
    RC_REQUIRE_NONE(jacobian_failures("stack " + what, f, flat_join(xs), seed));
  });
}

TEST_CASE("ops: concat and stack of many inputs (more than a node keeps inline)", "[ops][shape]") {
  // 11 scalars stacked into a vector, and 10 vectors concatenated: record_n's heap path.
  const Tensor z = uniform({11}, 4, -1.0, 1.0);
  const Fn stacked = [](const Var& v) {
    std::vector<Var> parts;
    for (std::size_t i = 0; i < 11; ++i) parts.push_back(reshape(slice(v, i, 1), {}));
    return stack(parts) * v;  // each element times itself
  };
  REQUIRE_NONE(mismatch("stack of 11 value", value_of(stacked, z), ref_binary(z, z, std::multiplies<>()), 0.0));
  REQUIRE_NONE(derivative_failures("stack of 11", stacked, z));
  REQUIRE_NONE(jacobian_failures("stack of 11", stacked, z));
  const Tensor w = uniform({20}, 5, -1.0, 1.0);
  const Fn joined = [](const Var& v) {
    std::vector<Var> parts;
    for (std::size_t i = 0; i < 10; ++i) parts.push_back(sin(slice(v, 2 * (9 - i), 2)));  // reversed pairs
    return concat(parts);
  };
  Tensor expected = Tensor::zeros({20});
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t j = 0; j < 2; ++j) expected.flat(2 * i + j) = std::sin(w.flat(2 * (9 - i) + j));
  REQUIRE_NONE(mismatch("concat of 10 value", value_of(joined, w), expected, kElementwiseTol));
  REQUIRE_NONE(derivative_failures("concat of 10", joined, w));
  REQUIRE_NONE(jacobian_failures("concat of 10", joined, w));
}

// ---- shape errors ---------------------------------------------------------------------------

TEST_CASE("ops: mismatched shapes throw autodiff::Error naming the op and both shapes", "[ops][errors]") {
  const Tensor a23 = Tensor::ones({2, 3}), a4 = Tensor::ones({4}), a32 = Tensor::ones({3, 2});
  using Catch::Contains;

  REQUIRE_THROWS_AS(add(a23, a4), Error);
  REQUIRE_THROWS_WITH(add(a23, a4), Contains("add") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(sub(a23, a32), Contains("sub") && Contains("[2, 3]") && Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(mul(a23, a32), Contains("mul") && Contains("[2, 3]") && Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(div(a4, a23), Contains("div") && Contains("[4]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(pow(a4, a23), Contains("pow") && Contains("[4]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(a23 * a32, Contains("mul") && Contains("[2, 3]") && Contains("[3, 2]"));

  REQUIRE_THROWS_AS(matmul(a23, a23), Error);
  REQUIRE_THROWS_WITH(matmul(a23, a23), Contains("matmul") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(matmul(a23, Tensor::ones({4, 5})), Contains("matmul") && Contains("[2, 3]") && Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(matmul(a23, a4), Contains("matmul") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(matmul(a4, a23), Contains("matmul") && Contains("[4]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(matmul(Tensor::ones({2, 3, 4}), Tensor::ones({5, 4, 2})),
                      Contains("matmul") && Contains("[2, 3, 4]") && Contains("[5, 4, 2]"));
  REQUIRE_THROWS_WITH(matmul(Tensor(1.0), a23), Contains("matmul") && Contains("[]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(dot(a4, Tensor::ones({3})), Contains("dot") && Contains("[4]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(transpose(a4), Contains("transpose") && Contains("[4]"));

  REQUIRE_THROWS_AS(reshape(a23, {4}), Error);
  REQUIRE_THROWS_WITH(reshape(a23, {4}), Contains("reshape") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(reshape(a23, {3, 3}), Contains("reshape") && Contains("[2, 3]") && Contains("[3, 3]"));

  REQUIRE_THROWS_AS(concat(std::vector<Tensor>{a23, Tensor::ones({2, 4})}, 0), Error);
  REQUIRE_THROWS_WITH(concat(std::vector<Tensor>{a23, Tensor::ones({2, 4})}, 0),
                      Contains("concat") && Contains("[2, 3]") && Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(concat(std::vector<Tensor>{a23, a4}, 0), Contains("concat") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(stack(std::vector<Tensor>{a23, a32}), Contains("stack") && Contains("[2, 3]") && Contains("[3, 2]"));

  const Tensor w = Tensor::ones({5});
  REQUIRE_THROWS_AS(slice(w, 3, 4), Error);
  REQUIRE_THROWS_WITH(slice(w, 3, 4), Contains("slice") && Contains("[3, 7)") && Contains("[5]"));
  REQUIRE_THROWS_WITH(slice(a23, 1, 3, 0), Contains("slice") && Contains("[1, 4)") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(slice(a23, 0, 1, 2), Contains("slice") && Contains("axis 2"));
  REQUIRE_THROWS_WITH(embed(w, 2, 6), Contains("embed") && Contains("[2, 7)"));

  // The same errors from the recording (Var) overloads, on the current tape.
  TapeScope scope;
  const Var v23 = scope.tape().variable(a23), v4 = scope.tape().variable(a4);
  REQUIRE_THROWS_WITH(add(v23, v4), Contains("add") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(v23 * v4, Contains("mul") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(matmul(v23, v23), Contains("matmul") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(reshape(v23, {4}), Contains("reshape") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(concat(std::vector<Var>{v23, v4}), Contains("concat") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(v4.slice(2, 3), Contains("slice") && Contains("[2, 5)") && Contains("[4]"));
}

}  // namespace
