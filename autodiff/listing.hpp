// A readable table of what a tape recorded, for people learning how reverse and forward mode
// work: one row per node with its op, every attribute the op was given (the 0.1 of `scale`, a
// fused layer's block and bias), its inputs, shape, value, and — after a reverse sweep — its
// adjoint, or in forward mode its tangent. Tape::dump() stays the terse one-line-per-node form;
// this is the one to read when you want to see the numbers.
//
//   TapeScope scope;
//   const Var w = scope.tape().variable(Tensor(0.4), Tensor(1.0));   // tangent 1: forward mode too
//   const Var y = toy(w);
//   std::cout << listing(y);   // adjoints from one reverse sweep of y, tangents from the tape
//
// The helpers that name nodes and abbreviate tensors are shared with the DOT export
// (autodiff/dot.hpp) and the explain mode (autodiff/explain.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "autodiff/tape.hpp"

namespace autodiff {

// How numbers and tensors are printed: fixed significant digits, so outputs are stable.
struct ValueFormat {
  int precision = 6;            // significant digits
  std::size_t max_entries = 4;  // a tensor with more entries shows this many, then "…" and its norm
};

// A number with `precision` significant digits; −0 prints as 0.
std::string format_number(double value, const ValueFormat& format = {});
// "0.4" for one element, "[1, 2, 3]" for few, "[1, 2, 3, 4, …] norm 9.5" for many.
std::string format_tensor(const Tensor& value, const ValueFormat& format = {});
// Every attribute that differs from its default in Attrs, e.g. "scalar=0.1" or
// "scalar=1, start=0, count=100, shape=[1, 100], bias_scale=1"; "" when all are defaults.
std::string describe_attributes(const Attrs& attrs, const ValueFormat& format = {});
// "variable", "constant" or the op's name.
std::string node_kind(const Node& node);
// The node as an assignment, e.g. "%2 = scale(%0; scalar=0.1)" or "%0 = variable".
std::string node_expression(const Tape& tape, std::uint32_t index, const ValueFormat& format = {});

struct ListingOptions {
  std::size_t first = 0;                                      // first node listed
  std::size_t last = std::numeric_limits<std::size_t>::max();  // one past the last (clamped to the tape)
  bool values = true;    // a value column
  bool tangents = true;  // a tangent column, when a listed node carries a tangent
  // An adjoint column when not empty: one entry per node of the tape, as autodiff::adjoints gives.
  std::vector<std::optional<Tensor>> adjoints{};
  ValueFormat format{};
};

// The table of nodes [first, last) of the tape.
std::string listing(const Tape& tape, const ListingOptions& options = {});
// The nodes up to y. For a one-element y without adjoints in the options, the adjoints of one
// reverse sweep of y (seed 1) are shown.
std::string listing(const Var& y, ListingOptions options = {});

namespace detail {
// Shared by listing and to_dot: adjoints must have one entry per node of `tape` (or none), and
// [first, min(last, size)) must be a range; each throws autodiff::Error naming `what` otherwise.
void check_adjoints(const Tape& tape, const std::vector<std::optional<Tensor>>& adjoints, const char* what);
std::size_t clamp_end(const Tape& tape, std::size_t first, std::size_t last, const char* what);
}  // namespace detail

}  // namespace autodiff
