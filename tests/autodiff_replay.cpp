// A recorded tape evaluated again at new leaf values (Tape::replay), cotangents written in place
// without zero-filling (Accumulator), a descent step taken during the sweep (descend), and the
// matrix-product kernel's α and β = 1 (what descend's layer blocks use). Random programs are
// replayed in tests/autodiff_random_programs.cpp.
//
// Tolerances:
//   replay vs recording afresh             bitwise (the same kernels on the same numbers)
//   descend vs w − step ∇L (same sweep)    1e-14 relative (the step folded into the GEMM: α (Ȳᵀ X))
//   gemm with α, β vs the triple loop      1e-13 relative
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "autodiff/accumulator.hpp"
#include "autodiff/autodiff.hpp"
#include "autodiff_helpers.hpp"
#include "autodiff/gemm.hpp"

namespace {

using namespace autodiff;

using autodiff_test::rel_error;
using autodiff_test::uniform;

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.size(), b.data());
}

// A two-layer tanh/relu net reading its weights from blocks of one flat vector, as nn::Dense
// does: layer 1 (hidden × in) then its bias, layer 2 (1 × hidden) then its bias.
struct BlockNet {
  std::size_t in = 3, hidden = 7, rows = 5;
  std::size_t size() const { return hidden * in + hidden + hidden + 1; }
  Var loss(const Var& w, const Var& x, const Var& y) const {
    Var h = segment_matmul(x, w, 0, {hidden, in}, true) + segment(w, hidden * in, {hidden});
    h = tanh(relu(h) + scale(h, 0.1));
    const std::size_t second = hidden * in + hidden;
    const Var out = segment_matmul(h, w, second, {1, hidden}, true) + segment(w, second + hidden, {1});
    return scale(sum(square(out - y)), 0.5);
  }
};

}  // namespace

TEST_CASE("replay: a tape evaluated at new leaf values equals recording it there", "[engine][replay]") {
  const BlockNet net;
  const Tensor w1 = uniform({net.size()}, 1), w2 = uniform({net.size()}, 2);
  const Tensor x = uniform({net.rows, net.in}, 3), y = uniform({net.rows, 1}, 4);
  const auto record_at = [&](const Tensor& w) {
    TapeScope scope;
    Tape& tape = scope.tape();
    return net.loss(tape.variable(w), tape.constant(x), tape.constant(y)).value();
  };
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var wv = tape.variable(w1), xv = tape.constant(x), yv = tape.constant(y);
  const std::size_t first_op = tape.size();
  const Var loss = net.loss(wv, xv, yv);
  CHECK(bitwise_equal(loss.value(), record_at(w1)));
  tape.set_value(wv, w2);
  tape.replay(first_op);
  CHECK(bitwise_equal(loss.value(), record_at(w2)));
  CHECK(loss.value().item() != record_at(w1).item());
  // The replayed tape differentiates like a fresh one.
  const Tensor g = gradient(loss, wv);
  TapeScope fresh;
  const Var w_fresh = fresh.tape().variable(w2);
  CHECK(bitwise_equal(g, gradient(net.loss(w_fresh, fresh.tape().constant(x), fresh.tape().constant(y)), w_fresh)));
  // Constants are leaves too: new data, same program.
  tape.set_value(xv, uniform({net.rows, net.in}, 5));
  tape.replay(first_op);
  TapeScope other;
  CHECK(bitwise_equal(loss.value(), net.loss(other.tape().variable(w2), other.tape().constant(uniform({net.rows, net.in}, 5)),
                                             other.tape().constant(y))
                                        .value()));
}

TEST_CASE("replay: set_value takes leaves of the same shape only and tangents are not replayed", "[engine][replay][errors]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(Tensor::column({1.0, 2.0}));
  const Var y = sin(w);
  CHECK_THROWS_WITH(tape.set_value(w, Tensor::zeros({3, 1})), Catch::Contains("shape [2, 1]") && Catch::Contains("[3, 1]"));
  CHECK_THROWS_WITH(tape.set_value(y, Tensor::zeros({2, 1})), Catch::Contains("result of sin, not a leaf"));
  TapeScope forward;
  const Var v = forward.tape().variable(Tensor::column({1.0}), Tensor::column({1.0}));
  const Var z = exp(v);
  CHECK_THROWS_WITH(forward.tape().set_value(v, Tensor::column({2.0})), Catch::Contains("tangent"));
  CHECK_THROWS_WITH(forward.tape().replay(0), Catch::Contains("carries a tangent"));
  CHECK(z.value().item() == std::exp(1.0));
}

TEST_CASE("accumulator: claimed blocks are overwritten once then added to and the rest reads as zeros", "[engine][accumulator]") {
  Accumulator acc;
  CHECK(acc.empty());
  acc.start({2, 6});  // two rows of six
  Tensor& t = acc.tensor();
  CHECK(acc.claim(1, 2, 6));   // columns 1, 2: fresh
  CHECK(acc.claim(4, 1, 6));   // column 4: fresh
  CHECK_FALSE(acc.claim(2, 3, 6));  // 2..4 touches both: column 3 is zeroed, the caller adds
  for (std::size_t r = 0; r < 2; ++r) CHECK(t(r, 3) == 0.0);
  t(0, 1) = 5.0;
  t(1, 4) = 7.0;
  const Tensor& z = acc.zeroed();  // columns 0 and 5 were never written: zeros
  for (std::size_t r = 0; r < 2; ++r) {
    CHECK(z(r, 0) == 0.0);
    CHECK(z(r, 5) == 0.0);
  }
  CHECK(z(0, 1) == 5.0);
  CHECK(z(1, 4) == 7.0);
  CHECK_FALSE(acc.claim(0, 1, 6));  // complete: everything is added to from now on

  Accumulator whole;
  whole.start({4});
  CHECK(whole.claim(0, 2, 4));
  CHECK(whole.claim(2, 2, 4));
  whole.tensor().flat(0) = 1.0;  // every column claimed: nothing is zeroed behind the writers' backs
  CHECK(whole.zeroed().flat(0) == 1.0);

  Accumulator other_layout;
  other_layout.start({2, 4});
  other_layout.tensor().flat(7) = 3.0;  // garbage until claimed
  CHECK(other_layout.claim(0, 2, 4));
  CHECK_FALSE(other_layout.claim(0, 1, 8));  // another row length: everything is zeroed, then added to
  CHECK(other_layout.tensor().flat(7) == 0.0);

  Accumulator first_term;
  first_term.add(Tensor::column({1.0, 2.0}));
  first_term.add(Tensor::column({0.5, 0.5}));
  CHECK(bitwise_equal(first_term.zeroed(), Tensor::column({1.5, 2.5})));

  Tensor target = Tensor::column({1.0, 1.0});
  Accumulator onto;
  onto.start_onto(target, -0.5);
  CHECK(onto.scale() == -0.5);
  CHECK_FALSE(onto.claim(0, 1, 1));  // the target is complete: contributions add onto it
  onto.add(Tensor::column({2.0, 4.0}));
  CHECK(bitwise_equal(target, Tensor::column({0.0, -1.0})));
}

TEST_CASE("gradient: sweeps that skip zero-filling give the same gradients", "[engine][accumulator]") {
  // Blocks read by several ops, overlapping and in both orders, and a block nobody reads.
  const Tensor w0 = uniform({12}, 7);
  const auto f = [](const Var& w) {
    const Var a = segment(w, 0, {4});
    const Var b = segment(w, 2, {2, 2});  // overlaps a
    const Var c = slice(w, 6, 3);         // a slice writes its range the same way
    const Var d = segment(w, 6, {3});     // the same range again
    return sum(square(a)) + sum(sin(b)) + dot(c, d) + sum(w) * 0.25;  // w[9..11] only through sum(w)
  };
  const auto composite = [](const Var& w) {  // the same function through a one-hot matrix
    Tensor pick = Tensor::zeros({12, 12});
    for (std::size_t i = 0; i < 12; ++i) pick(i, i) = 1.0;
    const Var v = reshape(matmul(Var(pick), reshape(w, {12, 1})), {12});
    const Var a = reshape(slice(v, 0, 4), {4});
    const Var b = reshape(slice(v, 2, 4), {2, 2});
    const Var c = slice(v, 6, 3), d = slice(v, 6, 3);
    return sum(square(a)) + sum(sin(b)) + dot(c, d) + sum(w) * 0.25;
  };
  CHECK(rel_error(grad(f, w0), grad(composite, w0)) < 1e-14);
  const Tensor only_blocks = grad([](const Var& w) { return sum(square(segment(w, 3, {2}))); }, w0);
  for (std::size_t i = 0; i < 12; ++i) CHECK(only_blocks.flat(i) == (i == 3 || i == 4 ? 2.0 * w0.flat(i) : 0.0));
}

TEST_CASE("descend: w ← w − step ∇L, in place during the sweep when layers read their own blocks", "[engine][descend]") {
  const BlockNet net;
  const Tensor w0 = uniform({net.size()}, 11), x = uniform({net.rows, net.in}, 12), y = uniform({net.rows, 1}, 13);
  const double step = 0.05;
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(w0);
  const Var loss = net.loss(w, tape.constant(x), tape.constant(y));
  const Tensor g = gradient(loss, w);
  CHECK(descend(loss, w, step));  // in place
  Tensor expected = w0;
  for (std::size_t i = 0; i < expected.size(); ++i) expected.flat(i) -= step * g.flat(i);
  CHECK(rel_error(w.value(), expected) < 1e-14);
  CHECK(rel_error(w.value(), w0) > 1e-4);  // it moved

  // Layers in one op each (segment_affine: the weights and the bias as one block), as nn::Dense
  // records them: in place too.
  const auto affine_loss = [&](const Var& v) {
    const Var h = tanh(segment_affine(Var(x), v, 0, {net.hidden, net.in}, true));
    const std::size_t second = net.hidden * net.in + net.hidden;
    return sum(square(segment_affine(h, v, second, {1, net.hidden}, true, 0.5, 2.0) - Var(y)));
  };
  TapeScope layers;
  const Var wa = layers.tape().variable(w0);
  const Var la = affine_loss(wa);
  const Tensor ga = gradient(la, wa);
  CHECK(descend(la, wa, step));
  Tensor expected_a = w0;
  for (std::size_t i = 0; i < expected_a.size(); ++i) expected_a.flat(i) -= step * ga.flat(i);
  CHECK(rel_error(wa.value(), expected_a) < 1e-14);

  // Not read as disjoint blocks (a layer reused, or w read whole): the gradient comes first,
  // with the same result.
  const auto shared = [](const Var& v) {
    const Var h = segment_matmul(segment_matmul(Var(Tensor::ones({2, 2})), v, 0, {2, 2}, false), v, 0, {2, 2}, false);
    return sum(square(h)) + sum(v) * 0.1;
  };
  const Tensor v0 = uniform({4}, 14);
  TapeScope again;
  const Var v = again.tape().variable(v0);
  const Var s = shared(v);
  const Tensor gv = gradient(s, v);
  CHECK_FALSE(descend(s, v, step));  // the gradient first
  Tensor v_expected = v0;
  for (std::size_t i = 0; i < 4; ++i) v_expected.flat(i) -= step * gv.flat(i);
  CHECK(rel_error(v.value(), v_expected) < 1e-15);

  CHECK_THROWS_WITH(descend(s, s, step), Catch::Contains("not a variable"));
  CHECK_THROWS_WITH(descend(s, v, std::nan("")), Catch::Contains("finite"));
  CHECK_THROWS_WITH(descend(s * Var(Tensor::ones({2})), v, step), Catch::Contains("one-element"));
}

TEST_CASE("replay and descend: the training loop of docs/autodiff.md", "[engine][replay][descend]") {
  const BlockNet net;
  const Tensor w0 = uniform({net.size()}, 31), X = uniform({net.rows, net.in}, 32), Y = uniform({net.rows, 1}, 33);
  const auto my_loss = [&](const Var& w, const Var& x, const Var& y) { return net.loss(w, x, y); };
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(w0), x = tape.constant(X), y = tape.constant(Y);
  const std::size_t first = tape.size();
  const Var loss = my_loss(w, x, y);
  Tensor expected = w0;  // the same steps, each recorded afresh with a separate gradient
  for (int step = 0; step < 100; ++step) {
    if (step > 0) tape.replay(first);
    const auto [value, g] = value_and_grad([&](const Var& v) { return my_loss(v, Var(X), Var(Y)); }, expected);
    CHECK(loss.value().item() == Approx(value).epsilon(1e-12));
    descend(loss, w, 0.05);
    for (std::size_t i = 0; i < expected.size(); ++i) expected.flat(i) -= 0.05 * g.flat(i);
  }
  CHECK(rel_error(w.value(), expected) < 1e-12);  // 100 steps: rounding of the folded step adds up
  CHECK(rel_error(w.value(), w0) > 1e-3);
}

TEST_CASE("matmul kernels: C = α op(A) op(B) and C += α op(A) op(B)", "[gemm]") {
  rc::prop("α and β = 1 against the triple loop", [] {
    const auto size = [] { return *rc::gen::inRange<std::size_t>(1, 41); };
    const std::size_t m = size(), n = size(), p = size();
    const bool ta = *rc::gen::arbitrary<bool>(), tb = *rc::gen::arbitrary<bool>(), add = *rc::gen::arbitrary<bool>();
    const double alpha = *rc::gen::element(1.0, -0.25, 3.0);
    const auto seed = *rc::gen::inRange<std::uint64_t>(0, 1u << 30);
    const Tensor a = uniform(ta ? Shape{n, m} : Shape{m, n}, seed), b = uniform(tb ? Shape{p, n} : Shape{n, p}, seed + 1);
    const Tensor c0 = uniform({m, p}, seed + 2);
    Tensor c = c0;
    detail::gemm(ta, tb, m, p, n, a.data(), a.shape()[1], b.data(), b.shape()[1], c.data(), add, alpha);
    Tensor expected = matmul(a, b, ta, tb);
    for (std::size_t i = 0; i < expected.size(); ++i)
      expected.flat(i) = (add ? c0.flat(i) : 0.0) + alpha * expected.flat(i);
    RC_ASSERT(rel_error(c, expected) < 1e-13);
  });
}
