// segment_matmul (a layer's product with its block of the flat parameter vector, read in place),
// assemble with multi-axis pieces (how the recorded sweep gathers such blocks' cotangents), and
// the matrix-product kernels under both (autodiff/gemm.cpp).
//
// Tolerances:
//   values vs hand loops                       1e-13 relative (summation order, FMA)
//   values vs matmul(x, segment(w))            1e-13 relative (a different kernel may be chosen)
//   derivatives vs finite differences          1e-6, check_derivatives' default
//   AD vs AD (composite vs fused, fwd vs rev)  1e-12 relative
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "autodiff/autodiff.hpp"
#include "autodiff_helpers.hpp"

namespace {

using namespace autodiff;

using autodiff_test::rel_error;
using autodiff_test::uniform;

// op(A) op(B) by the textbook triple loop, for matrices.
Tensor naive_product(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const std::size_t m = ta ? a.shape()[1] : a.shape()[0], n = ta ? a.shape()[0] : a.shape()[1];
  const std::size_t p = tb ? b.shape()[0] : b.shape()[1];
  Tensor c = Tensor::zeros({m, p});
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < p; ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < n; ++k) s += (ta ? a(k, i) : a(i, k)) * (tb ? b(j, k) : b(k, j));
      c(i, j) = s;
    }
  return c;
}

// The derivative checks both layer ops get, on f: R^n -> tensors: finite differences of f and of
// a scalar of it (check_derivatives, 1e-6); jacfwd against jacrev, the HVP against the Hessian, and
// hvp's shortcut (gradient_tangent: blocks' tangents GEMMed into the sum) against the recorded
// gradient's tangent (1e-12).
template <class F>
void check_layer_derivatives(const F& f, const Tensor& z, std::uint64_t seed) {
  const CheckReport r = check_derivatives(f, z);
  const CheckReport s = check_derivatives([&](const Var& v) { return sum(square(f(v))); }, z);
  INFO(r.summary() << "\n" << s.summary());
  CHECK(r.passed());
  CHECK(s.passed());
  CHECK(rel_error(jacfwd(f, z), jacrev(f, z)) < 1e-12);
  const auto scalar = [&](const Var& v) { return sum(sin(f(v))); };
  const Tensor H = hessian(scalar, z), v = uniform(z.shape(), seed);
  CHECK(rel_error(matmul(H, v), hvp(scalar, z, v)) < 1e-12);
  TapeScope scope;
  const Var w = scope.tape().variable(z, v);
  const Var y = scalar(w);
  const Tensor recorded = gradient_var(y, w).tangent();  // a copy: recording more moves the nodes
  CHECK(rel_error(gradient_tangent(y, w), recorded) < 1e-12);
}

}  // namespace

TEST_CASE("matmul kernels: every transpose case on sizes crossing the register blocks and tails", "[gemm]") {
  // Rows in blocks of 4 and 2 and single rows, columns in blocks of 8 and 4 and tails, k in
  // steps of 4 and a remainder; up to 40 each, so some products go to OpenBLAS (> 2^15 terms).
  rc::prop("op(A) op(B) against the triple loop", [] {
    const auto size = [] { return *rc::gen::inRange<std::size_t>(1, 41); };
    const std::size_t m = size(), n = size(), p = size();
    const bool ta = *rc::gen::arbitrary<bool>(), tb = *rc::gen::arbitrary<bool>();
    const auto seed = *rc::gen::inRange<std::uint64_t>(0, 1u << 30);
    const Tensor a = uniform(ta ? Shape{n, m} : Shape{m, n}, seed), b = uniform(tb ? Shape{p, n} : Shape{n, p}, seed + 1);
    RC_ASSERT(rel_error(matmul(a, b, ta, tb), naive_product(a, b, ta, tb)) < 1e-13);
  });
  // The large-product path itself: 40 x 40 x 40 = 64000 terms.
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Tensor a = uniform({40, 40}, 1), b = uniform({40, 40}, 2);
      CHECK(rel_error(matmul(a, b, ta, tb), naive_product(a, b, ta, tb)) < 1e-13);
    }
}

TEST_CASE("segment_matmul: the value of matmul(x, segment(w, start, shape)) without the copy", "[ops][segment_matmul]") {
  rc::prop("value and gradients against the composite", [] {
    const auto size = [] { return *rc::gen::inRange<std::size_t>(1, 12); };
    const std::size_t rows = size(), n = size(), p = size(), start = *rc::gen::inRange<std::size_t>(0, 5);
    const bool tb = *rc::gen::arbitrary<bool>(), stacked = *rc::gen::arbitrary<bool>();
    const auto seed = *rc::gen::inRange<std::uint64_t>(0, 1u << 30);
    const Shape block = tb ? Shape{p, n} : Shape{n, p};
    const Shape x_shape = stacked ? Shape{2, rows, n} : Shape{rows, n};  // leading axes are rows too
    const Tensor x = uniform(x_shape, seed), w = uniform({start + n * p + 3}, seed + 1);
    const Tensor fused = segment_matmul(x, w, start, block, tb);
    const Tensor composite = matmul(x, segment(w, start, block), false, tb);
    RC_ASSERT(rel_error(fused, composite) < 1e-13);
    // Both inputs at once, from one flat vector: z = [x, w].
    const Tensor z = concat(std::vector<Tensor>{reshape(x, {x.size()}), w});
    const auto split = [&](const Var& v) {
      return std::pair{reshape(segment(v, 0, {x.size()}), x_shape), segment(v, x.size(), w.shape())};
    };
    const auto fused_f = [&](const Var& v) {
      const auto [xv, wv] = split(v);
      return sum(sin(segment_matmul(xv, wv, start, block, tb)));
    };
    const auto composite_f = [&](const Var& v) {
      const auto [xv, wv] = split(v);
      return sum(sin(matmul(xv, segment(wv, start, block), false, tb)));
    };
    RC_ASSERT(rel_error(grad(fused_f, z), grad(composite_f, z)) < 1e-12);
    const Tensor v = uniform(z.shape(), seed + 2);
    RC_ASSERT(rel_error(hvp(fused_f, z, v), hvp(composite_f, z, v)) < 1e-12);
  });
}

TEST_CASE("segment_matmul: derivatives against finite differences, forward against reverse", "[ops][segment_matmul]") {
  for (bool tb : {false, true}) {
    INFO("transpose_b " << tb);
    const Shape block = tb ? Shape{3, 4} : Shape{4, 3};
    const Tensor z = uniform({2 * 3 * 4 + 2 + 12 + 1}, 7);
    // x = z[0:24] as (2, 3, 4), the block at 26; the block is used twice (its cotangent adds up in
    // place) and the product is bilinear, so the HVP is not zero.
    const auto f = [&](const Var& v) {
      const Var x = reshape(segment(v, 0, {24}), {2, 3, 4});
      const Var once = segment_matmul(x, v, 26, block, tb);                 // (2, 3, 3)
      return segment_matmul(tanh(once), v, 26, block, !tb);                 // (2, 3, 4)
    };
    check_layer_derivatives(f, z, 8);
  }
}

TEST_CASE("segment_matmul: a block that does not fit, or inner sizes that differ, throw naming the op", "[ops][segment_matmul]") {
  const Tensor x = Tensor::ones({2, 3}), w = Tensor::ones({10});
  CHECK_THROWS_WITH(segment_matmul(x, w, 2, {3, 3}, false), Catch::Contains("segment_matmul") && Catch::Contains("[10]"));
  CHECK_THROWS_WITH(segment_matmul(x, w, 0, {2, 4}, false), Catch::Contains("segment_matmul") && Catch::Contains("inner"));
  CHECK_THROWS_WITH(segment_matmul(x, Tensor::ones({3, 3}), 0, {3, 3}, false), Catch::Contains("flat vector"));
  CHECK_NOTHROW(segment_matmul(x, w, 1, {3, 3}, false));
}

TEST_CASE("segment_affine: α x op(B) + β b in one node, b right after B", "[ops][segment_matmul]") {
  for (bool tb : {false, true}) {
    INFO("transpose_b " << tb);
    const Shape block = tb ? Shape{3, 4} : Shape{4, 3};  // 4 inputs, 3 outputs
    const Tensor z = uniform({2 * 3 * 4 + 2 + 12 + 3 + 1}, 17);
    // Value: the composite it replaces (1e-13; the same kernels, α applied to the product's sums).
    const Tensor x = uniform({2, 3, 4}, 18);
    const Tensor composite =
        add(scale(segment_matmul(x, z, 26, block, tb), 0.7), scale(segment(z, 38, {3}), -1.3));
    CHECK(rel_error(segment_affine(x, z, 26, block, tb, 0.7, -1.3), composite) < 1e-13);
    const auto f = [&](const Var& v) {
      const Var xv = reshape(segment(v, 0, {24}), {2, 3, 4});
      const Var once = segment_affine(xv, v, 26, block, tb, 0.7, -1.3);  // (2, 3, 3)
      return segment_matmul(tanh(once), v, 26, block, !tb);             // (2, 3, 4)
    };
    check_layer_derivatives(f, z, 19);
  }
  // A layer without its multipliers, in a loss: the gradient through one node equals the four.
  const Tensor x = uniform({5, 3}, 20), w0 = uniform({3 * 4 + 4}, 21);
  const auto fused = [&](const Var& w) { return sum(square(segment_affine(Var(x), w, 0, {4, 3}, true))); };
  const auto four = [&](const Var& w) {
    return sum(square(segment_matmul(Var(x), w, 0, {4, 3}, true) + segment(w, 12, {4})));
  };
  CHECK(rel_error(grad(fused, w0), grad(four, w0)) < 1e-13);
  CHECK_THROWS_WITH(segment_affine(x, w0, 1, {4, 3}, true), Catch::Contains("bias of 4") && Catch::Contains("[16]"));
  CHECK_THROWS_WITH(segment_affine(x, w0, 0, {12}, true), Catch::Contains("must be a matrix"));
}

TEST_CASE("assemble: pieces of any shape read flat, behind shared leading axes", "[ops][assemble]") {
  // z holds a (2, 3) piece and a (2, 2) piece; with lead = 1 they are laid at offsets 1 and 4 of
  // a (2, 7) result (each row of a piece goes to its row of the result).
  const Tensor z = uniform({10}, 3);
  const auto f = [](const Var& v) {
    const Var a = segment(v, 0, {2, 3}), b = segment(v, 6, {2, 2});
    return assemble({a, b}, {1, 4}, 7, 1);
  };
  const Tensor y = f(Var(z)).value();
  REQUIRE(y.shape() == Shape{2, 7});
  for (std::size_t row = 0; row < 2; ++row) {
    CHECK(y(row, 0) == 0.0);
    for (std::size_t k = 0; k < 3; ++k) CHECK(y(row, 1 + k) == z.flat(row * 3 + k));
    for (std::size_t k = 0; k < 2; ++k) CHECK(y(row, 4 + k) == z.flat(6 + row * 2 + k));
  }
  // Without leading axes a (2, 2) piece is four consecutive numbers; overlaps add up.
  const auto g = [](const Var& v) { return assemble({segment(v, 0, {2, 2}), segment(v, 4, {3})}, {0, 2}, 6); };
  const Tensor y2 = g(Var(z)).value();
  CHECK(y2(2) == z.flat(2) + z.flat(4));
  CHECK(y2(5) == 0.0);
  for (const auto& fn : {std::function<Var(const Var&)>(f), std::function<Var(const Var&)>(g)}) {
    const CheckReport r = check_derivatives([&](const Var& v) { return sum(sin(fn(v))); }, z);
    INFO(r.summary());
    CHECK(r.passed());
    CHECK(rel_error(jacfwd(fn, z), jacrev(fn, z)) < 1e-12);
  }
  CHECK_THROWS_WITH(assemble({Var(Tensor::ones({3}))}, {5}, 6), Catch::Contains("assemble: piece of shape [3] at 5"));
}

TEST_CASE("tensor storage: aligned, reused, and freed from any thread", "[tensor][storage]") {
  // Sizes at and just past the size classes' edges (64 bytes = 8 doubles, doubling): every element
  // is written and read back (under valgrind, an overrun would show).
  for (std::size_t n : {0u, 1u, 3u, 8u, 9u, 16u, 17u, 100u, 1000u, 100000u, 1u << 20, (1u << 20) + 1}) {
    const Tensor t = Tensor::full({n}, 2.5);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 32 == 0);  // xsimd's aligned loads
    CHECK(std::all_of(t.data(), t.data() + n, [](double v) { return v == 2.5; }));
  }
  const double* first = nullptr;
  {
    const Tensor t = Tensor::ones({1000});
    first = t.data();
  }
  const Tensor again = Tensor::full({900}, 2.0);  // the same size class: the freed block comes back
  CHECK(again.data() == first);
  CHECK(again.flat(899) == 2.0);
  std::optional<Tensor> from_thread;
  std::thread([&] { from_thread.emplace(Tensor::ones({5000})); }).join();  // its thread has ended
  CHECK(from_thread->flat(4999) == 1.0);
  from_thread.reset();  // freed here, into this thread's lists
  CHECK(Tensor::ones({5000}).flat(4999) == 1.0);
}

TEST_CASE("gradient_tangent: the recorded gradient's tangent, without forming the gradient", "[transforms][hvp]") {
  // A two-layer net on a flat w (weight blocks through segment_matmul, biases through segment)
  // plus a term that reads w directly, so some of w̄ comes by routes that are not pieces.
  const Tensor x = uniform({5, 3}, 11), w0 = uniform({3 * 4 + 4 + 4 * 2}, 12), v = uniform(w0.shape(), 13);
  const auto f = [&](const Var& w) {
    const Var h = tanh(segment_matmul(Var(x), w, 0, {4, 3}, true) + segment(w, 12, {4}));
    const Var out = segment_matmul(h, w, 16, {4, 2}, false);
    return sum(square(out)) + sum(sin(w));
  };
  const auto via_graph = [&](const Tensor& at, const Tensor& dir) {
    TapeScope scope;
    const Var w = scope.tape().variable(at, dir);
    return gradient_var(f(w), w).tangent();
  };
  const auto shortcut = [&](const Tensor& at, const Tensor& dir) {
    TapeScope scope;
    const Var w = scope.tape().variable(at, dir);
    return gradient_tangent(f(w), w);
  };
  CHECK(rel_error(shortcut(w0, v), via_graph(w0, v)) < 1e-12);
  CHECK(rel_error(hvp(f, w0, v), via_graph(w0, v)) < 1e-12);
  const Tensor H = hessian(f, w0);
  CHECK(rel_error(hvp(f, w0, v), matmul(H, v)) < 1e-12);
  // With a batch of tangents it takes the plain route: columns of the Hessian.
  {
    TapeScope scope;
    scope.tape().set_tangent_batch({w0.size()});
    Tensor eye = Tensor::zeros({w0.size(), w0.size()});
    for (std::size_t i = 0; i < w0.size(); ++i) eye(i, i) = 1.0;
    const Var w = scope.tape().variable(w0, eye);
    CHECK(rel_error(gradient_tangent(f(w), w), H) < 1e-12);
  }
  // An input that does not reach the output: zeros.
  {
    TapeScope scope;
    const Var w = scope.tape().variable(w0, v);
    const Var unrelated = scope.tape().variable(w0, v);
    const Tensor t = gradient_tangent(f(w), unrelated);
    CHECK(t.shape() == w0.shape());
    CHECK(rel_error(t, Tensor::zeros(w0.shape())) == 0.0);
  }
}
