#include "autodiff/dot.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "autodiff/observe.hpp"

namespace autodiff {
namespace {

// Fill colours: leaves, forward ops, then one per recorded backward pass (cycling).
constexpr const char* kVariableColour = "#cfe2f3";
constexpr const char* kConstantColour = "#eeeeee";
constexpr const char* kForwardColour = "#fff2cc";
constexpr std::array<const char*, 3> kPassColours = {"#f4cccc", "#d9ead3", "#d9d2e9"};
constexpr std::array<const char*, 3> kPassColourNames = {"red", "green", "violet"};

// Inside a DOT string: quotes and backslashes escaped, lines joined by DOT's centred break.
std::string quoted(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (std::size_t k = 0; k < lines.size(); ++k) {
    if (k) out += "\\n";
    for (char c : lines[k]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out + '"';
}

// Which backward pass recorded node k: 0 for the forward computation.
std::size_t pass_of(const std::vector<std::size_t>& pass_starts, std::size_t k) {
  return static_cast<std::size_t>(std::upper_bound(pass_starts.begin(), pass_starts.end(), k) - pass_starts.begin());
}

}  // namespace

std::string to_dot(const Tape& tape, const DotOptions& options) {
  detail::check_adjoints(tape, options.adjoints, "to_dot");
  const std::size_t end = detail::clamp_end(tape, options.first, options.last, "to_dot");
  if (!std::is_sorted(options.pass_starts.begin(), options.pass_starts.end()))
    throw Error("to_dot: pass_starts must be increasing node indices");

  std::ostringstream os;
  os << "digraph tape {\n"
        "  rankdir=BT;\n"
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
        "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#666666\"];\n";
  std::vector<std::string> legend;
  if (!options.title.empty()) legend.push_back(options.title);
  legend.push_back("blue: variables, grey: constants, yellow: forward ops");
  for (std::size_t j = 0; j < options.pass_starts.size(); ++j)
    legend.push_back(fmt::format("{}: recorded by backward pass {} (from %{})",
                                 kPassColourNames[j % kPassColourNames.size()], j + 1, options.pass_starts[j]));
  os << "  labelloc=t;\n  label=" << quoted(legend) << ";\n";

  std::set<std::uint32_t> stubs;  // inputs below `first`, drawn once
  for (std::size_t k = options.first; k < end; ++k) {
    const auto index = static_cast<std::uint32_t>(k);
    const Node& node = tape.node(index);
    std::vector<std::string> lines = {fmt::format("%{} {}", k, node_kind(node))};
    const std::string attributes = describe_attributes(node.attrs, options.format);
    if (!attributes.empty()) lines.push_back(attributes);
    if (node.value.dim() > 0) lines.push_back(to_string(node.value.shape()));
    if (options.values) lines.push_back("= " + format_tensor(node.value, options.format));
    if (!options.adjoints.empty() && options.adjoints[k])
      lines.push_back("ḡ = " + format_tensor(*options.adjoints[k], options.format));
    if (options.tangents && node.has_tangent) lines.push_back("ṫ = " + format_tensor(node.tangent, options.format));
    const std::size_t pass = pass_of(options.pass_starts, k);
    const char* colour = node.op == nullptr ? (node.requires_grad ? kVariableColour : kConstantColour)
                         : pass == 0       ? kForwardColour
                                           : kPassColours[(pass - 1) % kPassColours.size()];
    os << "  n" << k << " [label=" << quoted(lines) << ", fillcolor=\"" << colour << "\"];\n";
    for (std::uint32_t i = 0; i < node.n_inputs; ++i) {
      const std::uint32_t in = tape.input(node, i);
      if (in < options.first && stubs.insert(in).second)
        os << "  n" << in << " [label=\"%" << in << "\", style=\"rounded,dashed\"];\n";
      os << "  n" << in << " -> n" << k << " [label=\"" << i << "\"];\n";
    }
  }
  os << "}\n";
  return os.str();
}

std::string to_dot(const Var& y, DotOptions options) {
  Tape& tape = y.tape();  // a clear error for a default-constructed or dead Var
  if (options.adjoints.empty() && y.size() == 1) options.adjoints = adjoints(y);
  options.last = std::min<std::size_t>(options.last, y.index() + 1);
  return to_dot(tape, options);
}

}  // namespace autodiff
