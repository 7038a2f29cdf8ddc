// Internals of ntk/infinite.cpp: activations without a closed form, by quadrature. The 1-D rules
// (gauss_hermite, gaussian_trapezoid, gaussian_rule) and the node count
// (automatic_quadrature_nodes) are public, in ntk/infinite.hpp; they are defined in quadrature.cpp
// with the pass that uses them.
#pragma once

#include "ntk/infinite.hpp"

namespace ntk::detail {

// An activation layer on the kernel state by the 2-D rule of `layer` (n² points per entry, n =
// layer.nodes or automatic_quadrature_nodes of the largest variance): nngp′ = E[φ(u) φ(v)],
// ntk′ = ntk · E[φ′(u) φ′(v)] with φ′ from the autodiff forward mode, and the variances
// E[φ(u)²]. Symmetric kernels get their upper triangle only.
void quadrature(Kernel& k, const ActivationLayer& layer);

}  // namespace ntk::detail
