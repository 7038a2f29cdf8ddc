// Internals of ntk/infinite.cpp: the affine maps of a kernel state, which is what Dense layers do.
#pragma once

#include <cstddef>

#include "ntk/infinite.hpp"
#include "ntk/kernel_matrix.hpp"

namespace ntk::detail {

// (K, Θ, q) ↦ (αK + β, γΘ + δK + ε, αq + β). Dense layers are such maps, and so are their
// compositions: serial() fuses them into the passes of the activations around them.
struct Affine {
  double alpha = 1.0, beta = 0.0, gamma = 1.0, delta = 0.0, epsilon = 0.0;
  bool is_identity() const { return alpha == 1.0 && beta == 0.0 && gamma == 1.0 && delta == 0.0 && epsilon == 0.0; }
};

Affine then(const Affine& f, const Affine& g);  // g ∘ f: f first

// Checks a Dense layer against the state it is applied to, and returns its map.
Affine dense_affine(const DenseLayer& layer, std::size_t fan_in);

// The map on the variances alone (q ↦ αq + β), on the entries of a window (every entry of it), and
// on the whole state.
void affine_variances(Kernel& k, const Affine& a);
void affine_entries(const Window& w, const Affine& a);
void apply_affine(Kernel& k, const Affine& a);

// Throws unless `value` is a finite variance >= 0 (σ_w², σ_b²); `what` names the caller.
void check_variance(const char* what, const char* name, double value);

}  // namespace ntk::detail
