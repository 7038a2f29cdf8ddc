#include "ntk/empirical.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "nn/mlp.hpp"
#include "nn/wrappers.hpp"
#include "ntk/kernel_matrix.hpp"
#include "ntk/linalg.hpp"

namespace ntk {

namespace ad = autodiff;
using ad::Shape;
using ad::Var;

std::string to_string(NtkMethod method) {
  switch (method) {
    case NtkMethod::automatic: return "auto";
    case NtkMethod::jacobian_contraction: return "jacobian";
    case NtkMethod::ntk_vector_products: return "ntk-vector";
    case NtkMethod::structured: return "structured";
  }
  return "unknown";
}

NtkMethod parse_ntk_method(const std::string& name) {
  for (NtkMethod m : {NtkMethod::automatic, NtkMethod::jacobian_contraction, NtkMethod::ntk_vector_products,
                      NtkMethod::structured})
    if (to_string(m) == name) return m;
  throw ad::Error(fmt::format("unknown NTK method '{}' (expected auto, jacobian, ntk-vector or structured)", name));
}

namespace {

// y(w) = f(X, w) as one flat vector of N·k outputs, on the tape.
Var flat_outputs(const nn::Model& model, const Var& w, const Tensor& x) {
  const Var y = model.forward(w, w.tape().constant(x));
  return ad::reshape(y, {y.size()});
}

// Sums the k×k output blocks of a full (N1·k, N2·k) kernel down to their traces: (N1, N2).
Tensor trace_outputs(const Tensor& full, std::size_t n1, std::size_t n2, std::size_t k) {
  Tensor traced = Tensor::zeros({n1, n2});
  for (std::size_t n = 0; n < n1; ++n)
    for (std::size_t m = 0; m < n2; ++m)
      for (std::size_t a = 0; a < k; ++a) traced.flat(n * n2 + m) += full.flat((n * k + a) * (n2 * k) + m * k + a);
  return traced;
}

// ---- 1. Jacobian contraction ----------------------------------------------------------------
Tensor by_jacobian_contraction(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2,
                               bool same) {
  const Tensor j1 = jacobian(model, w, x1);
  return same ? gram(j1) : ad::matmul(j1, jacobian(model, w, x2), false, true);
}

// ---- 2. NTK-vector products -----------------------------------------------------------------
// Columns of Θ in chunks of B: B VJPs through one sweep on X2 (J2ᵀ E, never J2 itself), then B
// JVPs through one forward pass on X1.
Tensor by_ntk_vector_products(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2,
                              std::size_t chunk) {
  const std::size_t k = model.output_dim();
  const std::size_t rows = x1.shape()[0] * k, cols = x2.shape()[0] * k;
  chunk = std::max<std::size_t>(1, std::min(chunk, cols));
  Tensor theta = Tensor::zeros({rows, cols});
  ad::TapeScope scope;
  ad::Tape& tape = scope.tape();
  const Var w2 = tape.variable(w);
  const Var y2 = flat_outputs(model, w2, x2);
  const std::size_t recorded = tape.size();
  for (std::size_t start = 0; start < cols; start += chunk) {
    const std::size_t b = std::min(chunk, cols - start);
    Tensor seeds = Tensor::zeros({b, cols});
    for (std::size_t i = 0; i < b; ++i) seeds.flat(i * cols + start + i) = 1.0;
    const Tensor pulled = std::move(ad::backward(y2, {w2}, seeds, {b})[0]);  // (b, p): rows of J2ᵀ E
    tape.set_tangent_batch({b});
    const Var w1 = tape.variable(w, pulled);
    const Var y1 = flat_outputs(model, w1, x1);
    const Tensor pushed = y1.has_tangent() ? y1.tangent() : Tensor::zeros({b, rows});  // (b, rows)
    for (std::size_t i = 0; i < b; ++i)
      for (std::size_t r = 0; r < rows; ++r) theta.flat(r * cols + start + i) = pushed.flat(i * rows + r);
    tape.rewind(recorded);
    tape.set_tangent_batch({});
  }
  return theta;
}

// ---- 3. Structured derivatives for MLPs -----------------------------------------------------
// An MLP possibly inside Centered/Scaled wrappers: centering keeps J, scaling by α multiplies Θ by α².
struct UnwrappedMlp {
  const nn::MLP* mlp = nullptr;
  double factor = 1.0;
};

UnwrappedMlp unwrap(const nn::Model& model) {
  const nn::Model* m = &model;
  double factor = 1.0;
  for (;;) {
    if (const auto* s = dynamic_cast<const nn::Scaled*>(m)) {
      factor *= s->alpha() * s->alpha();
      m = &s->inner();
    } else if (const auto* c = dynamic_cast<const nn::Centered*>(m)) {
      m = &c->inner();
    } else {
      return {dynamic_cast<const nn::MLP*>(m), factor};
    }
  }
}

// What one batch of inputs contributes: each layer's input h_{l-1} (N, in_l) and the
// backpropagated sensitivities D_l (N·k, out_l), row n·k + a = ∂f_a(x_n)/∂z_l.
struct LayerTraces {
  std::vector<Tensor> inputs;
  std::vector<Tensor> sensitivities;
};

// s · A op(W) for a layer's weight block W, read in place from w (no copy).
Tensor times_weight(const Tensor& a, const Tensor& w, const nn::ParamBlock& block, bool transpose, double s) {
  Tensor product = ad::segment_matmul(a, w, block.offset, block.shape, transpose);
  if (s != 1.0) product = ad::scale(product, s);
  return product;  // moved out, not copied (a ?: of a named tensor would copy it)
}

// The traces of every layer, or (lowest > 0) with the backward sweep stopped at layer `lowest`.
LayerTraces trace_mlp(const nn::MLP& mlp, const Tensor& w, const Tensor& x, std::size_t lowest = 0) {
  const auto& layers = mlp.layers();
  const std::size_t n = x.shape()[0], k = mlp.output_dim(), depth = layers.size();
  LayerTraces t;
  std::vector<Tensor> slopes;  // φ'(z_l) for hidden layers, (N, out_l)
  t.inputs.push_back(x);
  for (std::size_t l = 0; l < depth; ++l) {
    const nn::Dense& layer = layers[l];
    Tensor z = times_weight(t.inputs.back(), w, layer.weight(), true, layer.weight_multiplier());  // c_w H Wᵀ
    if (layer.config().bias) {
      const double cb = layer.bias_multiplier();
      const double* b = w.data() + layer.bias().offset;
      const std::size_t width = z.shape()[1];
      for (std::size_t i = 0; i < z.shape()[0]; ++i)
        for (std::size_t j = 0; j < width; ++j) z.flat(i * width + j) += cb * b[j];
    }
    if (l + 1 == depth) break;
    // φ(z) and φ'(z) in one forward-mode pass (elementwise: the JVP along ones is φ').
    const Shape z_shape = z.shape();
    auto [value, slope] = ad::jvp([&](const Var& u) { return nn::activate(mlp.config().activation, u); },
                                  std::move(z), Tensor::ones(z_shape));
    t.inputs.push_back(std::move(value));
    slopes.push_back(std::move(slope));
  }
  t.sensitivities.resize(depth);
  Tensor& last = t.sensitivities[depth - 1];  // ∂f_a/∂z_L = e_a
  last = Tensor::zeros({n * k, k});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < k; ++a) last.flat((i * k + a) * k + a) = 1.0;
  for (std::size_t l = depth - 1; l-- > lowest;) {
    const nn::Dense& next = layers[l + 1];
    // ∂f/∂z_l = (c_w ∂f/∂z_{l+1} W_{l+1}) ⊙ φ'(z_l)
    Tensor back = times_weight(t.sensitivities[l + 1], w, next.weight(), false, next.weight_multiplier());
    const Tensor& s = slopes[l];
    const std::size_t width = back.shape()[1];
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t j = 0; j < width; ++j) back.flat((i * k + a) * width + j) *= s.flat(i * width + j);
    t.sensitivities[l] = std::move(back);
    slopes[l] = Tensor();  // used: its memory goes back while the sweep goes on
  }
  return t;
}

// One layer's traces for all points, computed kRecomputeRows points at a time (a forward and
// backward sweep each, of which only layer l's input and sensitivities are kept): the memory of
// two (N, width) matrices instead of every layer's, for one more forward sweep per layer. Written
// to `input` (N × in_l; not for l = 0, whose input is X itself) and `sensitivity` (N·k × out_l),
// wherever the caller keeps them (by_structure: in the half of Θ's memory it does not use yet).
void trace_layer_into(const nn::MLP& mlp, const Tensor& w, const Tensor& x, std::size_t l, double* input,
                      double* sensitivity) {
  constexpr std::size_t kRecomputeRows = 64;
  const std::size_t n = x.shape()[0], d = x.shape()[1], k = mlp.output_dim();
  const nn::Dense& layer = mlp.layers()[l];
  for (std::size_t p0 = 0; p0 < n; p0 += kRecomputeRows) {
    const std::size_t p1 = std::min(n, p0 + kRecomputeRows);
    Tensor rows = Tensor::empty({p1 - p0, d});
    std::copy(x.data() + p0 * d, x.data() + p1 * d, rows.data());
    const LayerTraces t = trace_mlp(mlp, w, rows, l);
    if (l > 0) std::copy(t.inputs[l].data(), t.inputs[l].data() + t.inputs[l].size(), input + p0 * layer.config().in);
    const Tensor& g = t.sensitivities[l];
    std::copy(g.data(), g.data() + g.size(), sensitivity + p0 * k * layer.config().out);
  }
}

// The same into tensors of their own.
struct LayerTrace {
  Tensor input;        // h_{l-1}, (N, in_l); empty for l = 0, whose input is X
  Tensor sensitivity;  // D_l, (N·k, out_l)
};

LayerTrace trace_layer(const nn::MLP& mlp, const Tensor& w, const Tensor& x, std::size_t l) {
  const std::size_t n = x.shape()[0], k = mlp.output_dim();
  const nn::Dense& layer = mlp.layers()[l];
  LayerTrace out;
  if (l > 0) out.input = Tensor::empty({n, layer.config().in});
  out.sensitivity = Tensor::empty({n * k, layer.config().out});
  trace_layer_into(mlp, w, x, l, l > 0 ? out.input.data() : nullptr, out.sensitivity.data());
  return out;
}

// Layer by layer (trace_layer) when every layer's traces at once would take more than 64 MiB and
// more than half of Θ: e.g. 5000 Fashion-MNIST images through a width-1024, depth-3 net, whose
// traces (~280 MB) outweigh the 200 MB kernel. A choice by sizes alone, the same on every run.
bool trace_by_layer(const nn::MLP& mlp, std::size_t n1, std::size_t n2, bool same, bool traced) {
  const std::size_t k = mlp.output_dim();
  double per_point = 0.0;  // doubles of one point's traces: inputs, sensitivities, slopes
  for (const nn::Dense& layer : mlp.layers())
    per_point += static_cast<double>(layer.config().in + 2 * k * layer.config().out);
  const double traces = 8.0 * per_point * static_cast<double>(same ? n1 : n1 + n2);
  const double theta = 8.0 * static_cast<double>(n1 * n2) * (traced ? 1.0 : static_cast<double>(k * k));
  return traces > 64.0 * (1 << 20) && traces > 0.5 * theta;
}

Tensor by_structure(const UnwrappedMlp& net, const Tensor& w, const Tensor& x1, const Tensor& x2, bool same,
                    bool traced, NtkOptions::Traces traces) {
  const nn::MLP& mlp = *net.mlp;
  const std::size_t k = mlp.output_dim(), n1 = x1.shape()[0], n2 = x2.shape()[0];
  const std::size_t rows = traced ? n1 : n1 * k, cols = traced ? n2 : n2 * k;
  const std::size_t per = traced ? 1 : k;  // rows (columns) of Θ per point
  Tensor theta = detail::large_matrix(rows, cols);
  double* out = theta.data();
  // Θ = Σ_l G_δ,l ⊙ (c_w² G_h,l + c_b²), G_h repeated over the k × k output blocks, layer by
  // layer, in blocks of kRows points: the Gram matrices exist only as (block × N) strips, so the
  // memory is Θ and the traces (it used to hold Θ and two full N × N Gram matrices). For symmetric
  // kernels a strip covers the columns from its first point on: the upper triangle, mirrored once
  // at the end. Each entry sums the layers in the same order whichever way the traces are made.
  constexpr std::size_t kRows = 64;
  // Packed: a symmetric kernel with traces made layer by layer keeps its upper triangle packed
  // row after row at the start of Θ's memory (row r, columns c >= r, at packed_row(r) + c - r),
  // and a layer's traces in the other half — cols·(cols-1)/2 doubles left free until the end —
  // when they fit (5000 points through width 1024: 82 MB of traces in 100 MB). The kernel then
  // costs Θ's memory and not one layer's traces more; at the end the rows move to their places
  // (last row first: each row's place lies past every packed row before it) and are mirrored.
  const bool by_layer = traces == NtkOptions::Traces::by_layer ||
                        (traces == NtkOptions::Traces::automatic && trace_by_layer(mlp, n1, n2, same, traced));
  const auto layer_trace_doubles = [&](std::size_t l) {
    const nn::Dense& layer = mlp.layers()[l];
    return n1 * ((l > 0 ? layer.config().in : 0) + k * layer.config().out);
  };
  std::size_t most_trace_doubles = 0;
  for (std::size_t l = 0; l < mlp.layers().size(); ++l) most_trace_doubles = std::max(most_trace_doubles, layer_trace_doubles(l));
  const std::size_t packed_size = cols * (cols + 1) / 2;
  const bool packed = by_layer && same && most_trace_doubles <= rows * cols - packed_size;
  const auto packed_row = [cols](std::size_t r) { return r * cols - r * (r - 1) / 2 - r; };  // minus r: index by c
  std::fill(out, out + (packed ? packed_size : theta.size()), 0.0);
  std::vector<double> grads_strip, inputs_strip;
  // A strip's Gram products: its square diagonal block by SYRK (upper triangle) when symmetric —
  // so a kernel of at most kRows points costs what one SYRK did — and the rest by GEMM.
  const auto strip = [same](const double* a, std::size_t m, const double* b, std::size_t n, std::size_t d, double* c) {
    if (!same) return detail::gemm_rows(a, m, b, n, d, 1.0, c, n);
    detail::syrk_rows(a, m, d, 1.0, c, n);
    detail::gemm_rows(a, m, b + m * d, n - m, d, 1.0, c + m, n);
  };
  // Layer l's term, from its inputs h (N, d) and sensitivities D (N·k, width) at X1 and X2.
  const auto add_layer = [&](std::size_t l, const double* h1, const double* h2, std::size_t d, const double* d1,
                             const double* d2, std::size_t width) {
    const nn::Dense& layer = mlp.layers()[l];
    const double cw2 = layer.weight_multiplier() * layer.weight_multiplier();
    const double cb2 = layer.config().bias ? layer.bias_multiplier() * layer.bias_multiplier() : 0.0;
    // Sensitivities: (N·k, width), read as (N, k·width) when traced over outputs.
    const std::size_t dw = traced ? k * width : width;
    for (std::size_t p0 = 0; p0 < n1; p0 += kRows) {
      const std::size_t p1 = std::min(n1, p0 + kRows), q0 = same ? p0 : 0;  // points: rows, first column
      const std::size_t r0 = p0 * per, r1 = p1 * per, c0 = q0 * per;
      inputs_strip.resize((p1 - p0) * (n2 - q0));
      strip(h1 + p0 * d, p1 - p0, h2 + q0 * d, n2 - q0, d, inputs_strip.data());
      grads_strip.resize((r1 - r0) * (cols - c0));
      strip(d1 + r0 * dw, r1 - r0, d2 + c0 * dw, cols - c0, dw, grads_strip.data());
      const std::size_t strip_cols = cols - c0, input_cols = n2 - q0;
      for (std::size_t r = r0; r < r1; ++r) {
        const double* h = inputs_strip.data() + (r / per - p0) * input_cols;
        const double* g = grads_strip.data() + (r - r0) * strip_cols;
        double* row = out + (packed ? packed_row(r) : r * cols);
        for (std::size_t c = same ? r : c0; c < cols; ++c) row[c] += g[c - c0] * (cw2 * h[c / per - q0] + cb2);
      }
    }
  };
  const auto width_of = [&](std::size_t l) { return mlp.layers()[l].config().out; };
  if (packed) {
    double* scratch = out + packed_size;  // the free half: this layer's inputs, then sensitivities
    for (std::size_t l = 0; l < mlp.layers().size(); ++l) {
      const std::size_t in = mlp.layers()[l].config().in;
      double* input = l > 0 ? scratch : nullptr;
      double* sensitivity = scratch + (l > 0 ? n1 * in : 0);
      trace_layer_into(mlp, w, x1, l, input, sensitivity);
      const double* h = l > 0 ? input : x1.data();
      add_layer(l, h, h, in, sensitivity, sensitivity, width_of(l));
    }
    for (std::size_t r = rows; r-- > 0;) std::memmove(out + r * cols + r, out + packed_row(r) + r, (cols - r) * sizeof(double));
  } else if (by_layer) {
    for (std::size_t l = 0; l < mlp.layers().size(); ++l) {
      const LayerTrace t1 = trace_layer(mlp, w, x1, l);
      const LayerTrace other = same ? LayerTrace{} : trace_layer(mlp, w, x2, l);
      const LayerTrace& t2 = same ? t1 : other;
      add_layer(l, l == 0 ? x1.data() : t1.input.data(), l == 0 ? x2.data() : t2.input.data(),
                mlp.layers()[l].config().in, t1.sensitivity.data(), t2.sensitivity.data(), width_of(l));
    }
  } else {
    const LayerTraces t1 = trace_mlp(mlp, w, x1);
    const LayerTraces other = same ? LayerTraces{} : trace_mlp(mlp, w, x2);
    const LayerTraces& t2 = same ? t1 : other;  // not a copy of t1 (megabytes)
    for (std::size_t l = 0; l < mlp.layers().size(); ++l)
      add_layer(l, t1.inputs[l].data(), t2.inputs[l].data(), mlp.layers()[l].config().in, t1.sensitivities[l].data(),
                t2.sensitivities[l].data(), width_of(l));
  }
  if (same) detail::mirror_upper(out, rows);
  if (net.factor != 1.0) return ad::scale(theta, net.factor);
  return theta;  // (moved: `factor == 1 ? theta : scale(...)` would copy it, 200 MB for 5000 points)
}

}  // namespace

NtkMethod choose_ntk_method(const nn::Model& model, std::size_t n1, std::size_t n2) {
  if (unwrap(model).mlp != nullptr) return NtkMethod::structured;
  const double jacobian_bytes = 8.0 * static_cast<double>((n1 + n2) * model.output_dim() * model.num_params());
  return jacobian_bytes <= 2e9 ? NtkMethod::jacobian_contraction : NtkMethod::ntk_vector_products;
}

Tensor jacobian(const nn::Model& model, const Tensor& w, const Tensor& x) {
  model.check_inputs("jacobian", w.shape(), x.shape());
  return ad::jacrev([&](const Var& wv) { return flat_outputs(model, wv, x); }, w);
}

Tensor ntk_vector_product(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2,
                          const Tensor& v) {
  model.check_inputs("ntk_vector_product", w.shape(), x1.shape());
  model.check_inputs("ntk_vector_product", w.shape(), x2.shape());
  const Shape expected{x2.shape()[0] * model.output_dim()};
  if (v.shape() != expected)
    throw ad::Error(fmt::format("ntk_vector_product: v has shape {}, expected {}", ad::to_string(v.shape()),
                                ad::to_string(expected)));
  const Tensor pulled = ad::vjp([&](const Var& wv) { return flat_outputs(model, wv, x2); }, w, v).second;
  return ad::jvp([&](const Var& wv) { return flat_outputs(model, wv, x1); }, w, pulled).second;
}

Tensor empirical_ntk(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2,
                     const NtkOptions& options) {
  model.check_inputs("empirical_ntk", w.shape(), x1.shape());
  model.check_inputs("empirical_ntk", w.shape(), x2.shape());
  if (!ad::all_finite(w) || !ad::all_finite(x1) || !ad::all_finite(x2))
    throw ad::Error("empirical_ntk: weights or inputs contain non-finite values");
  const bool same = &x1 == &x2;
  const std::size_t n1 = x1.shape()[0], n2 = x2.shape()[0], k = model.output_dim();
  NtkMethod method = options.method;
  if (method == NtkMethod::automatic) method = choose_ntk_method(model, n1, n2);
  Tensor full;
  switch (method) {
    case NtkMethod::structured: {
      const UnwrappedMlp net = unwrap(model);
      if (net.mlp == nullptr)
        throw ad::Error(fmt::format("empirical_ntk: the structured method needs an MLP (possibly centered or "
                                    "scaled), not {}",
                                    model.describe()));
      return by_structure(net, w, x1, x2, same, options.trace_outputs, options.traces);
    }
    case NtkMethod::jacobian_contraction: full = by_jacobian_contraction(model, w, x1, x2, same); break;
    case NtkMethod::ntk_vector_products: full = by_ntk_vector_products(model, w, x1, x2, options.chunk); break;
    case NtkMethod::automatic: break;
  }
  return options.trace_outputs ? trace_outputs(full, n1, n2, k) : full;
}

Tensor empirical_ntk(const nn::Model& model, const Tensor& w, const Tensor& x, const NtkOptions& options) {
  return empirical_ntk(model, w, x, x, options);
}

}  // namespace ntk
