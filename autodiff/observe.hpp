// Watching a reverse sweep, for teaching and debugging: the sweep in autodiff/backward.cpp keeps
// its cotangents (adjoints) in a local object and frees them as it goes, so nothing on the tape
// says what they were. An observer installed on this thread is told, during every numeric
// reverse sweep, the complete adjoint of each node it reaches and every contribution a rule adds
// to an input's adjoint. autodiff::adjoints() and the explain mode (autodiff/explain.hpp) are
// built on it.
//
// Cost when no observer is installed: one thread-local pointer read per sweep and one branch per
// node. With one installed, the sweep takes its slow path (each contribution is a whole tensor,
// op.vjp_tensor, instead of being written in place by op.accumulate_vjp) so that every
// contribution can be shown; the numbers are the same.
//
// Observed: numeric sweeps (backward, gradient, grad, vjp, jacrev, ...). Not observed: recorded
// sweeps (backward_graph, gradient_var, hvp), whose rules are ops on the tape and can be listed
// afterwards like any other nodes, and descend()'s in-place step.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "autodiff/tape.hpp"

namespace autodiff {

class SweepObserver {
 public:
  virtual ~SweepObserver() = default;
  // A sweep starts at node `output` with cotangent `seed` (shape batch + the output's shape).
  virtual void begin(const Tape& tape, std::uint32_t output, const Tensor& seed) = 0;
  // The sweep reached `node`: `adjoint` is its complete cotangent (every later node has added its
  // share). Called for leaves too, before the rules of `node` are applied.
  virtual void reached(const Tape& tape, std::uint32_t node, const Tensor& adjoint) = 0;
  // The rule of `node` for its input at `position` added `term` (already summed to the input's
  // shape where the op broadcast) to that input's adjoint; `adjoint` is the node's own.
  virtual void contributed(const Tape& tape, std::uint32_t node, std::uint32_t position, const Tensor& adjoint,
                           const Tensor& term) = 0;
  virtual void end(const Tape& tape) = 0;
};

// The observer of this thread's numeric sweeps, or nullptr (the default: no observation).
SweepObserver* sweep_observer();

// RAII: `observer` watches every numeric reverse sweep on this thread until the guard ends; the
// previous observer (if any) is restored then.
class ObserveSweeps {
 public:
  explicit ObserveSweeps(SweepObserver& observer);
  ~ObserveSweeps();
  ObserveSweeps(const ObserveSweeps&) = delete;
  ObserveSweeps& operator=(const ObserveSweeps&) = delete;

 private:
  SweepObserver* previous_;
};

// Every node's adjoint from one numeric reverse sweep of y with cotangent `seed` (shape of y):
// entry k is node k's adjoint ∂⟨seed, y⟩/∂(node k), or nullopt for nodes the sweep never
// reached (recorded after y, not on a path to y, or constants). Size: the tape's size.
std::vector<std::optional<Tensor>> adjoints(const Var& y, const Tensor& seed);
// The same for a one-element y with seed 1: entry k is ∂y/∂(node k).
std::vector<std::optional<Tensor>> adjoints(const Var& y);

}  // namespace autodiff
