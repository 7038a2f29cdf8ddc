#include "autodiff/explain.hpp"

#include <array>
#include <ostream>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "autodiff/backward.hpp"

namespace autodiff {
namespace {

// One derivative rule in words: the contribution of an op to input `input` (−1: any input),
// written with {g} for the incoming cotangent (reverse: ḡ, forward: the input's tangent),
// {x} and {y} for the op's inputs, {out} for its output and {s} for its scalar attribute. For
// elementwise ops the same expression is the VJP and the JVP term (their Jacobian is diagonal).
struct Formula {
  std::string_view op;
  int input;
  std::string_view words;
};

constexpr std::array<Formula, 24> kFormulas = {{
    {"add", -1, "{g}"},
    {"sub", 0, "{g}"},
    {"sub", 1, "-{g}"},
    {"mul", 0, "{g}·{y}"},
    {"mul", 1, "{g}·{x}"},
    {"div", 0, "{g}/{y}"},
    {"div", 1, "-{g}·{out}/{y}"},
    {"pow", 0, "{g}·{y}·{x}^({y} - 1)"},
    {"pow", 1, "{g}·{out}·log({x})"},
    {"scale", -1, "{g}·{s}"},
    {"add_scalar", -1, "{g}"},
    {"pow_scalar", -1, "{g}·{s}·{x}^({s} - 1)"},
    {"neg", -1, "-{g}"},
    {"square", -1, "{g}·2·{x}"},
    {"sqrt", -1, "{g}·0.5/{out}"},
    {"exp", -1, "{g}·{out}"},
    {"log", -1, "{g}/{x}"},
    {"sin", -1, "{g}·cos({x})"},
    {"cos", -1, "-{g}·sin({x})"},
    {"tanh", -1, "{g}·(1 - {out}²)"},
    {"one_minus_square", -1, "{g}·(-2·{x})"},
    {"sigmoid", -1, "{g}·{out}·(1 - {out})"},
    {"relu", -1, "{g}·step({x})"},
    {"abs", -1, "{g}·sign({x})"},
}};

const Formula* find_formula(std::string_view op, std::uint32_t input) {
  for (const Formula& f : kFormulas)
    if (f.op == op && (f.input < 0 || f.input == static_cast<int>(input))) return &f;
  return nullptr;
}

// What the placeholders of a formula stand for: names (%3, ḡ) or numbers.
struct Terms {
  std::string g, x, y, out, s;
};

std::string render(std::string_view words, const Terms& terms) {
  std::string out;
  for (std::size_t i = 0; i < words.size();) {
    const auto try_replace = [&](std::string_view key, const std::string& with) {
      if (words.substr(i, key.size()) != key) return false;
      out += with;
      i += key.size();
      return true;
    };
    if (try_replace("{g}", terms.g) || try_replace("{x}", terms.x) || try_replace("{y}", terms.y) ||
        try_replace("{out}", terms.out) || try_replace("{s}", terms.s))
      continue;
    out += words[i++];
  }
  return out;
}

// A number inside a formula: negative ones in parentheses, so "1·(-0.4)" reads right.
std::string operand(double value, const ValueFormat& format) {
  const std::string text = format_number(value, format);
  return text.front() == '-' ? "(" + text + ")" : text;
}

std::string input_name(const Tape& tape, const Node& node, std::uint32_t position) {
  return position < node.n_inputs ? fmt::format("%{}", tape.input(node, position)) : std::string("?");
}

// The names and, when every tensor involved has one element, the numbers of a node's formula.
Terms names(const Tape& tape, std::uint32_t index, const std::string& g, const ValueFormat& format) {
  const Node& node = tape.node(index);
  return {g, input_name(tape, node, 0), input_name(tape, node, 1), fmt::format("%{}", index),
          format_number(node.attrs.scalar, format)};
}
std::optional<Terms> numbers(const Tape& tape, std::uint32_t index, const Tensor& g, const ValueFormat& format) {
  const Node& node = tape.node(index);
  if (g.size() != 1 || node.value.size() != 1) return std::nullopt;
  for (std::uint32_t i = 0; i < node.n_inputs; ++i)
    if (tape.node(tape.input(node, i)).value.size() != 1) return std::nullopt;
  const auto input_value = [&](std::uint32_t i) {
    return i < node.n_inputs ? operand(tape.node(tape.input(node, i)).value.flat(0), format) : std::string("?");
  };
  return Terms{operand(g.flat(0), format), input_value(0), input_value(1), operand(node.value.flat(0), format),
               format_number(node.attrs.scalar, format)};
}

// "words = numbers = result", leaving out a middle step that says nothing new.
std::string equation(const std::string& words, const std::optional<std::string>& numbers, const std::string& result) {
  std::string out = words;
  if (numbers && *numbers != words && *numbers != result) out += " = " + *numbers;
  return out + " = " + result;
}

class ExplainObserver final : public SweepObserver {
 public:
  ExplainObserver(std::ostream& out, const ExplainOptions& options) : out_(out), format_(options.format) {}

  void begin(const Tape& tape, std::uint32_t output, const Tensor& seed) override {
    out_ << "reverse sweep from " << node_expression(tape, output, format_) << " with seed ḡ = "
         << format_tensor(seed, format_) << '\n';
  }
  void reached(const Tape& tape, std::uint32_t node, const Tensor& adjoint) override {
    const Node& n = tape.node(node);
    out_ << node_expression(tape, node, format_) << (n.op == nullptr ? ": adjoint = " : ": ḡ = ")
         << format_tensor(adjoint, format_) << '\n';
  }
  void contributed(const Tape& tape, std::uint32_t node, std::uint32_t position, const Tensor& adjoint,
                   const Tensor& term) override {
    const Node& n = tape.node(node);
    const std::string result = format_tensor(term, format_);
    std::string text;
    if (const Formula* formula = find_formula(n.op->name, position)) {
      const auto values = numbers(tape, node, adjoint, format_);
      text = equation(render(formula->words, names(tape, node, "ḡ", format_)),
                      values ? std::optional(render(formula->words, *values)) : std::nullopt, result);
    } else {
      text = fmt::format("vjp of {} for input {} applied to ḡ = {}", n.op->name, position, result);
    }
    out_ << node_expression(tape, node, format_) << ": adjoint of " << input_name(tape, n, position)
         << " += " << text << '\n';
  }
  void end(const Tape&) override {}

 private:
  std::ostream& out_;
  ValueFormat format_;
};

}  // namespace

ExplainScope::ExplainScope(std::ostream& out, const ExplainOptions& options)
    : observer_(std::make_unique<ExplainObserver>(out, options)) {
  watching_.emplace(*observer_);
}

ExplainScope::~ExplainScope() { watching_.reset(); }

std::string explain_gradient(const Var& y, const Var& x, const ExplainOptions& options) {
  y.tape();  // a clear error for a default-constructed or dead Var
  std::ostringstream os;
  {
    const ExplainScope explaining(os, options);
    gradient(y, x);
  }
  return os.str();
}

std::string explain_tangents(const Var& y, const ExplainOptions& options) {
  const Tape& tape = y.tape();  // a clear error for a default-constructed or dead Var
  const ValueFormat& format = options.format;
  std::ostringstream os;
  for (std::uint32_t k = 0; k <= y.index(); ++k) {
    const Node& node = tape.node(k);
    if (!node.has_tangent) continue;
    const std::string total = format_tensor(node.tangent, format);
    os << node_expression(tape, k, format) << ": tangent = ";
    if (node.op == nullptr) {
      os << total << " (given)\n";
      continue;
    }
    std::vector<std::string> words, values;
    bool all_known = true, all_numbers = true;
    for (std::uint32_t i = 0; i < node.n_inputs; ++i) {
      const Node& input = tape.node(tape.input(node, i));
      if (!input.has_tangent) continue;
      const Formula* formula = find_formula(node.op->name, i);
      all_known &= formula != nullptr;
      if (formula == nullptr) {
        words.push_back(fmt::format("d%{}", tape.input(node, i)));
        continue;
      }
      words.push_back(render(formula->words, names(tape, k, fmt::format("d%{}", tape.input(node, i)), format)));
      const auto number_terms = numbers(tape, k, input.tangent, format);
      all_numbers &= number_terms.has_value();
      if (number_terms) values.push_back(render(formula->words, *number_terms));
    }
    const auto joined = [](const std::vector<std::string>& parts) {
      std::string out;
      for (std::size_t p = 0; p < parts.size(); ++p) out += (p ? " + " : "") + parts[p];
      return out;
    };
    if (!all_known) {
      os << fmt::format("jvp of {}({}) = {}\n", node.op->name, joined(words), total);
      continue;
    }
    os << equation(joined(words), all_numbers ? std::optional(joined(values)) : std::nullopt, total) << '\n';
  }
  return os.str();
}

}  // namespace autodiff
