// The engine: the tape (recording, fan-out, very long tapes, dump, lifetimes of Vars), the
// reverse sweep's error handling, forward-mode batches, constants, threads and tape reuse.
//
// Tolerances are stated where used; "exact" means bit-for-bit equality, asserted only where every
// intermediate is exactly representable (dyadic inputs with few bits) or the very same floating
// point operations run in the same order.
#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "autodiff/autodiff.hpp"

using namespace autodiff;
using Catch::Matchers::Contains;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.size(), b.data());
}

// A small two-layer network as a function of one flat parameter vector w (size 3*4 + 4 + 4 + 1):
// loss(w) = mean((tanh(X W1 + b1) W2 + b2 - t)²) on fixed data.
constexpr std::size_t kMlpParams = 3 * 4 + 4 + 4 * 1 + 1;

Var mlp_loss(const Var& w) {
  const Tensor X = {{0.1, -0.4, 0.9}, {1.2, 0.3, -0.5}, {-0.7, 0.8, 0.2}, {0.0, -1.1, 0.6}, {0.5, 0.5, -0.9}};
  const Tensor t = reshape(Tensor{0.3, -0.2, 0.8, 0.1, -0.6}, {5, 1});
  const Var W1 = w.slice(0, 12).reshape({3, 4});
  const Var b1 = w.slice(12, 4);
  const Var W2 = w.slice(16, 4).reshape({4, 1});
  const Var b2 = w.slice(20, 1);
  const Var h = tanh(matmul(Var(X), W1) + b1);
  const Var out = matmul(h, W2) + b2;
  return mean(square(out - Var(t)));
}

Tensor mlp_point() {
  Tensor w = Tensor::zeros({kMlpParams});
  for (std::size_t i = 0; i < w.size(); ++i) w.flat(i) = 0.5 * std::sin(1.7 * static_cast<double>(i) + 0.3);
  return w;
}

}  // namespace

// ---- fan-out --------------------------------------------------------------------------------

TEST_CASE("tape: fan-out of one Var accumulates exactly", "[engine][tape]") {
  // y = x*x*x*x from the same Var: dy/dx = 4x³. Every partial product of these dyadic x is exact
  // in double, so the accumulated gradient must equal 4x³ bit for bit.
  for (const double x0 : {1.5, -0.75, 3.0, 0.5, -2.25}) {
    TapeScope scope;
    const Var x = scope.tape().variable(Tensor(x0));
    const Var y = x * x * x * x;
    CHECK(y.value().item() == x0 * x0 * x0 * x0);
    CHECK(gradient(y, x).item() == 4.0 * x0 * x0 * x0);
  }
  // The same in forward mode and for the second derivative 12x² (also exact for these x).
  for (const double x0 : {1.5, -0.75, 3.0}) {
    const auto f = [](const Var& x) { return x * x * x * x; };
    CHECK(jvp(f, Tensor(x0), Tensor(1.0)).second.item() == 4.0 * x0 * x0 * x0);
    CHECK(hessian(f, Tensor{x0})(0, 0) == 12.0 * x0 * x0);
    CHECK(jacrev(grad_fn(f), Tensor{x0})(0, 0) == 12.0 * x0 * x0);
  }
}

TEST_CASE("tape: an intermediate used many times", "[engine][tape]") {
  // h = sin(x) used 60 times: y = Σ_k c_k h + h² h: dy/dx = (Σ c_k + 3h²) cos x.
  // Tolerance 1e-14 relative: only the order of a 60-term sum differs from the closed form.
  TapeScope scope;
  const Tensor x0 = {0.4, -1.3, 2.2};
  const Var x = scope.tape().variable(x0);
  const Var h = sin(x);
  Var y = h * h * h;
  double c_sum = 0.0;
  for (int k = 1; k <= 60; ++k) {
    const double c = 1.0 / k;
    y = y + scale(h, c);
    c_sum += c;
  }
  const Var total = sum(y);
  const Tensor g = gradient(total, x);
  Tensor expected = Tensor::zeros({3});
  for (std::size_t i = 0; i < 3; ++i) {
    const double hi = std::sin(x0.flat(i));
    expected.flat(i) = (c_sum + 3.0 * hi * hi) * std::cos(x0.flat(i));
  }
  CHECK(max_relative_difference(g, expected) <= 1e-14);
}

// ---- a very long tape -------------------------------------------------------------------------

TEST_CASE("tape: a very long tape differentiates without recursion", "[engine][tape]") {
  // x_{k+1} = x_k + 1e-6 sin(x_k), 40000 steps of 3 nodes each: over 100k nodes. The derivative
  // obeys d_{k+1} = d_k (1 + 1e-6 cos x_k). Reverse mode, forward mode and the recurrence in plain
  // doubles multiply the same 40000 factors in different orders: they agree to 1e-10 relative
  // (rounding ~ 40000 * 1e-16 in the worst case).
  constexpr int kSteps = 40000;
  constexpr double kH = 1e-6;
  const double x0 = 0.7;
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor(x0), Tensor(1.0));  // carries a tangent: forward mode too
  Var v = x;
  for (int k = 0; k < kSteps; ++k) v = v + kH * sin(v);
  REQUIRE(tape.size() >= 100000);

  double xv = x0, d = 1.0;
  for (int k = 0; k < kSteps; ++k) {
    d *= 1.0 + kH * std::cos(xv);
    xv = xv + kH * std::sin(xv);
  }
  CHECK(std::abs(v.value().item() - xv) <= 1e-12 * std::abs(xv));  // same ops; 1e-12 relative
  const double reverse = gradient(v, x).item();
  const double forward = v.tangent().item();
  CHECK(std::abs(reverse - d) <= 1e-10 * std::abs(d));
  CHECK(std::abs(forward - d) <= 1e-10 * std::abs(d));
  CHECK(std::abs(forward - reverse) <= 1e-10 * std::abs(d));
  CHECK(d > 1.0);  // the chain really moved
}

TEST_CASE("tape: second derivatives through a long tape", "[engine][tape]") {
  // The same recurrence, 8000 steps (24k nodes; the backward graph records several times that):
  // e_{k+1} = e_k (1 + h cos x_k) - h sin(x_k) d_k². Tolerance 1e-9 relative (more terms).
  constexpr int kSteps = 8000;
  constexpr double kH = 1e-3;
  const double x0 = -0.4;
  const auto f = [&](const Var& x) {
    Var v = x;
    for (int k = 0; k < kSteps; ++k) v = v + kH * sin(v);
    return v;
  };
  double xv = x0, d = 1.0, e = 0.0;
  for (int k = 0; k < kSteps; ++k) {
    e = e * (1.0 + kH * std::cos(xv)) - kH * std::sin(xv) * d * d;
    d *= 1.0 + kH * std::cos(xv);
    xv = xv + kH * std::sin(xv);
  }
  const double fwd_rev = hvp(f, Tensor(x0), Tensor(1.0)).item();     // forward over reverse
  const double rev_rev = jacrev(grad_fn(f), Tensor{x0})(0, 0);       // reverse over reverse
  CHECK(std::abs(fwd_rev - e) <= 1e-9 * std::abs(e));
  CHECK(std::abs(rev_rev - e) <= 1e-9 * std::abs(e));
  CHECK(std::abs(e) > 1e-3);  // a second derivative well away from zero
}

// ---- dump -------------------------------------------------------------------------------------

TEST_CASE("tape: dump lists op names with input indices and shapes", "[engine][tape]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{1.0, 2.0});
  const Var c = tape.constant(Tensor{3.0, 4.0});
  const Var y = mul(x, c);
  const Var z = sin(y);
  const Var s = step(x);
  const Var row = reshape(z, {1, 2});
  const Var column = reshape(s, {2, 1});
  const Var m = matmul(row, column);
  (void)m;
  const std::string dump = tape.dump();
  INFO(dump);
  CHECK_THAT(dump, Contains("%0 = variable  [2]  grad\n"));
  CHECK_THAT(dump, Contains("%1 = constant  [2]\n"));
  CHECK_THAT(dump, Contains("%2 = mul(%0, %1)  [2]  grad\n"));
  CHECK_THAT(dump, Contains("%3 = sin(%2)  [2]  grad\n"));
  CHECK_THAT(dump, Contains("%4 = step(%0)  [2]\n"));
  CHECK_THAT(dump, Contains("%5 = reshape(%3)  [1, 2]  grad\n"));
  CHECK_THAT(dump, Contains("%6 = reshape(%4)  [2, 1]\n"));
  CHECK_THAT(dump, Contains("%7 = matmul(%5, %6)  [1, 1]  grad\n"));
  CHECK(std::count(dump.begin(), dump.end(), '\n') == static_cast<long>(tape.size()));

  // Tangents are listed too.
  TapeScope forward;
  const Var t = forward.tape().variable(Tensor{1.0}, Tensor{1.0});
  const Var u = exp(t);
  (void)u;
  CHECK_THAT(forward.tape().dump(), Contains("%1 = exp(%0)  [1]  grad  tangent\n"));
}

TEST_CASE("tape: a reshape to the shape a value already has records nothing", "[engine][tape]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{{1.0, 2.0}, {3.0, 4.0}});
  const std::size_t before = tape.size();
  const Var same = reshape(x, {2, 2});
  CHECK(same.index() == x.index());  // the same node: no copy, no node
  CHECK(tape.size() == before);
  const Var flat = reshape(x, {4});
  CHECK(tape.size() == before + 1);
  CHECK(reshape(flat, {4}, 0).index() == flat.index());
  CHECK(reshape(x, {2}, 1).index() == x.index());  // with leading axes kept
}

// ---- lifetimes: stale Vars throw, never UB ------------------------------------------------------

TEST_CASE("tape: a Var from an ended TapeScope throws", "[engine][tape]") {
  Var old;
  std::uint32_t old_index = 0;
  {
    TapeScope scope;
    old = scope.tape().variable(Tensor{1.0, 2.0});
    old_index = old.index();
    REQUIRE(old.valid());
  }
  CHECK_FALSE(old.valid());
  CHECK_THROWS_AS(old.value(), Error);
  CHECK_THROWS_WITH(old.value(), Contains("cleared"));
  CHECK_THROWS_WITH(sin(old), Contains("cleared"));
  CHECK_THROWS_WITH(old.shape(), Contains("cleared"));
  // The next scope reuses the same pooled tape: the index exists again, with a new stamp.
  {
    TapeScope scope;
    const Var fresh = scope.tape().variable(Tensor{5.0, 6.0});
    REQUIRE(fresh.index() == old_index);
    REQUIRE(&fresh.tape() == &scope.tape());
    CHECK_FALSE(old.valid());
    CHECK_THROWS_WITH(old.value(), Contains("cleared"));
    CHECK_THROWS_WITH(add(fresh, old), Contains("cleared"));
    CHECK_THROWS_WITH(add(old, fresh), Contains("cleared"));
    const Var y = sum(fresh);
    CHECK_THROWS_WITH(gradient(y, old), Contains("cleared"));
    CHECK_THROWS_AS(backward(y, {fresh, old}, Tensor(1.0)), Error);
    CHECK(gradient(y, fresh)(0) == 1.0);
  }
  // Vars escaping a transform's function are stale too.
  Var leaked;
  grad([&](const Var& x) {
    leaked = sin(x);
    return sum(leaked);
  }, Tensor{0.5});
  CHECK_FALSE(leaked.valid());
  CHECK_THROWS_WITH(leaked.value(), Contains("cleared"));
}

TEST_CASE("tape: rewind and clear invalidate exactly the dropped Vars", "[engine][tape]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var a = tape.variable(Tensor{0.3, 0.6});
  const std::size_t mark = tape.size();
  const Var b = sin(a);
  const Var b2 = sum(b);
  tape.rewind(mark);
  CHECK(tape.size() == mark);
  CHECK(a.valid());
  CHECK_FALSE(b.valid());
  CHECK_FALSE(b2.valid());
  CHECK_THROWS_WITH(b.value(), Contains("cleared"));
  CHECK_THROWS_WITH(gradient(b2, a), Contains("cleared"));
  const Var c = sum(cos(a));  // takes b's old slot
  CHECK(c.valid());
  CHECK_FALSE(b.valid());
  CHECK_THROWS_WITH(b.value(), Contains("cleared"));
  CHECK_THROWS_WITH(mul(b, a), Contains("cleared"));
  const Tensor g = gradient(c, a);
  CHECK(g(0) == -std::sin(0.3));  // one multiply by 1: exact
  CHECK(g(1) == -std::sin(0.6));
  tape.rewind(tape.size() + 10);  // past the end: nothing happens
  CHECK(c.valid());
  tape.clear();
  CHECK(tape.size() == 0);
  CHECK_FALSE(a.valid());
  CHECK_FALSE(c.valid());
  CHECK_THROWS_WITH(a.value(), Contains("cleared"));
  CHECK_THROWS_WITH(a.tangent(), Contains("cleared"));
}

TEST_CASE("tape: a default-constructed Var throws when used", "[engine][tape]") {
  const Var v;
  CHECK_FALSE(v.valid());
  CHECK_THROWS_AS(v.value(), Error);
  CHECK_THROWS_WITH(v.value(), Contains("uninitialized"));
  CHECK_THROWS_WITH(v.tape(), Contains("uninitialized"));
  CHECK_THROWS_WITH(v.requires_grad(), Contains("uninitialized"));
  CHECK_THROWS_WITH(sin(v), Contains("uninitialized"));
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{1.0});
  CHECK_THROWS_WITH(add(x, v), Contains("uninitialized"));
  CHECK_THROWS_WITH(add(v, x), Contains("uninitialized"));
  CHECK_THROWS_WITH(gradient(sum(x), v), Contains("uninitialized"));
  CHECK_THROWS_WITH(gradient(v, x), Contains("uninitialized"));
}

// ---- misuse of the sweeps ------------------------------------------------------------------------

TEST_CASE("tape: a gradient of a non-scalar output needs a cotangent", "[engine][tape]") {
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{1.0, 2.0});
  const Var y = sin(x);
  CHECK_THROWS_AS(gradient(y, x), Error);
  CHECK_THROWS_WITH(gradient(y, x), Contains("cotangent") && Contains("[2]"));
  CHECK_THROWS_WITH(gradient_var(y, x), Contains("cotangent"));
  // With a cotangent it works: vjp with u = (1, 1) is cos(x).
  const Tensor g = backward(y, {x}, Tensor{1.0, 1.0})[0];
  CHECK(g(0) == std::cos(1.0));
  CHECK(g(1) == std::cos(2.0));
  // One-element outputs of any rank are fine.
  CHECK(gradient(reshape(sum(y), {1, 1}), x).shape() == Shape{2});
}

TEST_CASE("tape: transforms that need a one-element output reject others", "[engine][tape]") {
  const auto f = [](const Var& x) { return sin(x); };
  const Tensor x = {0.1, 0.2, 0.3};
  Tape* const before = &Tape::current();
  CHECK_THROWS_WITH(grad(f, x), Contains("one-element") && Contains("[3]"));
  CHECK_THROWS_WITH(value_and_grad(f, x), Contains("one-element"));
  CHECK_THROWS_WITH(hvp(f, x, x), Contains("one-element"));
  CHECK_THROWS_AS(hessian(f, x), Error);
  // A throwing transform leaves the thread's current tape as it was (TapeScope unwinds).
  CHECK(&Tape::current() == before);
}

TEST_CASE("tape: mixing Vars of two tapes throws", "[engine][tape]") {
  TapeScope outer;
  const Var a = outer.tape().variable(Tensor{1.0, 2.0});
  const Var ya = sum(sin(a));
  TapeScope inner;  // now current
  // Several nodes on the inner tape so that indices exceed the outer tape's size.
  Var b = inner.tape().variable(Tensor{3.0, 4.0});
  for (int k = 0; k < 5; ++k) b = cos(b);
  const Var yb = sum(b);
  CHECK_THROWS_AS(add(a, b), Error);
  CHECK_THROWS_WITH(add(a, b), Contains("different tape"));
  CHECK_THROWS_WITH(add(b, a), Contains("different tape"));
  CHECK_THROWS_WITH(concat(std::vector<Var>{a, b}), Contains("different tape"));
  // A Tensor operand becomes a constant on the *current* tape: with a Var of another tape, that is a mix.
  CHECK_THROWS_WITH((a * Tensor{1.0, 1.0}), Contains("different tape"));
  // backward with an input from the other tape: the message says so (not "cleared").
  CHECK_THROWS_WITH(gradient(ya, b), Contains("different tape"));
  CHECK_THROWS_WITH(gradient(yb, a), Contains("different tape"));
  CHECK_THROWS_WITH(backward(yb, {b, a}, Tensor(1.0)), Contains("different tape"));
}

TEST_CASE("tape: a wrongly shaped cotangent is named with both shapes", "[engine][tape]") {
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const Var y = tanh(x);  // [2, 3]
  CHECK_THROWS_AS(backward(y, {x}, Tensor{1.0, 2.0, 3.0}), Error);
  CHECK_THROWS_WITH(backward(y, {x}, Tensor{1.0, 2.0, 3.0}), Contains("[3]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(backward(y, {x}, Tensor::ones({3, 2})), Contains("[3, 2]") && Contains("[2, 3]"));
  // Batched seeds: expected batch + output shape.
  CHECK_THROWS_WITH(backward(y, {x}, Tensor::ones({4, 2, 3}), {5}), Contains("[4, 2, 3]") && Contains("[5, 2, 3]"));
  CHECK_THROWS_WITH(backward_graph(y, {x}, scope.tape().constant(Tensor::ones({2}))), Contains("[2]") && Contains("[2, 3]"));
  // A wrongly shaped tangent for a variable is named too.
  CHECK_THROWS_WITH(scope.tape().variable(Tensor{1.0, 2.0}, Tensor{1.0}), Contains("[1]") && Contains("[2]"));
}

TEST_CASE("tape: nested forward mode with another batch throws", "[engine][tape]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{1.0, 2.0}, Tensor{1.0, 0.0});  // batch {}
  CHECK_NOTHROW(tape.set_tangent_batch({}));                         // the same batch: fine
  CHECK_THROWS_AS(tape.set_tangent_batch({3}), Error);
  CHECK_THROWS_WITH(tape.set_tangent_batch({3}), Contains("nested forward mode"));
  CHECK(tape.tangent_batch() == Shape{});
  CHECK(sin(x).tangent()(0) == std::cos(1.0));  // still usable
  // Inside jacfwd (batch {n}) a function that asks for another batch throws.
  const auto nested = [](const Var& v) {
    Tape::current().set_tangent_batch({5});
    return v;
  };
  CHECK_THROWS_WITH(jacfwd(nested, Tensor{1.0, 2.0}), Contains("nested forward mode"));
  // Once the tangents are gone the batch can change.
  tape.clear();
  CHECK_NOTHROW(tape.set_tangent_batch({3}));
  const Var y = tape.variable(Tensor{1.0}, reshape(Tensor{1.0, 2.0, 3.0}, {3, 1}));
  CHECK(exp(y).tangent().shape() == Shape{3, 1});
}

// ---- constants and piecewise-constant ops ----------------------------------------------------------

TEST_CASE("tape: constants get zero gradient", "[engine][tape]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{0.5, -1.5});
  const Var c = tape.constant(Tensor{3.0, 4.0});
  CHECK(x.requires_grad());
  CHECK_FALSE(c.requires_grad());
  CHECK_FALSE((c * c + sin(c)).requires_grad());
  const Var y = sum(x * c + sin(c));
  const std::vector<Tensor> g = backward(y, {x, c}, Tensor(1.0));
  CHECK(bitwise_equal(g[0], Tensor{3.0, 4.0}));
  CHECK(bitwise_equal(g[1], Tensor::zeros({2})));
  // A function that ignores its input: zero gradient, Jacobian and Hessian of the right shapes.
  const auto f = [](const Var&) { return sum(Var(Tensor{1.0, 2.0})); };
  const auto g_vec = [](const Var&) { return Var(Tensor{1.0, 2.0}); };
  CHECK(bitwise_equal(grad(f, Tensor{1.0, 2.0, 3.0}), Tensor::zeros({3})));
  CHECK(bitwise_equal(jacrev(g_vec, Tensor{1.0, 2.0, 3.0}), Tensor::zeros({2, 3})));
  CHECK(bitwise_equal(jacfwd(g_vec, Tensor{1.0, 2.0, 3.0}), Tensor::zeros({2, 3})));
  CHECK(bitwise_equal(hessian(f, Tensor{1.0, 2.0, 3.0}), Tensor::zeros({3, 3})));
  CHECK(bitwise_equal(hvp(f, Tensor{1.0, 2.0}, Tensor{1.0, 1.0}), Tensor::zeros({2})));
}

TEST_CASE("tape: step and sign results are constants", "[engine][tape]") {
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{-1.0, 0.5, 2.0}, Tensor{1.0, 1.0, 1.0});
  const Var s = step(x);
  const Var g = sign(x);
  CHECK_FALSE(s.requires_grad());
  CHECK_FALSE(s.has_tangent());
  CHECK_FALSE(g.requires_grad());
  CHECK_FALSE(g.has_tangent());
  CHECK(bitwise_equal(s.value(), Tensor{0.0, 1.0, 1.0}));
  CHECK(bitwise_equal(g.value(), Tensor{-1.0, 1.0, 1.0}));
  CHECK_THROWS_WITH(s.tangent(), Contains("no tangent"));
  // Through them the derivative sees a constant: d(step(x) x)/dx = step(x), d(sign(x) x)/dx = sign(x).
  CHECK(bitwise_equal(gradient(sum(s * x), x), Tensor{0.0, 1.0, 1.0}));
  CHECK(bitwise_equal(gradient(sum(g * x), x), Tensor{-1.0, 1.0, 1.0}));
  CHECK(bitwise_equal((s * x).tangent(), Tensor{0.0, 1.0, 1.0}));
  CHECK(bitwise_equal(jacfwd([](const Var& v) { return step(v); }, Tensor{1.0, -1.0}), Tensor::zeros({2, 2})));
  CHECK(bitwise_equal(jacrev([](const Var& v) { return sign(v); }, Tensor{1.0, -1.0}), Tensor::zeros({2, 2})));
  // relu and abs use them as derivatives: 0 at the kink.
  CHECK(bitwise_equal(grad([](const Var& v) { return sum(relu(v)); }, Tensor{-1.0, 0.0, 2.0}), Tensor{0.0, 0.0, 1.0}));
  CHECK(bitwise_equal(grad([](const Var& v) { return sum(abs(v)); }, Tensor{-1.0, 0.0, 2.0}), Tensor{-1.0, 0.0, 1.0}));
}

// ---- gradients with respect to any recorded value ------------------------------------------------

TEST_CASE("tape: backward with respect to intermediate values", "[engine][tape]") {
  // y = sum(h²) with h = sin(x): ∂y/∂h = 2h, ∂y/∂x = 2h cos x. Intermediates may be requested
  // alone or together with the leaves (regression: the sweep used to hand back a consumed adjoint).
  TapeScope scope;
  const Tensor x0 = {0.3, -0.8};
  const Var x = scope.tape().variable(x0);
  const Var h = sin(x);
  const Var y = sum(h * h);
  Tensor dh = Tensor::zeros({2}), dx = Tensor::zeros({2});
  for (std::size_t i = 0; i < 2; ++i) {
    dh.flat(i) = 2.0 * std::sin(x0.flat(i));
    dx.flat(i) = dh.flat(i) * std::cos(x0.flat(i));
  }
  // Tolerance 1e-15 relative: one or two roundings.
  const std::vector<Tensor> both = backward(y, {h, x}, Tensor(1.0));
  CHECK(max_relative_difference(both[0], dh) <= 1e-15);
  CHECK(max_relative_difference(both[1], dx) <= 1e-15);
  const std::vector<Tensor> only_h = backward(y, {h}, Tensor(1.0));
  REQUIRE(only_h[0].shape() == Shape{2});
  CHECK(max_relative_difference(only_h[0], dh) <= 1e-15);
  CHECK(max_relative_difference(gradient(y, h), dh) <= 1e-15);
  // The same on the graph (differentiable) sweep.
  const std::vector<Var> graph = backward_graph(y, {h, x}, scope.tape().constant(Tensor(1.0)));
  CHECK(max_relative_difference(graph[0].value(), dh) <= 1e-15);
  CHECK(max_relative_difference(graph[1].value(), dx) <= 1e-15);
  // The output itself as an input: its own cotangent, the seed.
  CHECK(bitwise_equal(backward(y, {y, x}, Tensor(2.0))[0], Tensor(2.0)));
}

TEST_CASE("tape: inputs recorded after the output get zero gradient", "[engine][tape]") {
  // Regression: an input with a higher index than the output was looked up out of bounds.
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{1.0, 2.0});
  const Var y = sum(square(x));
  const Var later = tape.variable(Tensor{5.0, 6.0, 7.0});
  const std::vector<Tensor> g = backward(y, {x, later}, Tensor(1.0));
  CHECK(bitwise_equal(g[0], Tensor{2.0, 4.0}));
  CHECK(bitwise_equal(g[1], Tensor::zeros({3})));
  CHECK(bitwise_equal(gradient(y, later), Tensor::zeros({3})));
  const Var c = tape.constant(Tensor(1.0));
  const Var z = tape.variable(Tensor(3.0));
  CHECK(gradient(c, z).item() == 0.0);
  const std::vector<Var> gg = backward_graph(y, {later}, tape.constant(Tensor(1.0)));
  CHECK(bitwise_equal(gg[0].value(), Tensor::zeros({3})));
}

// ---- threads ---------------------------------------------------------------------------------------

TEST_CASE("tape: threads compute bitwise identical results", "[engine][tape]") {
  // Each thread records on its own thread-local tapes; grad and hessian of the same function
  // must be bit-for-bit the single-thread result.
  const Tensor w = mlp_point();
  const auto [loss, g] = value_and_grad(mlp_loss, w);
  const Tensor h = hessian(mlp_loss, w);
  const Tensor hv = hvp(mlp_loss, w, g);
  REQUIRE(h.shape() == (Shape{kMlpParams, kMlpParams}));
  REQUIRE(all_finite(h));

  struct Result {
    double loss = 0.0;
    Tensor g, h, hv;
    std::exception_ptr error;
  };
  constexpr int kThreads = 4, kRepeats = 40;  // long enough for the threads to overlap
  std::vector<std::vector<Result>> results(kThreads, std::vector<Result>(kRepeats));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRepeats; ++r) {
        Result& out = results[static_cast<std::size_t>(t)][static_cast<std::size_t>(r)];
        try {
          std::tie(out.loss, out.g) = value_and_grad(mlp_loss, w);
          out.h = hessian(mlp_loss, w);
          out.hv = hvp(mlp_loss, w, g);
        } catch (...) {
          out.error = std::current_exception();
        }
      }
    });
  for (std::thread& t : threads) t.join();
  for (const auto& per_thread : results)
    for (const Result& r : per_thread) {
      REQUIRE_FALSE(r.error);
      CHECK(r.loss == loss);
      CHECK(bitwise_equal(r.g, g));
      CHECK(bitwise_equal(r.h, h));
      CHECK(bitwise_equal(r.hv, hv));
    }
}

// ---- reuse of tape storage -------------------------------------------------------------------------

TEST_CASE("tape: recording again after a rewind gives identical results", "[engine][tape]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(mlp_point());
  const std::size_t mark = tape.size();
  const auto record = [&] {
    const Var y = mlp_loss(w);
    const Var gy = gradient_var(y, w);
    return std::make_pair(y.value(), backward(sum(square(gy)), {w}, Tensor(1.0))[0]);
  };
  const auto first = record();
  const std::size_t grown = tape.size();
  for (int k = 0; k < 5; ++k) {
    tape.rewind(mark);
    REQUIRE(tape.size() == mark);
    const auto again = record();
    CHECK(tape.size() == grown);  // the same nodes, in the same slots
    CHECK(bitwise_equal(again.first, first.first));
    CHECK(bitwise_equal(again.second, first.second));
  }
  // The transforms reuse pooled tapes: repeated calls agree bit for bit and leave the current tape alone.
  Tape* const current = &Tape::current();
  const std::size_t current_size = current->size();
  const Tensor g0 = grad(mlp_loss, mlp_point());
  for (int k = 0; k < 10; ++k) CHECK(bitwise_equal(grad(mlp_loss, mlp_point()), g0));
  CHECK(&Tape::current() == current);
  CHECK(current->size() == current_size);
}

TEST_CASE("tape: nested TapeScopes keep the outer tape's Vars valid", "[engine][tape]") {
  TapeScope outer;
  const Var x = outer.tape().variable(Tensor{0.2, 0.4});
  const Var y = sum(exp(x));
  {
    TapeScope inner;
    CHECK(&Tape::current() == &inner.tape());
    CHECK(&inner.tape() != &outer.tape());
    const Var z = inner.tape().variable(Tensor{1.0});
    CHECK(z.index() == 0);
    // Transforms inside a scope use yet another tape.
    CHECK(grad([](const Var& v) { return sum(v); }, Tensor{1.0, 2.0})(1) == 1.0);
  }
  CHECK(&Tape::current() == &outer.tape());
  CHECK(x.valid());
  CHECK(y.valid());
  const Tensor g = gradient(y, x);
  CHECK(g(0) == std::exp(0.2));  // a product with 1: exact
  CHECK(g(1) == std::exp(0.4));
}

// ---- forward mode where only some inputs carry tangents -------------------------------------------

TEST_CASE("tape: a tangent broadcast up by a constant of higher rank", "[engine][tape]") {
  // x [3] carries a tangent, C [2, 3] does not: the output's tangent is the input's broadcast to
  // [2, 3] (regression: without a tangent batch the unlifted [3] tangent was rejected as an
  // internal error). Exact: additions and products of dyadic numbers.
  const Tensor C = {{0.5, 1.0, -2.0}, {0.25, 4.0, 1.5}};
  const Tensor x = {1.0, -0.5, 2.0};
  const Tensor v = {1.0, 2.0, -1.0};
  const auto plus = [&](const Var& y) { return y + Var(C); };
  const auto times = [&](const Var& y) { return Var(C) * y; };
  const auto column = [&](const Var& y) { return reshape(slice(y, 0, 2), {2, 1}) + Var(C); };  // [2, 1] -> [2, 3]
  const Tensor expected_plus = {{1.0, 2.0, -1.0}, {1.0, 2.0, -1.0}};
  CHECK(bitwise_equal(jvp(plus, x, v).second, expected_plus));
  CHECK(bitwise_equal(jvp(times, x, v).second, mul(C, v)));
  CHECK(bitwise_equal(jvp(column, x, v).second, Tensor{{1.0, 1.0, 1.0}, {2.0, 2.0, 2.0}}));
  // With a batch of tangents (jacfwd) and in reverse mode the same Jacobian.
  CHECK(bitwise_equal(jacfwd(plus, x), jacrev(plus, x)));
  CHECK(bitwise_equal(jacfwd(times, x), jacrev(times, x)));
  CHECK(bitwise_equal(jacfwd(column, x), jacrev(column, x)));
  // A 0-d variable with a tangent against a matrix constant.
  CHECK(bitwise_equal(jvp([&](const Var& s) { return s * Var(C); }, Tensor(2.0), Tensor(1.0)).second, C));
}
