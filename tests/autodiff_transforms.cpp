// The function transforms (value_and_grad, vjp, jvp, jacrev, jacfwd, hvp, hessian, grad_fn) on
// small functions with closed-form derivatives, their nestings (reverse over reverse, forward over
// reverse, third and fourth derivatives), and the tape-level API (variable, backward with several
// inputs and batched seeds, backward_graph).
//
// Tolerances are max_relative_difference (|a - b| / max(1, |a|, |b|)) bounds, stated at each use.
// 1e-14 covers a handful of roundings in closed forms computed in a different order; 0 (bitwise)
// is asserted only where every intermediate is exact (dyadic inputs) or the operations are the same.
#include <cmath>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "autodiff/autodiff.hpp"

using namespace autodiff;
using Catch::Matchers::Contains;

namespace {

constexpr double kClose = 1e-14;

Tensor vec(std::initializer_list<double> values) {
  Tensor t = Tensor::zeros({values.size()});
  std::size_t i = 0;
  for (double v : values) t.flat(i++) = v;
  return t;
}

// log Σ exp(x): gradient softmax(x) = p, Hessian diag(p) - p pᵀ.
Var logsumexp(const Var& x) { return log(sum(exp(x))); }

Tensor softmax(const Tensor& x) {
  Tensor p = Tensor::zeros(x.shape());
  double total = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) total += std::exp(x.flat(i));
  for (std::size_t i = 0; i < x.size(); ++i) p.flat(i) = std::exp(x.flat(i)) / total;
  return p;
}

Tensor logsumexp_hessian(const Tensor& x) {
  const Tensor p = softmax(x);
  const std::size_t n = x.size();
  Tensor h = Tensor::zeros({n, n});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) h(i, j) = (i == j ? p(i) : 0.0) - p(i) * p(j);
  return h;
}

}  // namespace

// ---- first derivatives ---------------------------------------------------------------------------

TEST_CASE("transforms: value_and_grad and grad against the closed form", "[engine][transforms]") {
  // f(x) = Σ sin x_i + ½ xᵀx:  ∇f = cos x + x.
  const auto f = [](const Var& x) { return sum(sin(x)) + scale(dot(x, x), 0.5); };
  const Tensor x = vec({0.3, -1.1, 2.5, 0.0});
  const auto [value, g] = value_and_grad(f, x);
  double expected_value = 0.0;
  Tensor expected = Tensor::zeros({4});
  for (std::size_t i = 0; i < 4; ++i) {
    expected_value += std::sin(x(i)) + 0.5 * x(i) * x(i);
    expected.flat(i) = std::cos(x(i)) + x(i);
  }
  CHECK(std::abs(value - expected_value) <= kClose * std::max(1.0, std::abs(expected_value)));
  CHECK(max_relative_difference(g, expected) <= kClose);
  CHECK(max_relative_difference(grad(f, x), g) == 0.0);  // the same sweep
  // A matrix argument: f(W) = Σ (W v)²,  ∇f = 2 (W v) vᵀ.
  const Tensor v = vec({1.0, -2.0, 0.5});
  const auto g_w = [&](const Var& W) { return sum(square(matmul(W, Var(v)))); };
  const Tensor W = {{0.5, 1.0, -1.5}, {2.0, 0.25, 1.0}};
  const Tensor Wv = matmul(W, v);
  Tensor expected_w = Tensor::zeros({2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) expected_w(i, j) = 2.0 * Wv(i) * v(j);
  const Tensor gw = grad(g_w, W);
  REQUIRE(gw.shape() == (Shape{2, 3}));
  CHECK(max_relative_difference(gw, expected_w) == 0.0);  // dyadic entries: exact
}

TEST_CASE("transforms: vjp and jvp against the closed form", "[engine][transforms]") {
  // f(x) = x sin x elementwise: J = diag(sin x + x cos x).
  const auto f = [](const Var& x) { return x * sin(x); };
  const Tensor x = vec({0.7, -0.2, 1.9});
  const Tensor u = vec({1.0, -0.5, 2.0});
  const Tensor v = vec({0.3, 0.6, -0.9});
  Tensor d = Tensor::zeros({3}), y = Tensor::zeros({3});
  for (std::size_t i = 0; i < 3; ++i) {
    d.flat(i) = std::sin(x(i)) + x(i) * std::cos(x(i));
    y.flat(i) = x(i) * std::sin(x(i));
  }
  const auto [y_vjp, jtu] = vjp(f, x, u);
  const auto [y_jvp, jv] = jvp(f, x, v);
  CHECK(max_relative_difference(y_vjp, y) == 0.0);  // the same value computation
  CHECK(max_relative_difference(y_jvp, y) == 0.0);
  CHECK(max_relative_difference(jtu, mul(u, d)) <= kClose);
  CHECK(max_relative_difference(jv, mul(v, d)) <= kClose);
  // Adjointness <u, J v> = <Jᵀ u, v>, AD against AD: 1e-15.
  CHECK(std::abs(sum(mul(u, jv)).item() - sum(mul(jtu, v)).item()) <= 1e-15 * 10);
  // Matrix in, matrix out: f(X) = tanh(X)ᵀ.
  const auto g = [](const Var& X) { return transpose(tanh(X)); };
  const Tensor X = {{0.1, -0.5, 0.9}, {1.3, 0.0, -2.0}};
  const Tensor U = {{1.0, 2.0}, {-1.0, 0.5}, {0.25, -3.0}};  // shape of the output [3, 2]
  const Tensor V = {{0.5, 0.5, -1.0}, {2.0, 1.0, 0.0}};    // shape of the input [2, 3]
  const Tensor s = 1.0 - square(tanh(X));                    // tanh'
  CHECK(max_relative_difference(vjp(g, X, U).second, mul(transpose(U), s)) <= kClose);
  CHECK(max_relative_difference(jvp(g, X, V).second, transpose(mul(V, s))) <= kClose);
  // A direction that does not reach the output: jvp of a constant function is zero.
  CHECK(max_relative_difference(jvp([](const Var&) { return Var(Tensor{1.0}); }, x, v).second, Tensor{0.0}) == 0.0);
}

TEST_CASE("transforms: jacrev and jacfwd have shape out.shape + in.shape", "[engine][transforms]") {
  SECTION("vector to vector") {
    const auto f = [](const Var& x) { return x * sin(x); };
    const Tensor x = vec({0.7, -0.2, 1.9});
    const Tensor jr = jacrev(f, x), jf = jacfwd(f, x);
    REQUIRE(jr.shape() == (Shape{3, 3}));
    REQUIRE(jf.shape() == (Shape{3, 3}));
    CHECK(max_relative_difference(jr, jf) <= kClose);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        CHECK(jr(i, j) == Approx(i == j ? std::sin(x(i)) + x(i) * std::cos(x(i)) : 0.0).epsilon(kClose).margin(0.0));
  }
  SECTION("vector to matrix: the outer product x xᵀ") {
    // J[i, j, k] = δ_ik x_j + x_i δ_jk; dyadic x: every entry exact.
    const auto f = [](const Var& x) { return reshape(x, {3, 1}) * reshape(x, {1, 3}); };
    const Tensor x = vec({1.5, -2.0, 0.25});
    const Tensor jr = jacrev(f, x), jf = jacfwd(f, x);
    REQUIRE(jr.shape() == (Shape{3, 3, 3}));
    REQUIRE(jf.shape() == (Shape{3, 3, 3}));
    Tensor expected = Tensor::zeros({3, 3, 3});
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        for (std::size_t k = 0; k < 3; ++k) expected(i, j, k) = (i == k ? x(j) : 0.0) + (j == k ? x(i) : 0.0);
    CHECK(max_relative_difference(jr, expected) == 0.0);
    CHECK(max_relative_difference(jf, expected) == 0.0);
  }
  SECTION("matrix to matrix: tanh(X)ᵀ") {
    // J[i, j, k, l] = δ_il δ_jk tanh'(X[j, i]).
    const auto f = [](const Var& X) { return transpose(tanh(X)); };
    const Tensor X = {{0.1, -0.5, 0.9}, {1.3, 0.0, -2.0}};
    const Tensor jr = jacrev(f, X), jf = jacfwd(f, X);
    REQUIRE(jr.shape() == (Shape{3, 2, 2, 3}));
    REQUIRE(jf.shape() == (Shape{3, 2, 2, 3}));
    Tensor expected = Tensor::zeros({3, 2, 2, 3});
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 2; ++j) {
        const double t = std::tanh(X(j, i));
        expected(i, j, j, i) = 1.0 - t * t;
      }
    CHECK(max_relative_difference(jr, expected) <= kClose);
    CHECK(max_relative_difference(jf, expected) <= kClose);
  }
  SECTION("matrix to scalar and scalar to vector") {
    const auto f = [](const Var& W) { return sum(sin(W)); };
    const Tensor W = {{0.1, 0.2}, {0.3, 0.4}};
    CHECK(jacrev(f, W).shape() == (Shape{2, 2}));  // out [] + in [2, 2]
    CHECK(max_relative_difference(jacrev(f, W), cos(W)) <= kClose);
    CHECK(max_relative_difference(jacfwd(f, W), cos(W)) <= kClose);
    const auto g = [](const Var& t) { return concat(std::vector<Var>{reshape(sin(t), {1}), reshape(square(t), {1})}); };
    const Tensor t = Tensor(0.5);  // 0-d input
    const Tensor jg = jacrev(g, t);
    REQUIRE(jg.shape() == Shape{2});
    CHECK(max_relative_difference(jg, vec({std::cos(0.5), 1.0})) <= kClose);
    CHECK(max_relative_difference(jacfwd(g, t), jg) <= kClose);
  }
}

// ---- second derivatives -----------------------------------------------------------------------------

TEST_CASE("transforms: hessian and hvp and both nestings against the closed form", "[engine][transforms]") {
  const Tensor x = vec({0.3, -1.2, 0.8, 2.0});
  const Tensor v = vec({1.0, 0.5, -2.0, 0.25});
  const Tensor expected = logsumexp_hessian(x);
  const Tensor h = hessian(logsumexp, x);                     // forward over reverse, batched
  const Tensor h_rr = jacrev(grad_fn(logsumexp), x);          // reverse over reverse
  const Tensor h_fr = jacfwd(grad_fn(logsumexp), x);          // forward over reverse
  REQUIRE(h.shape() == (Shape{4, 4}));
  REQUIRE(h_rr.shape() == (Shape{4, 4}));
  CHECK(max_relative_difference(h, expected) <= kClose);
  CHECK(max_relative_difference(h_rr, expected) <= kClose);
  CHECK(max_relative_difference(h_fr, h) == 0.0);  // hessian is jacfwd(grad_fn(f)): the same computation
  CHECK(max_relative_difference(h, transpose(h)) <= kClose);
  const Tensor hv = hvp(logsumexp, x, v);
  CHECK(max_relative_difference(hv, matmul(h, v)) <= kClose);
  CHECK(max_relative_difference(hv, matmul(expected, v)) <= kClose);
  // The gradient from grad_fn is the gradient.
  CHECK(max_relative_difference(grad(logsumexp, x), softmax(x)) <= kClose);
}

TEST_CASE("transforms: Hessian of a function of a matrix", "[engine][transforms]") {
  // f(W) = Σ (W v)²: H[i, j, k, l] = 2 δ_ik v_j v_l; hvp(V) = 2 (V v) vᵀ. Dyadic: exact.
  const Tensor v = vec({1.0, -2.0, 0.5});
  const auto f = [&](const Var& W) { return sum(square(matmul(W, Var(v)))); };
  const Tensor W = {{0.5, 1.0, -1.5}, {2.0, 0.25, 1.0}};
  const Tensor V = {{1.0, 0.0, -1.0}, {0.5, 2.0, 0.0}};
  const Tensor h = hessian(f, W);
  REQUIRE(h.shape() == (Shape{2, 3, 2, 3}));
  Tensor expected = Tensor::zeros({2, 3, 2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t l = 0; l < 3; ++l) expected(i, j, i, l) = 2.0 * v(j) * v(l);
  CHECK(max_relative_difference(h, expected) == 0.0);
  CHECK(max_relative_difference(jacrev(grad_fn(f), W), expected) == 0.0);
  const Tensor Vv = matmul(V, v);
  Tensor expected_hv = Tensor::zeros({2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) expected_hv(i, j) = 2.0 * Vv(i) * v(j);
  CHECK(max_relative_difference(hvp(f, W, V), expected_hv) == 0.0);
}

TEST_CASE("transforms: reverse-over-reverse HVP equals hvp", "[engine][transforms]") {
  // ∇ₓ <∇f(x), v> = ∇²f(x) v, with the inner gradient recorded by gradient_var.
  const Tensor x = vec({0.3, -1.2, 0.8, 2.0});
  const Tensor v = vec({1.0, 0.5, -2.0, 0.25});
  const Tensor rr = grad([&](const Var& y) { return dot(gradient_var(logsumexp(y), y), Var(v)); }, x);
  const Tensor fr = hvp(logsumexp, x, v);
  CHECK(max_relative_difference(rr, fr) <= kClose);
  CHECK(max_relative_difference(rr, matmul(logsumexp_hessian(x), v)) <= kClose);
  // The same through the tape-level API, by hand.
  TapeScope scope;
  const Var X = scope.tape().variable(x);
  const Var g = gradient_var(logsumexp(X), X);
  const Var inner = dot(g, scope.tape().constant(v));
  CHECK(max_relative_difference(gradient(inner, X), fr) <= kClose);
}

// ---- third and fourth derivatives by nesting ------------------------------------------------------

TEST_CASE("transforms: third and fourth derivatives of sin by nesting", "[engine][transforms]") {
  // f(x) = sin x on a one-element x: f''' = -cos x, f'''' = sin x. Tolerance 1e-14.
  const auto f = [](const Var& x) { return sum(sin(x)); };
  const auto f1 = grad_fn(f);   // cos x, one element
  const auto f2 = grad_fn(f1);  // -sin x (gradient_var of a one-element output: composes)
  const auto f3 = grad_fn(f2);  // -cos x
  for (const double a : {0.0, 0.4, -1.3, 2.9}) {
    const Tensor x = vec({a});
    CHECK(jacrev(f1, x)(0, 0) == Approx(-std::sin(a)).margin(kClose));
    CHECK(jacfwd(f2, x)(0, 0) == Approx(-std::cos(a)).margin(kClose));   // forward over reverse over reverse
    CHECK(jacrev(f2, x)(0, 0) == Approx(-std::cos(a)).margin(kClose));   // reverse over reverse over reverse
    CHECK(hessian(f1, x)(0, 0) == Approx(-std::cos(a)).margin(kClose));  // hessian of a one-element gradient
    CHECK(hvp(f1, x, vec({2.0}))(0) == Approx(-2.0 * std::cos(a)).margin(kClose));
    CHECK(jacfwd(f3, x)(0, 0) == Approx(std::sin(a)).margin(kClose));    // fourth derivative
    CHECK(jacrev(f3, x)(0, 0) == Approx(std::sin(a)).margin(kClose));
    CHECK(hessian(f2, x)(0, 0) == Approx(std::sin(a)).margin(kClose));
  }
  // A 0-d argument nests the same way.
  const auto g = [](const Var& x) { return sin(x); };
  const Tensor third = jacfwd(grad_fn(grad_fn(g)), Tensor(0.4));
  REQUIRE(third.dim() == 0);
  CHECK(third.item() == Approx(-std::cos(0.4)).margin(kClose));
}

TEST_CASE("transforms: the third-derivative tensor of a function of a vector", "[engine][transforms]") {
  // f(x) = Σ sin x_i + x0 x1 x2: T[i, j, k] = -cos(x_i) [i = j = k] + [{i, j, k} = {0, 1, 2}].
  // grad_fn(grad_fn(f)) does not apply (gradient_var needs a one-element output), so the Hessian
  // is built on the tape: backward_graph with all of I as a batch of seeds, then jacfwd / jacrev.
  const auto f = [](const Var& x) {
    return sum(sin(x)) + slice(x, 0, 1) * slice(x, 1, 1) * slice(x, 2, 1);
  };
  const auto hessian_fn = [&](const Var& x) {
    const Var g = gradient_var(sum(f(x)), x);
    const std::size_t n = x.size();
    const Var seeds = x.tape().constant(Tensor::identity(n));
    return backward_graph(g, {x}, seeds, {n})[0];  // [n, n]
  };
  const Tensor x = vec({0.3, -0.7, 1.1});
  Tensor expected = Tensor::zeros({3, 3, 3});
  for (std::size_t i = 0; i < 3; ++i) expected(i, i, i) = -std::cos(x(i));
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 3; ++k)
        if (i != j && j != k && i != k) expected(i, j, k) = 1.0;
  const Tensor t_fwd = jacfwd(hessian_fn, x);  // forward over reverse over reverse (batched both ways)
  const Tensor t_rev = jacrev(hessian_fn, x);  // reverse over reverse over reverse
  REQUIRE(t_fwd.shape() == (Shape{3, 3, 3}));
  REQUIRE(t_rev.shape() == (Shape{3, 3, 3}));
  CHECK(max_relative_difference(t_fwd, expected) <= kClose);
  CHECK(max_relative_difference(t_rev, expected) <= kClose);
  // The Hessian itself from the on-tape construction matches hessian().
  TapeScope scope;
  const Var X = scope.tape().variable(x);
  CHECK(max_relative_difference(hessian_fn(X).value(), hessian([&](const Var& y) { return sum(f(y)); }, x)) <= kClose);
}

TEST_CASE("transforms: higher derivatives of powers at zero", "[engine][transforms]") {
  // x³ at 0: f' = 0, f'' = 0, f''' = 6, f'''' = 0. The pow rule must not produce 0 * 0^-1 = NaN.
  const auto cube = [](const Var& x) { return sum(pow(x, 3.0)); };
  const Tensor zero = vec({0.0});
  const auto d1 = grad_fn(cube);
  const auto d2 = grad_fn(d1);
  const auto d3 = grad_fn(d2);
  CHECK(grad(cube, zero)(0) == 0.0);
  CHECK(hessian(cube, zero)(0, 0) == 0.0);
  CHECK(jacfwd(d2, zero)(0, 0) == 6.0);
  CHECK(jacrev(d2, zero)(0, 0) == 6.0);
  CHECK(jacfwd(d3, zero)(0, 0) == 0.0);
  CHECK(jacrev(d3, zero)(0, 0) == 0.0);
  // x¹: f'' = 0 everywhere, including 0.
  CHECK(hessian([](const Var& x) { return sum(pow(x, 1.0)); }, zero)(0, 0) == 0.0);
}

// ---- what composes and what does not -----------------------------------------------------------------

TEST_CASE("transforms: limits of nesting", "[engine][transforms]") {
  const Tensor x = vec({0.2, 0.9});
  // gradient_var / grad_fn needs a one-element output: grad_fn(grad_fn(f)) of a vector argument throws.
  const auto f = [](const Var& y) { return sum(sin(y)); };
  CHECK_THROWS_WITH(jacfwd(grad_fn(grad_fn(f)), x), Contains("one-element"));
  // Only one forward-mode batch per tape: forward over forward is not available.
  const auto nested_forward = [](const Var& y) {
    Tape::current().set_tangent_batch({3});
    return y;
  };
  CHECK_THROWS_WITH(jacfwd(nested_forward, x), Contains("nested forward mode"));
  // Tensor-level transforms inside a recorded function run on their own tape and return plain
  // tensors: the outer transform sees a constant (no error, zero derivative through them), and the
  // outer tape is left intact.
  const auto uses_inner_grad = [&](const Var& y) {
    const Tensor inner = grad(f, y.value());  // cos(y), but as a constant
    return sum(y * Var(inner));
  };
  const Tensor g = grad(uses_inner_grad, x);
  // d/dy Σ y_i c_i with c = cos(x) held constant: c, not c - y sin y.
  CHECK(max_relative_difference(g, cos(x)) == 0.0);
}

// ---- the tape-level API ---------------------------------------------------------------------------------

TEST_CASE("transforms: tape-level gradients with several inputs", "[engine][transforms]") {
  // y = Σ tanh(B a) + ½ aᵀa:  ∂y/∂a = Bᵀ s + a,  ∂y/∂B = s aᵀ,  s = 1 - tanh²(B a).
  const Tensor a0 = vec({0.4, -0.3, 1.2});
  const Tensor B0 = {{0.5, -1.0, 0.3}, {0.2, 0.8, -0.6}};
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var a = tape.variable(a0);
  const Var B = tape.variable(B0);
  const Var y = sum(tanh(matmul(B, a))) + scale(dot(a, a), 0.5);
  const Tensor s = 1.0 - square(tanh(matmul(B0, a0)));
  const Tensor expected_a = matmul(transpose(B0), s) + a0;
  const Tensor expected_B = mul(reshape(s, {2, 1}), reshape(a0, {1, 3}));
  const std::vector<Tensor> g = backward(y, {a, B}, Tensor(1.0));
  REQUIRE(g.size() == 2);
  REQUIRE(g[1].shape() == (Shape{2, 3}));
  CHECK(max_relative_difference(g[0], expected_a) <= kClose);
  CHECK(max_relative_difference(g[1], expected_B) <= kClose);
  // Order of inputs does not matter; repeating an input gives the same cotangent twice.
  const std::vector<Tensor> g_rev = backward(y, {B, a, B}, Tensor(1.0));
  CHECK(max_relative_difference(g_rev[0], g[1]) == 0.0);
  CHECK(max_relative_difference(g_rev[1], g[0]) == 0.0);
  CHECK(max_relative_difference(g_rev[2], g[1]) == 0.0);
  // The seed scales the result: seed 2 gives twice the gradient (exact: a power of two).
  const std::vector<Tensor> g2 = backward(y, {a, B}, Tensor(2.0));
  CHECK(max_relative_difference(g2[0], scale(g[0], 2.0)) == 0.0);

  // backward_graph: the same numbers as Vars, differentiable again. z = |∂y/∂a|² + |∂y/∂B|² has
  // ∇z = 2 H ∇y, with H the Hessian of y in the flattened parameters p = (a, vec B).
  const std::vector<Var> gv = backward_graph(y, {a, B}, tape.constant(Tensor(1.0)));
  CHECK(max_relative_difference(gv[0].value(), g[0]) == 0.0);
  CHECK(max_relative_difference(gv[1].value(), g[1]) == 0.0);
  const Var z = dot(gv[0], gv[0]) + sum(square(gv[1]));
  const std::vector<Tensor> dz = backward(z, {a, B}, Tensor(1.0));
  const auto y_flat = [](const Var& p) {
    const Var pa = slice(p, 0, 3);
    const Var pB = reshape(slice(p, 3, 6), {2, 3});
    return sum(tanh(matmul(pB, pa))) + scale(dot(pa, pa), 0.5);
  };
  const Tensor p = concat(std::vector<Tensor>{a0, reshape(B0, {6})});
  const Tensor hg = scale(matmul(hessian(y_flat, p), grad(y_flat, p)), 2.0);
  CHECK(max_relative_difference(dz[0], slice(hg, 0, 3)) <= 1e-13);  // 1e-13: longer chains of sums
  CHECK(max_relative_difference(dz[1], reshape(slice(hg, 3, 6), {2, 3})) <= 1e-13);
}

TEST_CASE("transforms: backward_graph carries tangents (forward over reverse by hand)", "[engine][transforms]") {
  // Variables with tangents (va, vB): the cotangents recorded by backward_graph carry H (va, vB).
  const Tensor a0 = vec({0.4, -0.3, 1.2});
  const Tensor B0 = {{0.5, -1.0, 0.3}, {0.2, 0.8, -0.6}};
  const Tensor va = vec({1.0, 0.0, -0.5});
  const Tensor vB = {{0.0, 0.5, 1.0}, {-1.0, 0.25, 0.0}};
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var a = tape.variable(a0, va);
  const Var B = tape.variable(B0, vB);
  const Var y = sum(tanh(matmul(B, a))) + scale(dot(a, a), 0.5);
  const std::vector<Var> gv = backward_graph(y, {a, B}, tape.constant(Tensor(1.0)));
  REQUIRE(gv[0].has_tangent());
  REQUIRE(gv[1].has_tangent());
  const auto y_flat = [](const Var& p) {
    const Var pa = slice(p, 0, 3);
    const Var pB = reshape(slice(p, 3, 6), {2, 3});
    return sum(tanh(matmul(pB, pa))) + scale(dot(pa, pa), 0.5);
  };
  const Tensor p = concat(std::vector<Tensor>{a0, reshape(B0, {6})});
  const Tensor hv = hvp(y_flat, p, concat(std::vector<Tensor>{va, reshape(vB, {6})}));
  CHECK(max_relative_difference(gv[0].tangent(), slice(hv, 0, 3)) <= kClose);
  CHECK(max_relative_difference(gv[1].tangent(), reshape(slice(hv, 3, 6), {2, 3})) <= kClose);
}

TEST_CASE("transforms: batched seeds give the rows of separate sweeps", "[engine][transforms]") {
  // One sweep with k seeds (batch {k}) against k sweeps with one seed each. The same ops run on
  // stacked data; BLAS may block a stacked product differently, so 1e-15 relative, not bitwise.
  const Tensor a0 = vec({0.4, -0.3, 1.2});
  const Tensor B0 = {{0.5, -1.0, 0.3}, {0.2, 0.8, -0.6}};
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var a = tape.variable(a0);
  const Var B = tape.variable(B0);
  // A [2, 2] output mixing broadcasting, matmul, reductions and slices.
  const Var h = tanh(matmul(B, a));                            // [2]
  const Var out = reshape(h, {2, 1}) * sin(slice(B, 0, 2, 1)) + sum(square(a));  // [2, 2]
  const std::size_t k = 5;
  Tensor seeds = Tensor::zeros({k, 2, 2});
  for (std::size_t i = 0; i < seeds.size(); ++i) seeds.flat(i) = std::cos(1.0 + 0.7 * static_cast<double>(i));
  const std::vector<Tensor> batched = backward(out, {a, B}, seeds, {k});
  REQUIRE(batched[0].shape() == (Shape{k, 3}));
  REQUIRE(batched[1].shape() == (Shape{k, 2, 3}));
  const std::vector<Var> batched_graph = backward_graph(out, {a, B}, tape.constant(seeds), {k});
  for (std::size_t r = 0; r < k; ++r) {
    const Tensor seed = reshape(slice(seeds, r, 1, 0), {2, 2});
    const std::vector<Tensor> single = backward(out, {a, B}, seed);
    CHECK(max_relative_difference(reshape(slice(batched[0], r, 1, 0), {3}), single[0]) <= 1e-15);
    CHECK(max_relative_difference(reshape(slice(batched[1], r, 1, 0), {2, 3}), single[1]) <= 1e-15);
    CHECK(max_relative_difference(reshape(slice(batched_graph[0].value(), r, 1, 0), {3}), single[0]) <= 1e-15);
    CHECK(max_relative_difference(reshape(slice(batched_graph[1].value(), r, 1, 0), {2, 3}), single[1]) <= 1e-15);
  }
  // A batch with two axes {2, 2}: the rows are the same again.
  const Tensor seeds4 = reshape(slice(seeds, 0, 4, 0), {2, 2, 2, 2});
  const std::vector<Tensor> batched4 = backward(out, {a, B}, seeds4, {2, 2});
  REQUIRE(batched4[1].shape() == (Shape{2, 2, 2, 3}));
  CHECK(max_relative_difference(reshape(batched4[0], {4, 3}), slice(batched[0], 0, 4, 0)) <= 1e-15);
  CHECK(max_relative_difference(reshape(batched4[1], {4, 2, 3}), slice(batched[1], 0, 4, 0)) <= 1e-15);
  // The identity as seeds is the Jacobian: it matches jacrev of the same function.
  const auto f = [](const Var& p) {
    const Var pa = slice(p, 0, 3);
    const Var pB = reshape(slice(p, 3, 6), {2, 3});
    const Var hh = tanh(matmul(pB, pa));
    return reshape(hh, {2, 1}) * sin(slice(pB, 0, 2, 1)) + sum(square(pa));
  };
  const Tensor jac = jacrev(f, concat(std::vector<Tensor>{a0, reshape(B0, {6})}));  // [2, 2, 9]
  const Tensor rows = backward(out, {a}, reshape(Tensor::identity(4), {4, 2, 2}), {4})[0];  // [4, 3]
  CHECK(max_relative_difference(rows, slice(reshape(jac, {4, 9}), 0, 3, 1)) <= 1e-15);
}

TEST_CASE("transforms: a tangent batch with two axes gives the separate jvps", "[engine][transforms]") {
  // Forward mode with tangents of shape {2, 3} + x.shape: each of the 6 directions must give what
  // jvp gives alone (1e-15 relative), for a vector output and, through backward_graph, for the
  // gradient of a scalar (the 6 Hessian-vector products).
  const auto f = [](const Var& p) {
    const Var pa = slice(p, 0, 3);
    const Var pB = reshape(slice(p, 3, 6), {2, 3});
    const Var hh = tanh(matmul(pB, pa));
    return reshape(hh, {2, 1}) * sin(slice(pB, 0, 2, 1)) + sum(square(pa));  // [2, 2]
  };
  const auto f_scalar = [&](const Var& p) { return sum(sin(f(p))); };
  const Tensor p = vec({0.4, -0.3, 1.2, 0.5, -1.0, 0.3, 0.2, 0.8, -0.6});
  Tensor directions = Tensor::zeros({2, 3, 9});
  for (std::size_t i = 0; i < directions.size(); ++i) directions.flat(i) = std::sin(0.3 + 1.3 * static_cast<double>(i));
  TapeScope scope;
  Tape& tape = scope.tape();
  tape.set_tangent_batch({2, 3});
  const Var P = tape.variable(p, directions);
  const Var y = f(P);
  const Var g = gradient_var(f_scalar(P), P);
  REQUIRE(y.tangent().shape() == (Shape{2, 3, 2, 2}));
  REQUIRE(g.tangent().shape() == (Shape{2, 3, 9}));
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      const Tensor d = reshape(slice(slice(directions, i, 1, 0), j, 1, 1), {9});
      const Tensor ty = reshape(slice(slice(y.tangent(), i, 1, 0), j, 1, 1), {2, 2});
      const Tensor tg = reshape(slice(slice(g.tangent(), i, 1, 0), j, 1, 1), {9});
      CHECK(max_relative_difference(ty, jvp(f, p, d).second) <= 1e-15);
      CHECK(max_relative_difference(tg, hvp(f_scalar, p, d)) <= 1e-15);
    }
  // Reverse over reverse with a seed batch of two axes: the rows of H (symmetric) times each seed.
  TapeScope reverse;
  const Var Q = reverse.tape().variable(p);
  const Var gq = gradient_var(f_scalar(Q), Q);
  const Tensor rows = backward(gq, {Q}, directions, {2, 3})[0];
  REQUIRE(rows.shape() == (Shape{2, 3, 9}));
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      const Tensor d = reshape(slice(slice(directions, i, 1, 0), j, 1, 1), {9});
      const Tensor row = reshape(slice(slice(rows, i, 1, 0), j, 1, 1), {9});
      CHECK(max_relative_difference(row, backward(gq, {Q}, d)[0]) <= 1e-15);
      CHECK(max_relative_difference(row, hvp(f_scalar, p, d)) <= 1e-13);  // 1e-13: other association
    }
}
