// The layers of ntk/infinite.hpp: the input kernel, Dense and activation layers, their fused
// composition (serial) and the fully connected nets built from them. The passes they run are
// apart: closed_forms.cpp (relu, erf), quadrature.cpp (every other activation, and the 1-D
// rules), affine_map.cpp (Dense), kernel_matrix.cpp (matrices and threads).
#include "ntk/infinite.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
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
using detail::dense_affine;
using detail::large_matrix;
using detail::mirror_upper;
using detail::QuadraturePlan;
using detail::Window;

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

void check_variances(const char* what, const Kernel& k) {
  for (const Tensor* var : {&k.var1, &k.var2})
    for (std::size_t i = 0; i < var->size(); ++i)
      if (!std::isfinite(var->flat(i)) || var->flat(i) < 0.0)
        throw ad::Error(fmt::format("{}: kernel variance {} at index {} (must be finite and >= 0)", what, var->flat(i), i));
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
  check_variances(what, k);
}

// The input layer's variances nngp(x, x) = |x|²/d and width, without its matrices.
Kernel input_state(const Tensor& x1, const Tensor& x2, bool same, bool track_ntk) {
  check_matrix("input_kernel (x1)", x1);
  check_matrix("input_kernel (x2)", x2);
  if (x1.shape()[1] != x2.shape()[1])
    throw ad::Error(fmt::format("input_kernel: x1 has {} features per row and x2 has {} (shapes {} and {})",
                                x1.shape()[1], x2.shape()[1], ad::to_string(x1.shape()), ad::to_string(x2.shape())));
  const std::size_t d = x1.shape()[1];
  const double inv_d = 1.0 / static_cast<double>(d);
  auto squared_norms = [&](const Tensor& x) {
    Tensor v = Tensor::zeros({x.shape()[0]});
    for (std::size_t i = 0; i < x.shape()[0]; ++i) {
      double s = 0.0;
      for (std::size_t f = 0; f < d; ++f) s += x.flat(i * d + f) * x.flat(i * d + f);
      v.flat(i) = s * inv_d;
    }
    return v;
  };
  Kernel k;
  k.same_inputs = same;
  k.var1 = squared_norms(x1);
  k.var2 = same ? k.var1 : squared_norms(x2);
  k.track_ntk = track_ntk;
  k.width = d;
  return k;
}

// The input layer's entries in a window: nngp = X1 X2ᵀ/d (the upper triangle by SYRK, then
// mirrored, for a symmetric kernel), and on the diagonal the variances, so that the two agree
// exactly. Θ = 0 is left to the caller.
void input_entries(const Tensor& x1, const Tensor& x2, const Tensor& var1, const Window& w) {
  detail::input_gram(x1, x2, 1.0 / static_cast<double>(x1.shape()[1]), w);
  if (!w.symmetric) return;
  detail::mirror_window(w, w.nngp);
  for (std::size_t i = 0; i < w.rows; ++i) {
    const std::size_t g = w.row0 + i;
    if (g >= w.col0 && g < w.col0 + w.cols) w.nngp[i * w.cols + (g - w.col0)] = var1.flat(g);
  }
}

// The input layer. With `lazy_zero_ntk` the NTK matrix is allocated but not zeroed: the caller
// passes ntk_zero = true to the first pass, which then does not read it.
Kernel make_input_kernel(const Tensor& x1, const Tensor& x2, bool same, bool track_ntk, bool lazy_zero_ntk) {
  Kernel k = input_state(x1, x2, same, track_ntk);
  const std::size_t n1 = x1.shape()[0], n2 = x2.shape()[0];
  k.nngp = large_matrix(n1, n2);
  if (track_ntk) {
    k.ntk = large_matrix(n1, n2);
    if (!lazy_zero_ntk) std::fill(k.ntk.data(), k.ntk.data() + k.ntk.size(), 0.0);
  } else {
    k.ntk = Tensor::zeros({0});
  }
  input_entries(x1, x2, k.var1, detail::whole(k));
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

// One pass of a layer stack over the entries, with what it needs of the points (prepared from the
// variances of all of them by plan_layers): a Dense map, a fused run of closed-form activations,
// or a quadrature layer.
struct Step {
  enum class Kind { affine, closed_form, quadrature };
  Kind kind = Kind::affine;
  Affine map;             // affine: the map; closed_form: the map after the last stage
  bool ntk_zero = false;  // Θ is 0 and was never written: affine writes it, closed_form does not read it
  bool in_place = false;  // closed_form: Θ is computed over the NNGP's memory
  std::vector<Stage> stages;
  std::shared_ptr<const QuadraturePlan> quadrature;
};

void run_step(const Step& s, const Window& w) {
  switch (s.kind) {
    case Step::Kind::affine:
      if (s.ntk_zero && w.ntk) std::fill(w.ntk, w.ntk + w.rows * w.cols, 0.0);
      detail::affine_entries(w, s.map);
      break;
    case Step::Kind::closed_form: detail::closed_form_entries(w, s.stages, s.map, s.ntk_zero, s.in_place); break;
    case Step::Kind::quadrature: detail::quadrature_entries(*s.quadrature, w); break;
  }
}

// Layers applied in order, fused: Dense maps compose (Affine), identity activations vanish, and a
// run of closed-form activations with the maps between them is one pass over memory; only
// quadrature activations get passes of their own. Each pass is prepared from k's variances, which
// are mapped along, and handed to `each` in order. `ntk_zero`: Θ is known to be 0 and was never
// written. `ntk_only`: the caller wants Θ alone; when the layers are one closed-form pass from the
// input kernel, Θ is computed over the NNGP's memory (closed_form_run's ntk_into_nngp) and the
// NNGP is left unspecified: one kernel-sized matrix instead of two. Returns whether it is.
bool plan_layers(Kernel& k, const std::vector<Layer>& layers, bool ntk_zero, bool ntk_only,
                 const std::function<void(Step&&)>& each) {
  for (const Layer& layer : layers)
    if (const auto* act = std::get_if<ActivationLayer>(&layer)) check_activation(*act);
  std::vector<Stage> stages;
  Affine pending;  // Dense maps since the last stage
  const bool has_quadrature = std::any_of(layers.begin(), layers.end(), [](const Layer& layer) {
    const auto* act = std::get_if<ActivationLayer>(&layer);
    return act && !(act->has_closed_form() && act->method != ActivationMethod::quadrature);
  });
  bool in_place = false;  // Θ ends up in k.nngp's memory
  auto flush = [&] {
    Step step;
    step.map = pending;
    step.ntk_zero = ntk_zero;
    if (stages.empty()) {
      step.ntk_zero = ntk_zero && k.track_ntk;
      if (!pending.is_identity()) detail::affine_variances(k, pending);
    } else {
      in_place = ntk_only && ntk_zero && k.track_ntk && !has_quadrature;
      step.kind = Step::Kind::closed_form;
      step.in_place = in_place;
      step.stages = std::move(stages);
      detail::prepare_closed_form(k, step.stages, pending);
    }
    ntk_zero = false;
    stages.clear();
    pending = Affine{};
    each(std::move(step));
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
    Step step;
    step.kind = Step::Kind::quadrature;
    step.quadrature = detail::prepare_quadrature(k, act);
    each(std::move(step));
  }
  flush();
  return in_place;
}

// The layers on a whole state: each pass prepared, then run over all entries; symmetric kernels
// are computed in their upper triangle and mirrored at the end.
Kernel run_layers(Kernel k, const std::vector<Layer>& layers, bool ntk_zero, bool ntk_only = false) {
  check_kernel("serial", k);
  const Window w = detail::whole(k);
  const bool in_place = plan_layers(k, layers, ntk_zero, ntk_only, [&](Step&& step) { run_step(step, w); });
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

// ---- rows apart ------------------------------------------------------------------------------

struct KernelRows::Impl {
  Tensor x1, x2;  // x2 empty when symmetric
  bool symmetric = false;
  KernelKind kind = KernelKind::ntk;
  Tensor var1;    // the input variances (the input layer's diagonal)
  std::vector<Step> steps;
  bool in_place = false;
};

KernelRows::KernelRows(Tensor x1, Tensor x2, const InfiniteMlp& mlp, KernelKind kind) : impl_(std::make_unique<Impl>()) {
  impl_->x1 = std::move(x1);
  impl_->x2 = std::move(x2);
  prepare(mlp, kind, false);
}

KernelRows::KernelRows(Tensor x, const InfiniteMlp& mlp, KernelKind kind) : impl_(std::make_unique<Impl>()) {
  impl_->x1 = std::move(x);
  prepare(mlp, kind, true);
}

KernelRows::~KernelRows() = default;
KernelRows::KernelRows(KernelRows&&) noexcept = default;
KernelRows& KernelRows::operator=(KernelRows&&) noexcept = default;

void KernelRows::prepare(const InfiniteMlp& mlp, KernelKind kind, bool symmetric) {
  // As infinite_width_kernel: the same input state, checks and passes, prepared from all points.
  Impl& m = *impl_;
  const std::vector<Layer> layers = mlp_layers(mlp);
  m.symmetric = symmetric;
  m.kind = kind;
  const bool ntk = kind == KernelKind::ntk;
  Kernel k = input_state(m.x1, symmetric ? m.x1 : m.x2, symmetric, ntk);
  check_variances("serial", k);
  m.var1 = k.var1;
  m.in_place = plan_layers(k, layers, true, ntk, [&](Step&& step) { m.steps.push_back(std::move(step)); });
}

std::size_t KernelRows::rows() const { return impl_->x1.shape()[0]; }

std::size_t KernelRows::columns() const { return (impl_->symmetric ? impl_->x1 : impl_->x2).shape()[0]; }

bool KernelRows::symmetric() const { return impl_->symmetric; }

std::size_t KernelRows::row_alignment() const { return impl_->x1.shape()[1] > detail::kSmallGram ? detail::kGramTile : 1; }

Tensor KernelRows::block(std::size_t begin, std::size_t end) const {
  const Impl& m = *impl_;
  if (begin > end || end > rows())
    throw ad::Error(fmt::format("KernelRows::block: rows [{}, {}) of a kernel with {} rows", begin, end, rows()));
  Window w;
  w.rows = end - begin;
  w.row0 = begin;
  w.col0 = m.symmetric ? begin : 0;
  w.cols = columns() - w.col0;
  w.symmetric = m.symmetric;
  if (w.rows == 0) return Tensor::empty({0, w.cols});
  const bool ntk = m.kind == KernelKind::ntk;
  Tensor nngp = large_matrix(w.rows, w.cols), theta;
  if (ntk && !m.in_place) theta = large_matrix(w.rows, w.cols);  // (Θ in place: over the NNGP's memory)
  w.nngp = nngp.data();
  w.ntk = ntk && !m.in_place ? theta.data() : nullptr;
  input_entries(m.x1, m.symmetric ? m.x1 : m.x2, m.var1, w);
  for (const Step& step : m.steps) run_step(step, w);
  Tensor& out = ntk && !m.in_place ? theta : nngp;
  detail::mirror_window(w, out.data());
  return std::move(out);
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
