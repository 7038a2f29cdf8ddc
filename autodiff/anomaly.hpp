// Anomaly mode, as PyTorch's torch.autograd.detect_anomaly: while a DetectAnomaly guard lives on a
// thread, the first node whose value, tangent or adjoint holds a NaN or an infinity stops the
// computation with an AnomalyError that says where it came from: the op, the shapes of its
// inputs, its position on the tape and, in a reverse sweep, the forward op whose VJP rule gave the
// non-finite contribution. Without it a NaN travels silently to the loss and every weight.
//
// Why a mode and not a check everywhere: scanning every value costs a pass over every tensor.
// When off (the default) the cost is one thread-local flag read per recorded node (Tape::push) and
// nothing in sweeps (the adjoints are watched through the sweep observer of autodiff/observe.hpp,
// installed by the guard, so the sweep's fast path is untouched when no guard is alive).
//
// Checked: values and tangents of every node pushed on the tape (ops and leaves, at recording
// time), the seed and every adjoint of numeric reverse sweeps (backward, gradient, grad, vjp,
// jacrev, ...). Not checked: values recomputed by Tape::replay and recorded sweeps
// (backward_graph, hvp), whose nodes are pushed and so checked as values.
#pragma once

#include <cstdint>
#include <string>

#include "autodiff/tensor.hpp"

namespace autodiff {

class SweepObserver;
class Tape;

// What anomaly mode throws; what() is the whole report, the fields are for programs.
struct AnomalyError : Error {
  AnomalyError(const std::string& message, std::uint32_t node, std::string op)
      : Error(message), node(node), op(std::move(op)) {}
  std::uint32_t node;  // tape position of the node whose value/tangent/adjoint is not finite
  std::string op;      // its op's name ("variable" or "constant" for leaves)
};

// True while a DetectAnomaly guard is alive on this thread.
bool anomaly_detection_enabled();

// RAII: anomaly mode on this thread until the guard ends (guards nest; an observer installed
// before the guard, e.g. the explain mode, still sees every sweep).
class DetectAnomaly {
 public:
  DetectAnomaly();
  ~DetectAnomaly();
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

 private:
  bool previous_enabled_;
  SweepObserver* previous_observer_;
  SweepObserver* observer_;
};

namespace detail {
// For Tape::push: the flag it reads, and the check it makes when the flag is set.
extern thread_local bool t_detect_anomaly;
void check_pushed_node(const Tape& tape, std::uint32_t node);
}  // namespace detail

}  // namespace autodiff
