#include "autodiff/backward.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "autodiff/accumulator.hpp"
#include "autodiff/axes.hpp"
#include "autodiff/observe.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace {

// The observer of this thread's numeric sweeps (autodiff/observe.hpp); nullptr: none, the fast path.
thread_local SweepObserver* t_sweep_observer = nullptr;

Shape with_batch(const Shape& batch, const Shape& shape) { return join_shapes(batch, shape); }

template <class T>
T zeros_like(Tape& tape, const Shape& shape) {
  if constexpr (std::is_same_v<T, Tensor>) {
    return Tensor::zeros(shape);
  } else {
    return tape.constant(Tensor::zeros(shape));
  }
}

// The cotangents of nodes lowest..top during a sweep. Contributions add up (fan-out); in the
// numeric sweep ops may write their share in place (Accumulator); in the recorded sweep, blocks
// of a flat vector (segments) are gathered as pieces and joined by one `assemble` op when the
// vector's cotangent is first read.
template <class T>
class Cotangents {
  static constexpr bool numeric = std::is_same_v<T, Tensor>;

 public:
  Cotangents(Tape& tape, std::uint32_t lowest, std::uint32_t top, const Shape& batch)
      : tape_(tape), lowest_(lowest), batch_(batch), values_(top + 1 - lowest) {
    if constexpr (!numeric) pieces_.resize(top + 1 - lowest);
  }

  bool has(std::uint32_t node) {
    gather(node);
    if constexpr (numeric) {
      return !slot(node).empty();
    } else {
      return slot(node).has_value();
    }
  }
  T& at(std::uint32_t node) {
    gather(node);
    if constexpr (numeric) {
      return slot(node).zeroed();
    } else {
      return *slot(node);
    }
  }
  void add(std::uint32_t node, T term) {
    auto& total = slot(node);
    if constexpr (numeric) {
      total.add(std::move(term));
    } else if (!total) {
      total = std::move(term);
    } else {
      *total = autodiff::add(*total, term);
    }
  }
  // The cotangent for an op to write its share into in place (numeric sweeps).
  Accumulator& accumulator(std::uint32_t node) {
    Accumulator& total = slot(node);
    total.start(join_shapes(batch_, tape_.node(node).value.shape()));
    return total;
  }
  // Contributions to `node` go into `target` times `scale` (descend's step onto a variable).
  void onto(std::uint32_t node, Tensor& target, double scale) { slot(node).start_onto(target, scale); }
  void add_piece(std::uint32_t node, Var piece, std::size_t start) {
    pieces_[node - lowest_].push_back(std::move(piece));
    offsets_[node].push_back(start);
  }

 private:
  using Slot = std::conditional_t<numeric, Accumulator, std::optional<T>>;
  Slot& slot(std::uint32_t node) { return values_[node - lowest_]; }
  void gather(std::uint32_t node) {
    if constexpr (!numeric) {
      std::vector<Var>& pieces = pieces_[node - lowest_];
      if (pieces.empty()) return;
      Shape offsets = offsets_[node];
      if (slot(node)) {  // what came by other routes joins as one more piece
        pieces.push_back(*slot(node));
        offsets.push_back(0);
      }
      const std::size_t length = tape_.node(node).value.shape().back();
      slot(node) = autodiff::assemble(pieces, offsets, length, batch_.size());
      pieces.clear();
      offsets_.erase(node);
    }
  }

  Tape& tape_;
  std::uint32_t lowest_;
  const Shape& batch_;
  std::vector<Slot> values_;                          // empty: no contribution yet
  std::vector<std::vector<Var>> pieces_;              // recorded sweeps only
  std::unordered_map<std::uint32_t, Shape> offsets_;  // recorded sweeps only
};

// gradient_tangent's shortcut: the tangent of a flat input's cotangent, summed from its pieces'
// tangents (op.add_piece_tangent) instead of recording the pieces.
struct TangentOnly {
  std::uint32_t input;
  Tensor sum;
};

// descend's step: the cotangent of `input` goes onto its value, times −step.
struct Descent {
  std::uint32_t input;
  double step;
};

// The reverse sweep, for numbers (T = Tensor) or recorded ops (T = Var). Nodes are visited by
// decreasing index: a node's cotangent is complete once every later node has been processed.
template <class T>
std::vector<T> sweep(const Var& output, const std::vector<Var>& inputs, T seed, const Shape& batch,
                     TangentOnly* tangent_only = nullptr, const Descent* descent = nullptr) {
  Tape& tape = output.tape();
  for (const Var& x : inputs) {
    tape.check(x, "backward");
    if (&x.tape() != &tape) throw Error("backward: an input lives on a different tape than the output");
  }
  const Shape expected = with_batch(batch, output.shape());
  if (seed.shape() != expected)
    throw Error(fmt::format("backward: cotangent has shape {}, expected {} (batch {} + output shape {})",
                            to_string(seed.shape()), to_string(expected), to_string(batch),
                            to_string(output.shape())));
  const std::uint32_t top = output.index();
  std::uint32_t lowest = top;
  for (const Var& x : inputs) lowest = std::min(lowest, x.index());

  Cotangents<T> cotangents(tape, lowest, top, batch);
  // Read once per sweep: with no observer (the default) the sweep below is unchanged but for one
  // test per node. Recorded sweeps and descent steps are not observed.
  SweepObserver* observer = nullptr;
  // Sweeps nested in this one's rules (an apply_linear map's VJP runs a sweep of its own, on
  // another tape) are not this sweep's steps: the observer is suspended until this one ends.
  struct RestoreObserver {
    SweepObserver* saved;
    ~RestoreObserver() { t_sweep_observer = saved; }
  } const restore_observer{t_sweep_observer};
  if constexpr (std::is_same_v<T, Tensor>) {
    if (descent == nullptr) observer = t_sweep_observer;
    if (observer != nullptr) {
      t_sweep_observer = nullptr;
      observer->begin(tape, top, seed);
    }
  }
  cotangents.add(top, std::move(seed));
  if constexpr (std::is_same_v<T, Tensor>) {
    if (descent != nullptr) cotangents.onto(descent->input, tape.node(descent->input).value, -descent->step);
  }
  // Requested inputs (maybe intermediates) keep their cotangents.
  const auto wanted = [&](std::uint32_t k) {
    return std::any_of(inputs.begin(), inputs.end(), [&](const Var& x) { return x.index() == k; });
  };
  static const Tensor unused;

  for (std::uint32_t k = top + 1; k-- > lowest;) {
    if (!cotangents.has(k)) continue;
    const Node& node = tape.node(k);
    if constexpr (std::is_same_v<T, Tensor>) {
      if (observer != nullptr) observer->reached(tape, k, cotangents.at(k));
    }
    if (node.op == nullptr || !node.requires_grad) continue;
    const OpInfo& op = *node.op;
    // consumed (frees memory as the sweep goes) unless it is one of the results
    const T g = wanted(k) ? cotangents.at(k) : std::move(cotangents.at(k));
    const Rule<T> rule(tape, tape.inputs(node), node.n_inputs, node.attrs,
                       std::is_same_v<T, Tensor> ? node.value : unused, k, batch);
    for (std::uint32_t i = 0; i < rule.n_inputs(); ++i) {
      const std::uint32_t in = tape.input(tape.node(k), i);
      if (in < lowest || !tape.node(in).requires_grad) continue;
      T term;
      if constexpr (std::is_same_v<T, Tensor>) {
        // adds in place: no full-size temporary (an observer wants every contribution as a tensor)
        if (op.accumulate_vjp != nullptr && observer == nullptr) {
          op.accumulate_vjp(rule, static_cast<int>(i), g, cotangents.accumulator(in));
          continue;
        }
        term = op.vjp_tensor(rule, static_cast<int>(i), g);
      } else {
        if (tangent_only != nullptr && in == tangent_only->input && op.add_piece_tangent != nullptr &&
            op.add_piece_tangent(rule, static_cast<int>(i), g, tangent_only->sum))
          continue;
        std::size_t start = 0;
        Var piece;
        if (op.vjp_piece != nullptr && op.vjp_piece(rule, static_cast<int>(i), g, piece, start)) {
          cotangents.add_piece(in, std::move(piece), start);  // a block of `in`: joined with the others later
          continue;
        }
        term = op.vjp_var(rule, static_cast<int>(i), g);
      }
      const Shape& in_shape = tape.node(in).value.shape();
      const Shape& got = term.shape();
      const bool same_shape = got.size() == batch.size() + in_shape.size() &&
                              std::equal(batch.begin(), batch.end(), got.begin()) &&
                              std::equal(in_shape.begin(), in_shape.end(), got.begin() + batch.size());
      if (!same_shape) term = sum_to(term, Shape(in_shape), batch.size());  // a copy: recording may move nodes
      if constexpr (std::is_same_v<T, Tensor>) {
        if (observer != nullptr) observer->contributed(tape, k, i, g, term);
      }
      cotangents.add(in, std::move(term));
    }
  }

  if (observer != nullptr) observer->end(tape);
  if (descent != nullptr) return {};  // the step is taken; the input's "cotangent" is its new value
  std::vector<T> result;
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const Var& x = inputs[j];
    if (x.index() <= top && cotangents.has(x.index())) {  // inputs recorded after the output: zeros
      // The last request for this input takes the cotangent; earlier duplicates copy it.
      bool again = false;
      for (std::size_t later = j + 1; later < inputs.size(); ++later) again |= inputs[later].index() == x.index();
      result.push_back(again ? cotangents.at(x.index()) : std::move(cotangents.at(x.index())));
    } else {
      result.push_back(zeros_like<T>(tape, with_batch(batch, x.shape())));
    }
  }
  return result;
}

void require_scalar(const Var& y, const char* what) {
  if (y.size() != 1)
    throw Error(fmt::format("{}: the output has shape {}; a gradient needs a one-element output (for others "
                            "give a cotangent: vjp / backward)",
                            what, to_string(y.shape())));
}

// Whether descend() may update x in place during the sweep: every op that reads x reads its own
// block of it, disjoint from the others' blocks (a flat weight vector read by its layers).
bool read_as_blocks(const Tape& tape, std::uint32_t x, std::uint32_t top) {
  xt::svector<std::pair<std::size_t, std::size_t>, 16> blocks;  // no heap for up to 8 layers
  for (std::uint32_t k = x + 1; k <= top; ++k) {
    const Node& n = tape.node(k);
    for (std::uint32_t i = 0; i < n.n_inputs; ++i) {
      if (tape.input(n, i) != x) continue;
      if (n.op == nullptr || n.op->block_input != static_cast<int>(i)) return false;
      blocks.push_back({n.attrs.start, n.attrs.start + shape_size(n.attrs.shape) + n.attrs.count});
    }
  }
  std::sort(blocks.begin(), blocks.end());
  for (std::size_t b = 1; b < blocks.size(); ++b)
    if (blocks[b].first < blocks[b - 1].second) return false;
  return true;
}

// Keeps the adjoint of every node the sweep reaches (autodiff::adjoints).
class CollectAdjoints final : public SweepObserver {
 public:
  CollectAdjoints(const Tape& tape, std::vector<std::optional<Tensor>>& adjoints) : tape_(tape), adjoints_(adjoints) {}
  void begin(const Tape&, std::uint32_t, const Tensor&) override {}
  void reached(const Tape& tape, std::uint32_t node, const Tensor& adjoint) override {
    if (&tape == &tape_ && node < adjoints_.size()) adjoints_[node] = adjoint;
  }
  void contributed(const Tape&, std::uint32_t, std::uint32_t, const Tensor&, const Tensor&) override {}
  void end(const Tape&) override {}

 private:
  const Tape& tape_;
  std::vector<std::optional<Tensor>>& adjoints_;
};

}  // namespace

SweepObserver* sweep_observer() { return t_sweep_observer; }

ObserveSweeps::ObserveSweeps(SweepObserver& observer) : previous_(t_sweep_observer) {
  t_sweep_observer = &observer;
}
ObserveSweeps::~ObserveSweeps() { t_sweep_observer = previous_; }

std::vector<std::optional<Tensor>> adjoints(const Var& y, const Tensor& seed) {
  Tape& tape = y.tape();  // a clear error for a default-constructed or dead Var
  if (seed.shape() != y.shape())
    throw Error(fmt::format("adjoints: the seed has shape {}, the output {}", to_string(seed.shape()),
                            to_string(y.shape())));
  std::vector<std::optional<Tensor>> result(tape.size());
  CollectAdjoints collect(tape, result);
  const ObserveSweeps watching(collect);
  // Requesting node 0 makes the sweep run down to the bottom of the tape.
  sweep<Tensor>(y, {tape.var(0)}, seed, {});
  return result;
}

std::vector<std::optional<Tensor>> adjoints(const Var& y) {
  require_scalar(y, "adjoints");
  return adjoints(y, Tensor::ones(y.shape()));
}

std::vector<Tensor> backward(const Var& output, const std::vector<Var>& inputs, const Tensor& seed,
                             const Shape& batch) {
  return sweep<Tensor>(output, inputs, seed, batch);
}

std::vector<Var> backward_graph(const Var& output, const std::vector<Var>& inputs, const Var& seed,
                                const Shape& batch) {
  return sweep<Var>(output, inputs, seed, batch);
}

Tensor gradient(const Var& y, const Var& x) {
  require_scalar(y, "gradient");
  return std::move(backward(y, {x}, Tensor::ones(y.shape()))[0]);
}

Var gradient_var(const Var& y, const Var& x) {
  require_scalar(y, "gradient");
  return backward_graph(y, {x}, y.tape().constant(Tensor::ones(y.shape())))[0];
}

Tensor gradient_tangent(const Var& y, const Var& x) {
  require_scalar(y, "gradient");
  Tape& tape = y.tape();
  tape.check(x, "gradient_tangent");
  // Pieces are blocks of a flat vector; with a batch of tangents, the plain way.
  const bool shortcut = x.dim() == 1 && tape.tangent_batch().empty();
  TangentOnly pieces{x.index(), Tensor::zeros(x.shape())};
  const Var rest = sweep<Var>(y, {x}, tape.constant(Tensor::ones(y.shape())), {}, shortcut ? &pieces : nullptr)[0];
  if (!shortcut) return rest.has_tangent() ? rest.tangent() : Tensor::zeros(join_shapes(tape.tangent_batch(), x.shape()));
  if (rest.has_tangent()) pieces.sum += rest.tangent();  // the routes that were not pieces
  return std::move(pieces.sum);
}


bool descend(const Var& y, const Var& x, double step) {
  require_scalar(y, "descend");
  Tape& tape = y.tape();
  tape.check(x, "descend");
  Node& leaf = tape.node(x.index());
  if (leaf.op != nullptr || !leaf.requires_grad)
    throw Error(fmt::format("descend: %{} is not a variable (a leaf that gradients are taken with respect to)",
                            x.index()));
  if (!std::isfinite(step)) throw Error(fmt::format("descend: the step must be finite, got {}", step));
  if (x.index() < y.index() && read_as_blocks(tape, x.index(), y.index())) {
    const Descent descent{x.index(), step};
    sweep<Tensor>(y, {x}, Tensor::ones(y.shape()), {}, nullptr, &descent);
    return true;
  }
  const Tensor g = gradient(y, x);  // x read otherwise too: the whole gradient first
  detail::write_rows(g.data(), g.size(), 1, leaf.value.data(), 0, true, -step);
  return false;
}

}  // namespace autodiff
