#include "autodiff/backward.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "autodiff/ops.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace {

Shape with_batch(const Shape& batch, const Shape& shape) {
  Shape s = batch;
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

template <class T>
void accumulate(T& total, bool& present, T term) {
  if (!present) {
    total = std::move(term);
    present = true;
  } else if constexpr (std::is_same_v<T, Tensor>) {
    total += term;
  } else {
    total = add(total, term);
  }
}

template <class T>
T zeros_like(Tape& tape, const Shape& shape) {
  if constexpr (std::is_same_v<T, Tensor>) {
    return Tensor::zeros(shape);
  } else {
    return tape.constant(Tensor::zeros(shape));
  }
}

// The reverse sweep, for numbers (T = Tensor) or recorded ops (T = Var). Nodes are visited by
// decreasing index: a node's cotangent is complete once every later node has been processed.
template <class T>
std::vector<T> sweep(const Var& output, const std::vector<Var>& inputs, T seed, const Shape& batch) {
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

  const std::size_t n = top + 1 - lowest;
  std::vector<T> adjoint(n);
  std::vector<char> present(n, 0);
  adjoint[top - lowest] = std::move(seed);
  present[top - lowest] = 1;
  std::vector<char> wanted(n, 0);  // requested inputs (maybe intermediates) keep their cotangent
  for (const Var& x : inputs)
    if (x.index() <= top) wanted[x.index() - lowest] = 1;
  static const Tensor unused;

  for (std::uint32_t k = top + 1; k-- > lowest;) {
    if (!present[k - lowest]) continue;
    const Node& node = tape.node(k);
    if (node.op == nullptr || !node.requires_grad) continue;
    const OpInfo& op = *node.op;
    // consumed (frees memory as the sweep goes) unless it is one of the results
    const T g = wanted[k - lowest] ? adjoint[k - lowest] : std::move(adjoint[k - lowest]);
    const Rule<T> rule(tape, tape.inputs(node), node.n_inputs, node.attrs,
                       std::is_same_v<T, Tensor> ? node.value : unused, k, batch);
    for (std::uint32_t i = 0; i < rule.n_inputs(); ++i) {
      const std::uint32_t in = tape.input(tape.node(k), i);
      if (in < lowest || !tape.node(in).requires_grad) continue;
      T term;
      if constexpr (std::is_same_v<T, Tensor>) {
        if (op.accumulate_vjp != nullptr) {  // adds in place: no full-size temporary
          if (!present[in - lowest]) adjoint[in - lowest] = Tensor::zeros(with_batch(batch, tape.node(in).value.shape()));
          present[in - lowest] = 1;
          op.accumulate_vjp(rule, static_cast<int>(i), g, adjoint[in - lowest]);
          continue;
        }
        term = op.vjp_tensor(rule, static_cast<int>(i), g);
      } else {
        term = op.vjp_var(rule, static_cast<int>(i), g);
      }
      const Shape in_shape = tape.node(in).value.shape();
      if (term.shape() != with_batch(batch, in_shape)) term = sum_to(term, in_shape, batch.size());
      bool is_present = present[in - lowest] != 0;
      accumulate(adjoint[in - lowest], is_present, std::move(term));
      present[in - lowest] = 1;
    }
  }

  std::vector<T> result;
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const Var& x = inputs[j];
    if (x.index() <= top && present[x.index() - lowest]) {  // inputs recorded after the output: zeros
      // The last request for this input takes the cotangent; earlier duplicates copy it.
      bool again = false;
      for (std::size_t later = j + 1; later < inputs.size(); ++later) again |= inputs[later].index() == x.index();
      result.push_back(again ? adjoint[x.index() - lowest] : std::move(adjoint[x.index() - lowest]));
    } else
      result.push_back(zeros_like<T>(tape, with_batch(batch, x.shape())));
  }
  return result;
}

void require_scalar(const Var& y, const char* what) {
  if (y.size() != 1)
    throw Error(fmt::format("{}: the output has shape {}; a gradient needs a one-element output (for others "
                            "give a cotangent: vjp / backward)",
                            what, to_string(y.shape())));
}

}  // namespace

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

}  // namespace autodiff
