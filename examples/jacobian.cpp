// The Jacobian of a tiny net both ways: jacfwd pushes one tangent per input direction through the
// computation, jacrev pulls one cotangent per output back; both in one batched pass. Which is
// cheaper depends only on which side is smaller.
#include <iostream>

#include "autodiff/autodiff.hpp"
#include "examples/print.hpp"

using namespace autodiff;

int main() {
  // y = tanh(W x) with W (2×3) the flat weight vector w viewed as a matrix: R^6 -> R^2.
  const Tensor x = {1.0, 2.0, 3.0};
  auto f = [&](const Var& w) { return tanh(matmul(w.reshape({2, 3}), x)); };
  const Tensor w0 = {0.1, 0.2, 0.3, -0.4, 0.5, 0.6};

  const Tensor J_forward = jacfwd(f, w0);  // 6 tangents, one forward pass
  const Tensor J_reverse = jacrev(f, w0);  // 2 cotangents, one reverse sweep
  examples::print_matrix("J by jacfwd", J_forward);
  examples::print_matrix("J by jacrev", J_reverse);
  std::cout << "largest difference: " << (max_relative_difference(J_forward, J_reverse) < 1e-15 ? "below 1e-15" : "LARGE")
            << "\n\n";

  // What each mode carried through every node: a batch of directions in front of the value's shape.
  TapeScope scope;
  Tape& tape = scope.tape();
  tape.set_tangent_batch({6});
  const Var w = tape.variable(w0, reshape(Tensor::identity(6), {6, 6}));
  const Var y = f(w);
  std::cout << "forward mode: y has shape " << to_string(y.shape()) << ", its tangent " << to_string(y.tangent().shape())
            << " (one per weight)\n";
  const Tensor rows = backward(y, {w}, reshape(Tensor::identity(2), {2, 2}), {2})[0];
  std::cout << "reverse mode: the cotangent of w has shape " << to_string(rows.shape()) << " (one per output)\n";
  std::cout << "so for R^6 -> R^2 reverse mode carries 2 directions where forward mode carries 6;\n"
               "for a network's outputs on N points against its p weights (p in the thousands,\n"
               "N small), reverse mode wins by p/N: that is how an empirical NTK gets its Jacobian.\n";
}
