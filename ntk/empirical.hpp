// The empirical NTK of any model at any weights w:
//   Θ(X1, X2) = J(X1) J(X2)ᵀ,   J(X) = ∂ f(X, w) / ∂w  (outputs stacked row by row),
// by three methods that agree to rounding:
//   jacobian_contraction  materialize both Jacobians, one GEMM;
//   ntk_vector_products   never form J: Θ v = J(X1) (J(X2)ᵀ v), a VJP then a JVP, for chunks of
//                         the columns of the identity;
//   structured            for (wrapped) MLPs: per layer, the elementwise product of the Gram
//                         matrix of backpropagated sensitivities and that of the layer inputs
//                         (Novak, Sohl-Dickstein & Schoenholz 2022), O(N²·W·L) instead of O(N²·W²·L).
#pragma once

#include <string>

#include "nn/model.hpp"

namespace ntk {

using autodiff::Tensor;

enum class NtkMethod { automatic, jacobian_contraction, ntk_vector_products, structured };

std::string to_string(NtkMethod method);
NtkMethod parse_ntk_method(const std::string& name);

struct NtkOptions {
  NtkMethod method = NtkMethod::automatic;
  // false: the full kernel, shape (N1·k, N2·k), entry [n·k + a, m·k + b] = ⟨∂f_a(x_n), ∂f_b(x'_m)⟩;
  // true: the trace over outputs, shape (N1, N2), Σ_a ⟨∂f_a(x_n), ∂f_a(x'_m)⟩.
  bool trace_outputs = false;
  std::size_t chunk = 32;  // columns per batched VJP/JVP in ntk_vector_products
  // structured: keep every layer's traces (inputs, sensitivities) of all points at once (`all`),
  // or make them one layer at a time, 64 points per sweep (`by_layer`: the memory of one layer's
  // traces, for one more forward sweep per layer; for a symmetric kernel they go in the half of Θ's
  // memory not used until the end when they fit, and cost nothing more). `automatic`: by_layer when
  // all traces would take more than 64 MiB and more than half of Θ. Both give the same numbers.
  enum class Traces { automatic, all, by_layer } traces = Traces::automatic;
};

// Θ(X1, X2) at w. X1 (N1, d), X2 (N2, d).
Tensor empirical_ntk(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2,
                     const NtkOptions& options = {});
// Θ(X, X).
Tensor empirical_ntk(const nn::Model& model, const Tensor& w, const Tensor& x, const NtkOptions& options = {});

// The method `automatic` resolves to for this model and these sizes.
NtkMethod choose_ntk_method(const nn::Model& model, std::size_t n1, std::size_t n2);

// J(X) at w, shape (N·k, p): row n·k + a is ∂f_a(x_n)/∂w.
Tensor jacobian(const nn::Model& model, const Tensor& w, const Tensor& x);

// Θ(X1, X2) v for v of shape (N2·k): one VJP and one JVP, no Jacobian.
Tensor ntk_vector_product(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2,
                          const Tensor& v);

}  // namespace ntk
