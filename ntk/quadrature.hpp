// Internals of ntk/infinite.cpp: activations without a closed form, by quadrature. The 1-D rules
// (gauss_hermite, gaussian_trapezoid, gaussian_rule) and the node count
// (automatic_quadrature_nodes) are public, in ntk/infinite.hpp; they are defined in quadrature.cpp
// with the pass that uses them.
#pragma once

#include <memory>

#include "ntk/infinite.hpp"
#include "ntk/kernel_matrix.hpp"

namespace ntk::detail {

// An activation layer on the kernel state by quadrature: nngp′ = E[φ(u) φ(v)], ntk′ = ntk ·
// E[φ′(u) φ′(v)] with φ′ from the autodiff forward mode, and the variances E[φ(u)²]. Symmetric
// kernels get their upper triangle only.
//
// With the default rule (trapezoid, automatic node count) it is series_quadrature, falling back to
// pairwise_quadrature where the series does not converge; an explicit node count or the
// Gauss–Hermite rule asks for pairwise_quadrature.
void quadrature(Kernel& k, const ActivationLayer& layer);

// quadrature() in two halves, for computing a kernel in windows (ntk::KernelRows): what a layer
// needs of each point — the variances before it, the rule and every point's tables or series
// coefficients, chosen from all the state's points (the automatic node count, the series' degree)
// — computed once, with k's variances then mapped to E[φ(u)²]; and the pass over the entries of a
// window of that state (kernel_matrix.hpp), any number of times.
struct QuadraturePlan;
std::shared_ptr<const QuadraturePlan> prepare_quadrature(Kernel& k, const ActivationLayer& layer);
void quadrature_entries(const QuadraturePlan& plan, const Window& w);

// The 2-D rule of `layer` per entry: n² points, n = layer.nodes or automatic_quadrature_nodes of
// the largest variance. Cost O(N1·N2·n²) evaluations of φ; the reference for the series.
void pairwise_quadrature(Kernel& k, const ActivationLayer& layer);

// The Hermite (Mehler) series E[φ(u)φ(v)] = Σ_k f_k(q1) g_k(q2) ρ^k with the coefficients computed
// once per point, truncated where every point's tail energy is below 1e-11 of its E[φ²] (the
// entry is then within 1e-11·√(E[φ(u)²] E[φ(v)²]) of the expectation, plus the 1-D rule's error,
// ~1e-14). Cost O(N·481·512) per layer for the coefficients plus ~2K flops per entry. Returns
// false, leaving k as it was, when some point needs more than 512 terms (kinks, huge variances).
bool series_quadrature(Kernel& k, const ActivationLayer& layer);

}  // namespace ntk::detail
