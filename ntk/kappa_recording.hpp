// What ntk::kappa computes on: the problem (y(w) flat, w0, the targets), counters of the products
// spent, and the derivative products of y — one recording of y(w) at w0, every Jacobian,
// transposed-Jacobian and Hessian-vector product a reverse sweep over it — and the curvatures
// (vᵀ ∇²yᵢ v)ᵢ. Internal to ntk.
#pragma once

#include <cstddef>
#include <functional>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "ntk/kappa.hpp"

namespace ntk::detail {

using autodiff::Tensor;
using autodiff::Var;

// ---- the problem: y(w) flat, with counters -----------------------------------------------------
struct Problem {
  OutputFunction y;  // returns the flat (m) output
  Tensor w0 = Tensor::zeros({0});
  Tensor target = Tensor::zeros({0});  // flat (m)
  std::size_t m = 0, p = 0;
  // J Jᵀ exactly, when available cheaply (models: the structured empirical NTK).
  std::function<Tensor()> gram;
};

struct Counters {
  std::size_t hvps = 0, jvps = 0, vjps = 0, curvature_passes = 0, jacobian_sweeps = 0, c_iterations = 0;
};

// ---- the recording: y(w) once, every product a sweep over it -----------------------------------
//
// y(w) is recorded once at w0, on a tape of its own. On top of it, the gradient
// G(w, u) = ∇_w⟨u, y(w)⟩ = J(w)ᵀu is recorded by a recorded reverse sweep (autodiff::backward_graph,
// reverse over reverse), u a leaf that holds the current c. Each product is then one Tensor-mode
// reverse sweep over what is already recorded — nothing is recorded again and no activation is
// evaluated again:
//
//   Jᵀu    = ∇_w⟨u, y⟩   from y with seed u: the forward's nodes (a gradient);
//   H_c v  = ∇_w⟨G, v⟩   from G with seed v, down to w: the gradient's and the forward's nodes;
//   J v    = ∇_u⟨G, v⟩   from G with seed v, down to u: the gradient's nodes only.
//
// G is linear in u, so J v does not depend on the value u holds; H_c v needs u = c, and a new c
// re-records only G (set_c rewinds the tape to the end of the forward pass).
class Recording {
 public:
  explicit Recording(const Problem& P);
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  const Tensor& y0() const { return y_.value(); }
  void set_c(const Tensor& c);
  Tensor hessian_times(const Tensor& v) const { return sweep(g_, w_, v); }  // H_c v, c as last set
  Tensor jacobian_times(const Tensor& v) const { return sweep(g_, u_, v); }
  Tensor jacobian_transpose_times(const Tensor& u) const { return sweep(y_, w_, u); }
  Tensor jacobian() const;  // (m, p): all m rows in one batched sweep

 private:
  static Tensor sweep(const Var& from, const Var& to, const Tensor& seed);
  std::size_t m_;
  autodiff::Tape tape_;
  Var w_, y_, u_, g_;
  std::size_t forward_end_ = 0;
};

// (vᵀ ∇²yᵢ v)ᵢ for a unit v, by `method` (kappa.hpp describes both).
Tensor curvature(const Problem& P, const Recording& recording, const Tensor& v, CurvatureMethod method,
                 Counters& count);

}  // namespace ntk::detail
