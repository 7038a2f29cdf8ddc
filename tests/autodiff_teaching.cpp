// The teaching tools: the tape listing with adjoints and tangents (autodiff/listing.hpp), the
// Graphviz export (autodiff/dot.hpp), the per-node adjoints of a sweep and its observer
// (autodiff/observe.hpp) and the explain mode (autodiff/explain.hpp). The toy model is the one
// of "Understanding the Neural Tangent Kernel" (Rajat V D, 2019),
//     f(x, w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4),   x = 1.5, w0 = 0.4,
// recorded one statement per step so node numbers do not depend on the compiler:
//     %0 w, %1 = scale(%0; 1.5), %2 = square(%0), %3 = scale(%2; 1.5), %4 = scale(%0; 0.1),
//     %5 = exp(%4), %6 = sin(%5), %7 = add(%1, %3), %8 = add(%7, %6), %9 = add_scalar(%0; −0.4),
//     %10 = mul(%8, %9).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "autodiff/autodiff.hpp"
#include "autodiff_helpers.hpp"
#include "scratch_dir.hpp"

namespace {

using namespace autodiff;

constexpr double kX = 1.5;
constexpr double kW0 = 0.4;
constexpr double kSlopeAtW0 = 1.7028143740658408;  // f'(w0) = g(w0), the post's "≈ 1.703"

Var toy(const Var& w) {
  const Var linear = w * kX;
  const Var quadratic = square(w) * kX;
  const Var wiggle = sin(exp(0.1 * w));
  const Var g = linear + quadratic + wiggle;
  const Var h = w - 0.4;
  return g * h;
}

// f'(w) in closed form (tests/autodiff_toy_model.cpp derives it): g'(w) h(w) + g(w).
double toy_slope(double w) {
  const double e = std::exp(0.1 * w);
  const double g = w * kX + w * w * kX + std::sin(e), g1 = kX + 2.0 * w * kX + 0.1 * e * std::cos(e);
  return g1 * (w - 0.4) + g;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count_lines_matching(const std::string& text, const std::regex& pattern) {
  std::istringstream lines(text);
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line);) count += std::regex_search(line, pattern) ? 1 : 0;
  return count;
}

// The number after the last " = " of every line that contains `marker`.
std::vector<double> results_of_lines_with(const std::string& text, const std::string& marker) {
  std::istringstream lines(text);
  std::vector<double> out;
  for (std::string line; std::getline(lines, line);)
    if (contains(line, marker)) out.push_back(std::stod(line.substr(line.rfind(" = ") + 3)));
  return out;
}

// A two-layer net on a flat weight vector w of 21 entries (fused layers: segment_affine, a 3×4
// block and 4 biases, then a 1×4 block used transposed and 1 bias), summed to one number.
Var small_net(const Var& w, const Var& x) {
  const Var hidden = tanh(segment_affine(x, w, 0, {3, 4}, false, 0.5, 0.25));
  return sum(segment_affine(hidden, w, 16, {1, 4}, true));
}

}  // namespace

TEST_CASE("teaching: the listing shows attributes values and adjoints equal to gradient", "[teaching]") {
  TapeScope scope;
  const Var w = scope.tape().variable(Tensor(kW0));
  const Var f = toy(w);
  const std::vector<std::optional<Tensor>> adjoint = adjoints(f);
  REQUIRE(adjoint.size() == scope.tape().size());
  REQUIRE(adjoint[w.index()].has_value());
  CHECK(adjoint[w.index()]->item() == gradient(f, w).item());  // the same sweep: bitwise
  CHECK(adjoint[w.index()]->item() == Approx(kSlopeAtW0).epsilon(1e-14));
  CHECK(adjoint[f.index()]->item() == 1.0);  // the seed
  CHECK(adjoint[9]->item() == Approx(kSlopeAtW0).epsilon(1e-14));  // ḡ of h = w − 0.4 is g(w0)
  CHECK(adjoint[8]->item() == 0.0);                                  // ḡ of g is h(w0) = 0

  const std::string table = listing(f);
  INFO(table);
  CHECK(contains(table, "adjoint"));
  CHECK(contains(table, "scalar=0.1"));
  CHECK(contains(table, "scalar=1.5"));
  CHECK(contains(table, "scalar=-0.4"));
  CHECK(contains(table, "add_scalar"));
  CHECK(contains(table, "1.70281"));
  CHECK_FALSE(contains(table, "tangent"));  // no tangents on this tape
  CHECK(count_lines_matching(table, std::regex("^%[0-9]+ ")) == scope.tape().size());
  CHECK(node_expression(scope.tape(), 4) == "%4 = scale(%0; scalar=0.1)");
  CHECK(node_expression(scope.tape(), 0) == "%0 = variable");
}

TEST_CASE("teaching: the listing shows tangents of forward mode and a fused layer's block", "[teaching]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(autodiff_test::uniform({21}, 1), autodiff_test::uniform({21}, 2));
  const Var x = tape.constant(autodiff_test::uniform({2, 3}, 3));
  const Var y = small_net(w, x);
  const std::string table = listing(y);
  INFO(table);
  CHECK(contains(table, "tangent"));
  CHECK(contains(table, "segment_matmul"));
  CHECK(contains(table, "scalar=0.5, count=4, shape=[3, 4], bias_scale=0.25"));
  CHECK(contains(table, "scalar=1, start=16, count=1, shape=[1, 4], transpose_b"));
  CHECK(contains(table, "…] norm "));  // w has 21 entries: abbreviated
  // The adjoints come from the slow path of the sweep (one tensor per contribution), the
  // gradient from the in-place one: the same numbers.
  const auto adjoint = adjoints(y);
  CHECK(autodiff_test::rel_error(*adjoint[w.index()], gradient(y, w)) <= 1e-14);
  CHECK_FALSE(adjoint[x.index()].has_value());  // a constant gets no adjoint
}

TEST_CASE("teaching: tensors and numbers print with fixed precision", "[teaching]") {
  CHECK(format_number(-0.0) == "0");
  CHECK(format_number(1.0 / 3.0) == "0.333333");
  CHECK(format_number(1.0 / 3.0, {.precision = 3}) == "0.333");
  CHECK(format_tensor(Tensor(2.5)) == "2.5");
  CHECK(format_tensor(Tensor{1.0, 2.0}) == "[1, 2]");
  CHECK(format_tensor(Tensor::ones({10})) == "[1, 1, 1, 1, …] norm 3.16228");
  CHECK(describe_attributes(Attrs{}).empty());
  CHECK(describe_attributes(Attrs{.axis = -2, .offsets = {0, 3}}) == "axis=-2, offsets=[0, 3]");
}

TEST_CASE("teaching: to_dot draws one node per tape node and numbered edges", "[teaching]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(Tensor(kW0), Tensor(1.0));
  const Var f = toy(w);
  const std::size_t forward_nodes = tape.size();
  const Var g = gradient_var(f, w);  // forward over reverse: the backward pass is recorded
  CHECK(g.tangent().item() == Approx(hvp(toy, Tensor(kW0), Tensor(1.0)).item()).epsilon(1e-14));
  const std::string dot = to_dot(tape, {.pass_starts = {forward_nodes}, .title = "HVP"});
  INFO(dot);
  std::size_t edges = 0;
  for (std::uint32_t k = 0; k < tape.size(); ++k) edges += tape.node(k).n_inputs;
  CHECK(dot.rfind("digraph tape {", 0) == 0);
  CHECK(dot.substr(dot.size() - 2) == "}\n");
  CHECK(count_lines_matching(dot, std::regex(R"(^  n[0-9]+ \[label=)")) == tape.size());
  CHECK(count_lines_matching(dot, std::regex(R"(^  n[0-9]+ -> n[0-9]+ \[label="[0-9]+"\];$)")) == edges);
  CHECK(contains(dot, "n9 -> n10 [label=\"1\"]"));  // h is mul's second input
  CHECK(contains(dot, "ṫ = "));
  CHECK(contains(dot, "#f4cccc"));  // the recorded backward pass's colour
  CHECK(contains(dot, "recorded by backward pass 1 (from %11)"));

  // With adjoints, from a Var.
  const std::string forward = to_dot(f);
  CHECK(count_lines_matching(forward, std::regex(R"(^  n[0-9]+ \[label=)")) == forward_nodes);
  CHECK(contains(forward, "ḡ = 1.703"));

  // Graphviz accepts it, where it is installed (Debian's graphviz).
  if (std::system("command -v dot > /dev/null 2>&1") == 0) {
    const test_support::ScratchDir dir("teaching_dot");
    for (const std::string& text : {dot, forward}) {
      const std::string path = (dir.path() / "graph.dot").string();
      std::ofstream(path) << text;
      CHECK(std::system(("dot -Tsvg '" + path + "' -o '" + (dir.path() / "graph.svg").string() + "'").c_str()) == 0);
    }
  }
}

TEST_CASE("teaching: explain prints every rule of the toy model's sweep with its numbers", "[teaching]") {
  TapeScope scope;
  const Var w = scope.tape().variable(Tensor(kW0));
  const Var f = toy(w);
  const std::string text = explain_gradient(f, w);
  INFO(text);
  CHECK(contains(text, "reverse sweep from %10 = mul(%8, %9) with seed ḡ = 1\n"));
  CHECK(contains(text, "%10 = mul(%8, %9): adjoint of %8 += ḡ·%9 = 1·0 = 0\n"));
  CHECK(contains(text, "%10 = mul(%8, %9): adjoint of %9 += ḡ·%8 = 1·1.70281 = 1.70281\n"));
  CHECK(contains(text, "%9 = add_scalar(%0; scalar=-0.4): adjoint of %0 += ḡ = 1.70281\n"));
  CHECK(contains(text, "%6 = sin(%5): adjoint of %5 += ḡ·cos(%5) = 0·cos(1.04081) = 0\n"));
  CHECK(contains(text, "%4 = scale(%0; scalar=0.1): adjoint of %0 += ḡ·0.1 = 0·0.1 = 0\n"));
  CHECK(contains(text, "%2 = square(%0): adjoint of %0 += ḡ·2·%0 = 0·2·0.4 = 0\n"));
  CHECK(contains(text, "%0 = variable: adjoint = 1.70281\n"));

  // The contributions to w's adjoint add up to the gradient.
  const ExplainOptions precise{.format = {.precision = 17}};
  const std::vector<double> terms = results_of_lines_with(explain_gradient(f, w, precise), "adjoint of %0 += ");
  CHECK(terms.size() == 4);  // w is read by four ops
  double total = 0.0;
  for (double t : terms) total += t;
  CHECK(total == Approx(kSlopeAtW0).epsilon(1e-15));
}

TEST_CASE("teaching: explain away from w0 where every path carries an adjoint", "[teaching]") {
  TapeScope scope;
  const Var w = scope.tape().variable(Tensor(1.0));
  const Var f = toy(w);
  const std::string text = explain_gradient(f, w, {.format = {.precision = 17}});
  INFO(text);
  const std::vector<double> terms = results_of_lines_with(text, "adjoint of %0 += ");
  REQUIRE(terms.size() == 4);
  double total = 0.0;
  for (double t : terms) {
    CHECK(t != 0.0);
    total += t;
  }
  CHECK(total == Approx(toy_slope(1.0)).epsilon(1e-14));
  CHECK(results_of_lines_with(text, "%0 = variable: adjoint = ").at(0) == Approx(toy_slope(1.0)).epsilon(1e-15));
}

TEST_CASE("teaching: explain mode off prints nothing and leaves gradients unchanged", "[teaching]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var w = tape.variable(autodiff_test::uniform({21}, 4));
  const Var x = tape.constant(autodiff_test::uniform({2, 3}, 5));
  const Var y = small_net(w, x);
  CHECK(sweep_observer() == nullptr);
  const Tensor plain = gradient(y, w);
  std::ostringstream out;
  Tensor explained;
  {
    const ExplainScope explaining(out);
    CHECK(sweep_observer() != nullptr);
    explained = gradient(y, w);
  }
  CHECK(sweep_observer() == nullptr);
  CHECK(contains(out.str(), "vjp of segment_matmul for input 1 applied to ḡ = "));
  CHECK(contains(out.str(), "tanh(%"));
  CHECK(autodiff_test::rel_error(plain, explained) <= 1e-14);
  const std::size_t written = out.str().size();
  const Tensor again = gradient(y, w);  // off again: nothing more is written, the same numbers
  CHECK(out.str().size() == written);
  CHECK(again.shape() == plain.shape());
  for (std::size_t i = 0; i < plain.size(); ++i) CHECK(again.flat(i) == plain.flat(i));
}

TEST_CASE("teaching: forward mode explained from the tangents on the tape", "[teaching]") {
  TapeScope scope;
  const Var w = scope.tape().variable(Tensor(kW0), Tensor(1.0));
  const Var f = toy(w);
  const std::string text = explain_tangents(f);
  INFO(text);
  CHECK(contains(text, "%0 = variable: tangent = 1 (given)\n"));
  CHECK(contains(text, "%1 = scale(%0; scalar=1.5): tangent = d%0·1.5 = 1·1.5 = 1.5\n"));
  CHECK(contains(text, "%7 = add(%1, %3): tangent = d%1 + d%3 = 1.5 + 1.2 = 2.7\n"));
  CHECK(contains(text, "%10 = mul(%8, %9): tangent = d%8·%9 + d%9·%8 = 2.75262·0 + 1·1.70281 = 1.70281\n"));
  CHECK(f.tangent().item() == Approx(kSlopeAtW0).epsilon(1e-14));
}

namespace {
// x ↦ 3x, applied through a VJP of its own (a sweep nested in the outer sweep's rule).
class TripleByVjp : public LinearOperator {
 public:
  Shape in_shape() const override { return {2}; }
  Shape out_shape() const override { return {2}; }
  Tensor apply(const Tensor& x) const override { return scale(x, 3.0); }
  Tensor apply_transpose(const Tensor& y) const override {
    return vjp([](const Var& v) { return scale(v, 3.0); }, Tensor::zeros({2}), y).second;
  }
};
}  // namespace

TEST_CASE("teaching: sweeps nested in a rule are not observed", "[teaching]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{1.0, 2.0});
  const Var y = sum(square(apply_linear(std::make_shared<TripleByVjp>(), x)));
  const auto adjoint = adjoints(y);  // the nested sweep runs on another tape: not collected
  CHECK(autodiff_test::rel_error(*adjoint[x.index()], Tensor{18.0, 36.0}) <= 1e-15);
  const std::string text = explain_gradient(y, x);
  INFO(text);
  CHECK(count_lines_matching(text, std::regex("^reverse sweep from")) == 1);
  CHECK(contains(text, "vjp of apply_linear for input 0 applied to ḡ = [18, 36]"));
}

TEST_CASE("teaching: bad input gives clear errors", "[teaching]") {
  TapeScope scope;
  const Var w = scope.tape().variable(Tensor(kW0));
  const Var f = toy(w);
  const auto adjoint = adjoints(f);
  CHECK_THROWS_WITH(listing(Var{}), Catch::Contains("uninitialized Var"));
  CHECK_THROWS_WITH(to_dot(Var{}), Catch::Contains("uninitialized Var"));
  CHECK_THROWS_WITH(explain_tangents(Var{}), Catch::Contains("uninitialized Var"));
  CHECK_THROWS_WITH(adjoints(f, Tensor{1.0, 2.0}), Catch::Contains("seed has shape [2]"));
  CHECK_THROWS_WITH(adjoints(sum(w * Tensor{1.0, 2.0}) * Tensor{1.0, 1.0}), Catch::Contains("one-element"));
  CHECK_THROWS_WITH(to_dot(scope.tape(), {.first = 5, .last = 2}), Catch::Contains("first node 5 is after"));
  CHECK_THROWS_WITH(to_dot(scope.tape(), {.pass_starts = {5, 2}}), Catch::Contains("increasing"));
  {
    TapeScope other;
    const Var v = other.tape().variable(Tensor(1.0));
    const Var g = toy(v) * 2.0;  // one node more than f's tape
    CHECK_THROWS_WITH(listing(other.tape(), {.adjoints = adjoint}), Catch::Contains("adjoints of another tape"));
    CHECK_THROWS_WITH(explain_gradient(g, w), Catch::Contains("different tape"));
  }
  const Var dead = f;
  scope.tape().rewind(0);
  CHECK_THROWS_WITH(listing(dead), Catch::Contains("cleared or rewound"));
  CHECK_THROWS_WITH(explain_gradient(dead, w), Catch::Contains("cleared or rewound"));
}
