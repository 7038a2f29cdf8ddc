#include "autodiff/listing.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <typeinfo>

#include <fmt/format.h>

#include "autodiff/linear_operator.hpp"
#include "autodiff/observe.hpp"

namespace autodiff {
namespace {

// Columns are padded by what a terminal shows, not by bytes: "ḡ" and "…" are one character each.
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const {
    std::vector<std::size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_)
      for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t c = 0; c < row.size(); ++c) {
        line += row[c];
        if (c + 1 < row.size()) line.append(widths[c] - display_width(row[c]) + 2, ' ');
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out += line + '\n';
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string shape_list(const Shape& shape) {
  std::string out = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
  return out + "]";
}

// The dynamic type of a linear map, readable ("ntk::(anonymous namespace)::JacobianMap").
std::string type_name(const LinearOperator& map) {
  const char* mangled = typeid(map).name();
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                         std::free);
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(mangled);
}

}  // namespace

std::string format_number(double value, const ValueFormat& format) {
  if (value == 0.0) value = 0.0;  // −0 → 0
  return fmt::format("{:.{}g}", value, std::max(1, format.precision));
}

std::string format_tensor(const Tensor& value, const ValueFormat& format) {
  if (value.size() == 1) return format_number(value.flat(0), format);
  const std::size_t shown = std::min(value.size(), std::max<std::size_t>(1, format.max_entries));
  std::string out = "[";
  for (std::size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + format_number(value.flat(i), format);
  if (shown == value.size()) return out + "]";
  double squares = 0.0;
  for (std::size_t i = 0; i < value.size(); ++i) squares += value.flat(i) * value.flat(i);
  return out + ", …] norm " + format_number(std::sqrt(squares), format);
}

std::string describe_attributes(const Attrs& a, const ValueFormat& format) {
  const Attrs defaults{};
  std::vector<std::string> parts;
  if (a.scalar != defaults.scalar) parts.push_back("scalar=" + format_number(a.scalar, format));
  if (a.axis != defaults.axis) parts.push_back(fmt::format("axis={}", a.axis));
  if (a.start != defaults.start) parts.push_back(fmt::format("start={}", a.start));
  if (a.count != defaults.count) parts.push_back(fmt::format("count={}", a.count));
  if (a.lead != defaults.lead) parts.push_back(fmt::format("lead={}", a.lead));
  if (a.shape != defaults.shape) parts.push_back("shape=" + shape_list(a.shape));
  if (a.linear) parts.push_back("linear=" + type_name(*a.linear));
  if (a.transposed != defaults.transposed) parts.push_back("transposed");
  if (a.transpose_a != defaults.transpose_a) parts.push_back("transpose_a");
  if (a.transpose_b != defaults.transpose_b) parts.push_back("transpose_b");
  if (a.offsets != defaults.offsets) parts.push_back("offsets=" + shape_list(a.offsets));
  if (a.bias_scale != defaults.bias_scale) parts.push_back("bias_scale=" + format_number(a.bias_scale, format));
  std::string out;
  for (std::size_t k = 0; k < parts.size(); ++k) out += (k ? ", " : "") + parts[k];
  return out;
}

std::string node_kind(const Node& node) {
  if (node.op != nullptr) return node.op->name;
  return node.requires_grad ? "variable" : "constant";
}

std::string node_expression(const Tape& tape, std::uint32_t index, const ValueFormat& format) {
  if (index >= tape.size())
    throw Error(fmt::format("node_expression: no node %{} on a tape of {} nodes", index, tape.size()));
  const Node& node = tape.node(index);
  std::string out = fmt::format("%{} = {}", index, node_kind(node));
  if (node.op == nullptr) return out;
  out += '(';
  for (std::uint32_t k = 0; k < node.n_inputs; ++k) out += fmt::format("{}%{}", k ? ", " : "", tape.input(node, k));
  const std::string attributes = describe_attributes(node.attrs, format);
  if (!attributes.empty()) out += "; " + attributes;
  return out + ')';
}

namespace detail {
// Adjoints must come from this tape's current recording (autodiff::adjoints gives one per node).
void check_adjoints(const Tape& tape, const std::vector<std::optional<Tensor>>& adjoints, const char* what) {
  if (!adjoints.empty() && adjoints.size() != tape.size())
    throw Error(fmt::format("{}: {} adjoints for a tape of {} nodes (adjoints of another tape or of an earlier "
                            "recording?): compute them with autodiff::adjoints on this tape",
                            what, adjoints.size(), tape.size()));
  for (std::size_t k = 0; k < adjoints.size(); ++k) {
    if (!adjoints[k]) continue;
    const Shape& value = tape.node(static_cast<std::uint32_t>(k)).value.shape();
    const Shape& adjoint = adjoints[k]->shape();
    if (adjoint.size() < value.size() || !std::equal(value.begin(), value.end(), adjoint.end() - static_cast<std::ptrdiff_t>(value.size())))
      throw Error(fmt::format("{}: the adjoint of %{} has shape {}, its value {} (adjoints of another tape?)", what, k,
                              to_string(adjoint), to_string(value)));
  }
}
std::size_t clamp_end(const Tape& tape, std::size_t first, std::size_t last, const char* what) {
  const std::size_t end = std::min(last, tape.size());
  if (first > end) throw Error(fmt::format("{}: first node {} is after the last {}", what, first, end));
  return end;
}
}  // namespace detail

std::string listing(const Tape& tape, const ListingOptions& options) {
  detail::check_adjoints(tape, options.adjoints, "listing");
  const std::size_t end = detail::clamp_end(tape, options.first, options.last, "listing");
  bool any_tangent = false;
  for (std::size_t k = options.first; k < end; ++k) any_tangent |= tape.node(static_cast<std::uint32_t>(k)).has_tangent;
  const bool adjoint_column = !options.adjoints.empty();
  const bool tangent_column = options.tangents && any_tangent;

  std::vector<std::string> header = {"node", "op", "attributes", "inputs", "shape"};
  if (options.values) header.emplace_back("value");
  if (adjoint_column) header.emplace_back("adjoint");
  if (tangent_column) header.emplace_back("tangent");
  TextTable table(std::move(header));
  for (std::size_t k = options.first; k < end; ++k) {
    const auto index = static_cast<std::uint32_t>(k);
    const Node& node = tape.node(index);
    std::string inputs;
    for (std::uint32_t i = 0; i < node.n_inputs; ++i) inputs += fmt::format("{}%{}", i ? " " : "", tape.input(node, i));
    std::vector<std::string> row = {fmt::format("%{}", k), node_kind(node), describe_attributes(node.attrs, options.format),
                                    inputs, shape_list(node.value.shape())};
    if (options.values) row.push_back(format_tensor(node.value, options.format));
    if (adjoint_column) row.push_back(options.adjoints[k] ? format_tensor(*options.adjoints[k], options.format) : "");
    if (tangent_column) row.push_back(node.has_tangent ? format_tensor(node.tangent, options.format) : "");
    table.add(std::move(row));
  }
  return table.render();
}

std::string listing(const Var& y, ListingOptions options) {
  Tape& tape = y.tape();  // a clear error for a default-constructed or dead Var
  if (options.adjoints.empty() && y.size() == 1) options.adjoints = adjoints(y);
  options.last = std::min<std::size_t>(options.last, y.index() + 1);
  return listing(tape, options);
}

}  // namespace autodiff
