// The layers of ntk/infinite.hpp: the input kernel, Dense and activation layers, their fused
// composition (serial) and the fully connected nets built from them. The passes they run are
// apart: closed_forms.cpp (relu, erf), quadrature.cpp (every other activation, and the 1-D
// rules), affine_map.cpp (Dense), kernel_matrix.cpp (matrices and threads).
#include "ntk/infinite.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "ntk/affine_map.hpp"
#include "ntk/closed_forms.hpp"
#include "ntk/kernel_matrix.hpp"
#include "ntk/quadrature.hpp"

namespace ntk {

namespace ad = autodiff;
using detail::Affine;
using detail::Stage;
using detail::apply_affine;
using detail::check_variance;
using detail::closed_form_run;
using detail::dense_affine;
using detail::gemm_transposed;
using detail::large_matrix;
using detail::mirror_upper;
using detail::quadrature;
using detail::syrk_upper;

std::string to_string(KernelKind kind) { return kind == KernelKind::nngp ? "nngp" : "ntk"; }

KernelKind parse_kernel_kind(const std::string& name) {
  if (name == "nngp") return KernelKind::nngp;
  if (name == "ntk") return KernelKind::ntk;
  throw ad::Error(fmt::format("unknown kernel kind '{}' (expected nngp or ntk)", name));
}

std::string to_string(ActivationMethod method) {
  switch (method) {
    case ActivationMethod::automatic: return "auto";
    case ActivationMethod::closed_form: return "closed";
    case ActivationMethod::quadrature: return "quadrature";
  }
  return "unknown";
}

ActivationMethod parse_activation_method(const std::string& name) {
  for (ActivationMethod m : {ActivationMethod::automatic, ActivationMethod::closed_form, ActivationMethod::quadrature})
    if (to_string(m) == name) return m;
  throw ad::Error(fmt::format("unknown activation method '{}' (expected auto, closed or quadrature)", name));
}

// ---- kernels ------------------------------------------------------------------------------------

namespace {

void check_matrix(const char* what, const Tensor& x) {
  if (x.dim() != 2)
    throw ad::Error(fmt::format("{}: inputs must be a matrix (N, d) with one point per row, got shape {}", what,
                                ad::to_string(x.shape())));
  if (x.shape()[1] == 0) throw ad::Error(fmt::format("{}: inputs have no features (shape {})", what, ad::to_string(x.shape())));
  if (!ad::all_finite(x)) throw ad::Error(fmt::format("{}: inputs have non-finite entries", what));
}

void check_kernel(const char* what, const Kernel& k) {
  const std::size_t n1 = k.var1.size(), n2 = k.var2.size();
  const bool ok = k.nngp.dim() == 2 && k.nngp.shape()[0] == n1 && k.nngp.shape()[1] == n2 && k.var1.dim() == 1 &&
                  k.var2.dim() == 1 && (!k.track_ntk || k.ntk.shape() == k.nngp.shape()) &&
                  (!k.same_inputs || n1 == n2);
  if (!ok)
    throw ad::Error(fmt::format("{}: inconsistent kernel state (nngp {}, ntk {}, var1 {}, var2 {})", what,
                                ad::to_string(k.nngp.shape()), ad::to_string(k.ntk.shape()),
                                ad::to_string(k.var1.shape()), ad::to_string(k.var2.shape())));
  for (const Tensor* var : {&k.var1, &k.var2})
    for (std::size_t i = 0; i < var->size(); ++i)
      if (!std::isfinite(var->flat(i)) || var->flat(i) < 0.0)
        throw ad::Error(fmt::format("{}: kernel variance {} at index {} (must be finite and >= 0)", what, var->flat(i), i));
}

// The input layer. With `lazy_zero_ntk` the NTK matrix is allocated but not zeroed: the caller
// passes ntk_zero = true to the first pass, which then does not read it.
Kernel make_input_kernel(const Tensor& x1, const Tensor& x2, bool same, bool track_ntk, bool lazy_zero_ntk) {
  check_matrix("input_kernel (x1)", x1);
  check_matrix("input_kernel (x2)", x2);
  if (x1.shape()[1] != x2.shape()[1])
    throw ad::Error(fmt::format("input_kernel: x1 has {} features per row and x2 has {} (shapes {} and {})",
                                x1.shape()[1], x2.shape()[1], ad::to_string(x1.shape()), ad::to_string(x2.shape())));
  const std::size_t n1 = x1.shape()[0], n2 = x2.shape()[0], d = x1.shape()[1];
  const double inv_d = 1.0 / static_cast<double>(d);
  Kernel k;
  k.same_inputs = same;
  k.nngp = large_matrix(n1, n2);
  if (same) {  // the upper triangle by SYRK, then mirrored: exactly symmetric
    syrk_upper(x1, inv_d, k.nngp);
    mirror_upper(k.nngp.data(), n1);
  } else {
    gemm_transposed(x1, x2, inv_d, k.nngp);
  }
  auto squared_norms = [&](const Tensor& x) {
    Tensor v = Tensor::zeros({x.shape()[0]});
    for (std::size_t i = 0; i < x.shape()[0]; ++i) {
      double s = 0.0;
      for (std::size_t f = 0; f < d; ++f) s += x.flat(i * d + f) * x.flat(i * d + f);
      v.flat(i) = s * inv_d;
    }
    return v;
  };
  k.var1 = squared_norms(x1);
  k.var2 = same ? k.var1 : squared_norms(x2);
  if (same)  // the diagonal and the variances agree exactly
    for (std::size_t i = 0; i < n1; ++i) k.nngp.flat(i * n1 + i) = k.var1.flat(i);
  k.track_ntk = track_ntk;
  if (track_ntk) {
    k.ntk = large_matrix(n1, n2);
    if (!lazy_zero_ntk) std::fill(k.ntk.data(), k.ntk.data() + k.ntk.size(), 0.0);
  } else {
    k.ntk = Tensor::zeros({0});
  }
  k.width = d;
  return k;
}

}  // namespace

Kernel input_kernel(const Tensor& x1, const Tensor& x2, bool track_ntk) {
  return make_input_kernel(x1, x2, &x1 == &x2, track_ntk, false);
}

Kernel input_kernel(const Tensor& x, bool track_ntk) { return make_input_kernel(x, x, true, track_ntk, false); }

Kernel dense(Kernel k, const DenseLayer& layer) {
  check_kernel("dense", k);
  apply_affine(k, dense_affine(layer, k.width));
  k.width = layer.width;
  return k;
}

std::string ActivationLayer::name() const { return custom ? custom_name : nn::to_string(activation); }

bool ActivationLayer::has_closed_form() const {
  return !custom && (activation == nn::Activation::relu || activation == nn::Activation::erf ||
                     activation == nn::Activation::identity);
}

namespace {

void check_activation(const ActivationLayer& layer) {
  if (layer.method == ActivationMethod::closed_form && !layer.has_closed_form())
    throw ad::Error(fmt::format("activation {}: no closed form (relu, erf and identity have one); use quadrature",
                                layer.name()));
  if (layer.nodes > kMaxQuadratureNodes)
    throw ad::Error(fmt::format("activation {}: {} quadrature nodes (at most {})", layer.name(), layer.nodes,
                                kMaxQuadratureNodes));
}

// Layers applied in order, fused: Dense maps compose (Affine), identity activations vanish, and a
// run of closed-form activations with the maps between them is one pass over memory; only
// quadrature activations get passes of their own. Symmetric kernels are computed in their upper
// triangle and mirrored at the end. `ntk_zero`: Θ is known to be 0 and was never written.
// `ntk_only`: the caller wants k.ntk alone; when the layers are one closed-form pass from the input
// kernel, Θ is computed over the NNGP's memory (closed_form_run's ntk_into_nngp) and moved to
// k.ntk, and the NNGP is left unspecified: one kernel-sized matrix instead of two.
Kernel run_layers(Kernel k, const std::vector<Layer>& layers, bool ntk_zero, bool ntk_only = false) {
  check_kernel("serial", k);
  for (const Layer& layer : layers)
    if (const auto* act = std::get_if<ActivationLayer>(&layer)) check_activation(*act);
  std::vector<Stage> stages;
  Affine pending;  // Dense maps since the last stage
  const bool has_quadrature = std::any_of(layers.begin(), layers.end(), [](const Layer& layer) {
    const auto* act = std::get_if<ActivationLayer>(&layer);
    return act && !(act->has_closed_form() && act->method != ActivationMethod::quadrature);
  });
  bool in_place = false;  // Θ ended up in k.nngp's memory
  auto flush = [&] {
    if (stages.empty()) {
      if (ntk_zero && k.track_ntk) std::fill(k.ntk.data(), k.ntk.data() + k.ntk.size(), 0.0);
      apply_affine(k, pending);
    } else {
      in_place = ntk_only && ntk_zero && k.track_ntk && !has_quadrature;
      closed_form_run(k, stages, pending, ntk_zero, in_place);
    }
    ntk_zero = false;
    stages.clear();
    pending = Affine{};
  };
  for (const Layer& layer : layers) {
    if (const auto* d = std::get_if<DenseLayer>(&layer)) {
      pending = then(pending, dense_affine(*d, k.width));
      k.width = d->width;
      continue;
    }
    const ActivationLayer& act = std::get<ActivationLayer>(layer);
    const bool closed = act.has_closed_form() && act.method != ActivationMethod::quadrature;
    if (closed && act.activation == nn::Activation::identity) continue;  // E[uv] = c, E[1·1] = 1
    if (closed) {
      stages.push_back(Stage{act.activation == nn::Activation::relu, pending, {}, {}, {}, {}});
      pending = Affine{};
      continue;
    }
    flush();
    quadrature(k, act);
  }
  flush();
  if (in_place) std::swap(k.nngp, k.ntk);  // k.nngp: the untouched matrix, unspecified
  if (k.same_inputs) {
    const std::size_t n = k.var1.size();
    if (!in_place) mirror_upper(k.nngp.data(), n);
    if (k.track_ntk) mirror_upper(k.ntk.data(), n);
    k.var2 = k.var1;
  }
  return k;
}

}  // namespace

Kernel activation(Kernel k, const ActivationLayer& layer) { return run_layers(std::move(k), {layer}, false); }

Kernel apply(Kernel k, const Layer& layer) {
  if (const auto* d = std::get_if<DenseLayer>(&layer)) return dense(std::move(k), *d);
  return activation(std::move(k), std::get<ActivationLayer>(layer));
}

Kernel serial(Kernel k, const std::vector<Layer>& layers) { return run_layers(std::move(k), layers, false); }


// ---- fully connected nets -----------------------------------------------------------------------

std::string InfiniteMlp::describe() const {
  // Every setting of InfiniteMlp, in its order (0 nodes: automatic).
  return fmt::format("depth {} {} sw2={} sb2={} {} {} parameterization width={} method={} quadrature={} nodes={}", depth,
                     nn::to_string(activation), sw2, sb2, bias ? "bias" : "no-bias", nn::to_string(parameterization),
                     width, to_string(method), to_string(quadrature_rule),
                     quadrature_nodes == 0 ? std::string("auto") : std::to_string(quadrature_nodes));
}

std::vector<Layer> mlp_layers(const InfiniteMlp& mlp) {
  const bool standard = mlp.parameterization == nn::Parameterization::standard;
  if (standard && mlp.depth > 0 && mlp.width == 0)
    throw ad::Error("infinite_width_kernel: the standard parameterization needs the hidden width (InfiniteMlp::width)");
  const DenseLayer hidden{mlp.sw2, mlp.sb2, mlp.bias, mlp.parameterization, mlp.width};
  ActivationLayer act;
  act.activation = mlp.activation;
  act.method = mlp.method;
  act.rule = mlp.quadrature_rule;
  act.nodes = mlp.quadrature_nodes;
  std::vector<Layer> layers;
  for (std::size_t l = 0; l < mlp.depth; ++l) {
    layers.emplace_back(hidden);
    layers.emplace_back(act);
  }
  DenseLayer readout = hidden;
  readout.width = 1;
  layers.emplace_back(readout);
  return layers;
}

Kernel infinite_width_kernels(const Tensor& x1, const Tensor& x2, const InfiniteMlp& mlp) {
  const std::vector<Layer> layers = mlp_layers(mlp);
  return run_layers(make_input_kernel(x1, x2, &x1 == &x2, true, true), layers, true);
}

Kernel infinite_width_kernels(const Tensor& x, const InfiniteMlp& mlp) {
  const std::vector<Layer> layers = mlp_layers(mlp);
  return run_layers(make_input_kernel(x, x, true, true, true), layers, true);
}

Tensor infinite_width_kernel(const Tensor& x1, const Tensor& x2, const InfiniteMlp& mlp, KernelKind kind) {
  const std::vector<Layer> layers = mlp_layers(mlp);
  const bool ntk = kind == KernelKind::ntk;
  Kernel k = run_layers(make_input_kernel(x1, x2, &x1 == &x2, ntk, true), layers, true, ntk);
  return ntk ? std::move(k.ntk) : std::move(k.nngp);
}

Tensor infinite_width_kernel(const Tensor& x, const InfiniteMlp& mlp, KernelKind kind) {
  const std::vector<Layer> layers = mlp_layers(mlp);
  const bool ntk = kind == KernelKind::ntk;
  Kernel k = run_layers(make_input_kernel(x, x, true, ntk, true), layers, true, ntk);
  return ntk ? std::move(k.ntk) : std::move(k.nngp);
}

nn::MLPConfig mlp_config(const InfiniteMlp& mlp, std::size_t input_dim, std::size_t width) {
  nn::MLPConfig config;
  config.input_dim = input_dim;
  config.hidden = std::vector<std::size_t>(mlp.depth, width);
  config.output_dim = 1;
  config.activation = mlp.activation;
  config.parameterization = mlp.parameterization;
  config.bias = mlp.bias;
  check_variance("mlp_config", "sw2 (σ_w²)", mlp.sw2);
  check_variance("mlp_config", "sb2 (σ_b²)", mlp.sb2);
  config.sw2 = mlp.sw2;
  config.sb2 = mlp.sb2;
  if (mlp.parameterization == nn::Parameterization::standard) {
    if (mlp.sb2 != 0.0)
      throw ad::Error("mlp_config: nn's standard parameterization (LeCun-normal init) starts biases at 0: needs sb2 = 0");
    config.init = nn::Init::lecun_normal;
  }
  return config;
}

}  // namespace ntk
