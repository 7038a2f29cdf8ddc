// A tape as a picture: Graphviz DOT text, one box per node (op, shape, abbreviated value, and
// optionally its adjoint ḡ and tangent ṫ), one arrow per input labelled with the input's
// position. For learners: the graph a reverse sweep walks backwards, and — drawn with
// `pass_starts` — the nodes a *recorded* backward pass appended (gradient_var / backward_graph,
// as in a Hessian-vector product) coloured apart from the forward ones, so one sees that an HVP
// is a gradient's worth of nodes more, each carrying a tangent: a small multiple of a gradient.
//
// Render with Debian's graphviz:   dot -Tsvg graph.dot -o graph.svg
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "autodiff/listing.hpp"
#include "autodiff/tape.hpp"

namespace autodiff {

struct DotOptions {
  std::size_t first = 0;                                      // first node drawn
  std::size_t last = std::numeric_limits<std::size_t>::max();  // one past the last (clamped to the tape)
  bool values = true;    // each node's (abbreviated) value
  bool tangents = true;  // "ṫ = …" on nodes that carry a tangent
  // "ḡ = …" on nodes with an adjoint: one entry per node of the tape (autodiff::adjoints).
  std::vector<std::optional<Tensor>> adjoints{};
  // Increasing node indices: nodes from pass_starts[j] on were recorded by backward pass j + 1
  // (e.g. {y.index() + 1} after gradient_var(y, x)) and get that pass's colour.
  std::vector<std::size_t> pass_starts{};
  std::string title{};  // drawn above the graph with a legend of the colours
  ValueFormat format{.precision = 4, .max_entries = 3};
};

// Nodes [first, last) of the tape; inputs recorded before `first` appear as dashed stubs.
std::string to_dot(const Tape& tape, const DotOptions& options = {});
// The nodes up to y. For a one-element y without adjoints in the options, the adjoints of one
// reverse sweep of y (seed 1) are drawn.
std::string to_dot(const Var& y, DotOptions options = {});

}  // namespace autodiff
