#include "ntk/affine_map.hpp"

#include <cmath>

#include <fmt/format.h>

namespace ntk::detail {

namespace ad = autodiff;

void check_variance(const char* what, const char* name, double value) {
  if (!std::isfinite(value) || value < 0.0)
    throw ad::Error(fmt::format("{}: {} must be a finite variance >= 0, got {}", what, name, value));
}

Affine then(const Affine& f, const Affine& g) {  // g ∘ f
  return {g.alpha * f.alpha, g.alpha * f.beta + g.beta, g.gamma * f.gamma, g.gamma * f.delta + g.delta * f.alpha,
          g.gamma * f.epsilon + g.delta * f.beta + g.epsilon};
}

Affine dense_affine(const DenseLayer& layer, std::size_t fan_in) {
  check_variance("dense", "sw2 (σ_w²)", layer.sw2);
  check_variance("dense", "sb2 (σ_b²)", layer.sb2);
  if (!layer.bias && layer.sb2 != 0.0)
    throw ad::Error(fmt::format("dense: sb2 = {} given for a layer without bias", layer.sb2));
  if (layer.parameterization == nn::Parameterization::ntk)  // Θ′ = σ_w²Θ + K′ = σ_w²Θ + σ_w²K + σ_b²
    return {layer.sw2, layer.sb2, layer.sw2, layer.sw2, layer.sb2};
  if (fan_in == 0)
    throw ad::Error("dense: the standard parameterization needs the width feeding the layer "
                    "(set DenseLayer::width of the layer before, or InfiniteMlp::width)");
  // Θ′ = σ_w²Θ + n·K + 1 (∂z/∂W_ij = h_j sums to n·K; ∂z/∂b = 1)
  return {layer.sw2, layer.sb2, layer.sw2, static_cast<double>(fan_in), layer.bias ? 1.0 : 0.0};
}

void affine_variances(Kernel& k, const Affine& a) {
  for (std::size_t i = 0; i < k.var1.size(); ++i) k.var1.flat(i) = a.alpha * k.var1.flat(i) + a.beta;
  for (std::size_t j = 0; j < k.var2.size(); ++j) k.var2.flat(j) = a.alpha * k.var2.flat(j) + a.beta;
}

void affine_entries(const Window& w, const Affine& a) {
  if (a.is_identity()) return;
  double* K = w.nngp;
  double* T = w.ntk;
  const std::size_t size = w.rows * w.cols;
  for (std::size_t i = 0; i < size; ++i) {
    if (T) T[i] = a.gamma * T[i] + a.delta * K[i] + a.epsilon;
    K[i] = a.alpha * K[i] + a.beta;
  }
}

void apply_affine(Kernel& k, const Affine& a) {
  if (a.is_identity()) return;
  affine_entries(whole(k), a);
  affine_variances(k, a);
}

}  // namespace ntk::detail
