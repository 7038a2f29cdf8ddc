// The toy model's graph, and the graphs of a Hessian-vector product, as Graphviz DOT files: the
// nodes a recorded backward pass appends are coloured apart from the forward ones, so one sees
// why an HVP costs a small multiple of a gradient. With a folder argument it writes
//   toy-model-graph.dot  f with values and adjoints
//   toy-model-hvp.dot    forward over reverse: gradient_var of f with tangents riding along
//   toy-model-rr.dot     reverse over reverse: the gradient of the recorded gradient
// (render: dot -Tsvg toy-model-graph.dot -o toy-model-graph.svg); it always prints what it recorded.
#include <fstream>
#include <iostream>
#include <string>

#include "autodiff/autodiff.hpp"
#include "examples/toy_model.hpp"
#include "examples/print.hpp"

using namespace autodiff;
using examples::toy;
using examples::number;

void save(const std::string& folder, const std::string& name, const std::string& dot) {
  if (folder.empty()) return;
  std::ofstream(folder + "/" + name) << dot;
}

int main(int argc, char** argv) {
  const std::string folder = argc > 1 ? argv[1] : "";
  {
    TapeScope scope;
    const Var w = scope.tape().variable(Tensor(0.4));
    const Var f = toy(w);
    std::cout << "f: " << scope.tape().size() << " nodes\n";
    save(folder, "toy-model-graph.dot", to_dot(f, {.title = "f(w) = (w x + w² x + sin(exp(0.1 w))) (w - 0.4), x = 1.5, w0 = 0.4"}));
  }
  {
    // Forward over reverse: w carries the tangent v = 1, and the backward pass is recorded.
    TapeScope scope;
    Tape& tape = scope.tape();
    const Var w = tape.variable(Tensor(0.4), Tensor(1.0));
    const Var f = toy(w);
    const std::size_t forward_nodes = tape.size();
    const Var g = gradient_var(f, w);  // f'(w0) as a Var; its tangent is f''(w0)·v
    std::cout << "forward over reverse: " << forward_nodes << " forward nodes + " << tape.size() - forward_nodes
              << " recorded by the backward pass\n"
              << "  f'(w0) = " << number(g.value().item()) << ", its tangent f''(w0)·1 = "
              << number(g.tangent().item()) << '\n'
              << "  hvp(toy, 0.4, 1) = " << number(hvp(toy, Tensor(0.4), Tensor(1.0)).item()) << '\n';
    save(folder, "toy-model-hvp.dot",
         to_dot(tape, {.pass_starts = {forward_nodes}, .title = "HVP by forward over reverse: gradient_var(f, w), w with tangent 1"}));
  }
  {
    // Reverse over reverse: differentiate the recorded gradient once more.
    TapeScope scope;
    Tape& tape = scope.tape();
    const Var w = tape.variable(Tensor(0.4));
    const Var f = toy(w);
    const std::size_t forward_nodes = tape.size();
    const Var g = gradient_var(f, w);
    const std::size_t first_backward = tape.size() - forward_nodes;
    const Var h = gradient_var(g, w);  // f''(w0)
    std::cout << "reverse over reverse: " << forward_nodes << " forward nodes + " << first_backward
              << " by the first backward pass + " << tape.size() - forward_nodes - first_backward
              << " by the second\n"
              << "  f''(w0) = " << number(h.value().item()) << '\n';
    save(folder, "toy-model-rr.dot",
         to_dot(tape, {.pass_starts = {forward_nodes, forward_nodes + first_backward},
                       .title = "HVP by reverse over reverse: gradient_var(gradient_var(f, w), w)"}));
  }
}
