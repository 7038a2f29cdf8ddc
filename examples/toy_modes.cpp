// Forward and reverse mode on the toy model of "Understanding the Neural Tangent Kernel"
// (Rajat V D, 2019): f(x, w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4) at x = 1.5, w0 = 0.4.
// One recording carries a tangent (forward mode) and is then swept backwards (reverse mode); the
// listing shows both, and the explain mode shows every chain-rule step. docs/tutorial.md prints
// this program's output; tests/check_tutorial.sh checks that it still does.
#include <iostream>

#include "autodiff/autodiff.hpp"
#include "examples/toy_model.hpp"

using namespace autodiff;
using examples::toy;

int main() {
  TapeScope scope;  // a fresh tape, rewound when main ends
  Tape& tape = scope.tape();
  // w0 = 0.4 with the tangent dw = 1: forward mode runs while f is recorded.
  const Var w = tape.variable(Tensor(0.4), Tensor(1.0));
  const Var f = toy(w);
  std::cout << "f(w0) = " << format_number(f.value().item()) << ", df/dw by forward mode = "
            << format_number(f.tangent().item()) << "\n\n";

  // The tape, with each node's tangent and its adjoint from one reverse sweep of f.
  std::cout << listing(f) << '\n';

  // Forward mode, after the fact: how each tangent came from its inputs' tangents.
  std::cout << explain_tangents(f) << '\n';

  // Reverse mode, as it runs: every rule application of the sweep.
  std::cout << explain_gradient(f, w) << '\n';

  // Away from w0, h(w) = w − 0.4 is no longer 0 and every path into w carries an adjoint.
  TapeScope another;  // a fresh tape of its own: its nodes are numbered from %0 again
  const Var w1 = another.tape().variable(Tensor(1.0));
  std::cout << explain_gradient(toy(w1), w1);
}
