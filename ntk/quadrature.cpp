#include "ntk/quadrature.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "autodiff/transforms.hpp"
#include "ntk/kernel_matrix.hpp"
#include "ntk/linalg.hpp"

namespace ntk {

namespace ad = autodiff;
using ad::Var;

std::string to_string(QuadratureRule rule) {
  return rule == QuadratureRule::trapezoid ? "trapezoid" : "gauss-hermite";
}

QuadratureRule parse_quadrature_rule(const std::string& name) {
  if (name == "trapezoid") return QuadratureRule::trapezoid;
  if (name == "gauss-hermite") return QuadratureRule::gauss_hermite;
  throw ad::Error(fmt::format("unknown quadrature rule '{}' (expected trapezoid or gauss-hermite)", name));
}

// ---- 1-D rules ----------------------------------------------------------------------------------

GaussianRule gauss_hermite(std::size_t n) {
  if (n == 0 || n > kMaxQuadratureNodes)
    throw ad::Error(fmt::format("gauss_hermite: needs 1 to {} nodes, got {}", kMaxQuadratureNodes, n));
  // Jacobi matrix of the probabilists' Hermite polynomials: He_{k+1} = x He_k - k He_{k-1}.
  Tensor jacobi = Tensor::zeros({n, n});
  for (std::size_t k = 0; k + 1 < n; ++k)
    jacobi.flat(k * n + k + 1) = jacobi.flat((k + 1) * n + k) = std::sqrt(static_cast<double>(k + 1));
  const SymmetricEigen eig = symmetric_eigen(jacobi, "gauss_hermite");
  // h_k = He_k / √k!: h_{k+1} = (x h_k - √k h_{k-1}) / √(k+1), stable for the sizes allowed.
  auto hermite = [n](double x) {
    double previous = 0.0, current = 1.0;  // h_{-1}, h_0
    for (std::size_t k = 0; k < n; ++k) {
      const double next = (x * current - std::sqrt(static_cast<double>(k)) * previous) / std::sqrt(static_cast<double>(k + 1));
      previous = current;
      current = next;
    }
    return std::pair{current, previous};  // h_n(x), h_{n-1}(x)
  };
  GaussianRule rule;
  rule.nodes.resize(n);
  rule.weights.resize(n);
  for (std::size_t a = 0; a < n; ++a) {
    double x = eig.values.flat(a);
    for (int step = 0; step < 3; ++step) {  // Newton on h_n, h_n′ = √n h_{n-1}
      const auto [hn, hn1] = hermite(x);
      if (hn1 == 0.0 || !std::isfinite(hn) || !std::isfinite(hn1)) break;
      x -= hn / (std::sqrt(static_cast<double>(n)) * hn1);
    }
    rule.nodes[a] = x;
    const double hn1 = hermite(x).second;
    rule.weights[a] = std::isfinite(hn1) ? 1.0 / (static_cast<double>(n) * hn1 * hn1) : 0.0;
  }
  // Exact symmetry z ↦ -z, and weights summing to 1 to rounding.
  for (std::size_t a = 0; a < n / 2; ++a) {
    const std::size_t b = n - 1 - a;
    const double x = 0.5 * (rule.nodes[b] - rule.nodes[a]), weight = 0.5 * (rule.weights[a] + rule.weights[b]);
    rule.nodes[a] = -x;
    rule.nodes[b] = x;
    rule.weights[a] = rule.weights[b] = weight;
  }
  if (n % 2 == 1) rule.nodes[n / 2] = 0.0;
  double total = 0.0;
  for (double weight : rule.weights) total += weight;
  for (double& weight : rule.weights) weight /= total;
  return rule;
}

GaussianRule gaussian_trapezoid(std::size_t n, double half_width) {
  if (n < 2 || n > kMaxQuadratureNodes)
    throw ad::Error(fmt::format("gaussian_trapezoid: needs 2 to {} nodes, got {}", kMaxQuadratureNodes, n));
  if (!(half_width > 0.0) || !std::isfinite(half_width))
    throw ad::Error(fmt::format("gaussian_trapezoid: half width must be positive, got {}", half_width));
  GaussianRule rule;
  const double h = 2.0 * half_width / static_cast<double>(n - 1);
  double total = 0.0;
  for (std::size_t a = 0; a < n; ++a) {
    // -L + a·h, written symmetrically so that z_a = -z_{n-1-a} exactly
    const double z = 0.5 * h * (2.0 * static_cast<double>(a) - static_cast<double>(n - 1));
    rule.nodes.push_back(z);
    rule.weights.push_back(std::exp(-0.5 * z * z));
    total += rule.weights.back();
  }
  for (double& weight : rule.weights) weight /= total;  // = h/√(2π) up to the truncated mass
  return rule;
}

std::size_t automatic_quadrature_nodes(double max_variance) {
  const double q = std::isfinite(max_variance) ? std::max(0.0, max_variance) : 1e300;
  const double n = 1.0 + std::ceil(44.5 * std::sqrt(q));
  return static_cast<std::size_t>(std::clamp(n, 32.0, static_cast<double>(kMaxQuadratureNodes)));
}

GaussianRule gaussian_rule(QuadratureRule rule, std::size_t n) {
  return rule == QuadratureRule::trapezoid ? gaussian_trapezoid(n) : gauss_hermite(n);
}

// ---- the 2-D expectations of an activation layer ------------------------------------------------

namespace detail {

namespace {

// φ(x) and, when asked, φ′(x) elementwise: one forward-mode pass with a unit tangent (elementwise
// functions have diagonal Jacobians, so J·1 is the vector of derivatives).
std::pair<Tensor, Tensor> evaluate(const ActivationLayer& layer, const Tensor& x, bool derivative) {
  const ElementwiseFn& custom = layer.custom;
  const nn::Activation a = layer.activation;
  auto phi = [&](const Var& v) { return custom ? custom(v) : nn::activate(a, v); };
  Tensor value, slope;
  if (derivative) {
    std::tie(value, slope) = ad::jvp(phi, x, Tensor::ones(x.shape()));
  } else {
    ad::TapeScope scope;
    value = phi(scope.tape().constant(x)).value();
  }
  if (value.shape() != x.shape() || (derivative && slope.shape() != x.shape()))
    throw ad::Error(fmt::format("activation {}: not elementwise (input shape {}, output shape {})", layer.name(),
                                ad::to_string(x.shape()), ad::to_string(value.shape())));
  return {std::move(value), std::move(slope)};
}

}  // namespace

void quadrature(Kernel& k, const ActivationLayer& layer) {
  double max_variance = 0.0;
  for (const Tensor* var : {&k.var1, &k.var2})
    for (std::size_t i = 0; i < var->size(); ++i) max_variance = std::max(max_variance, var->flat(i));
  const std::size_t n = layer.nodes == 0 ? automatic_quadrature_nodes(max_variance) : layer.nodes;
  const GaussianRule rule = gaussian_rule(layer.rule, n);
  const std::vector<double>& z = rule.nodes;
  const std::vector<double>& w = rule.weights;
  const std::size_t n1 = k.var1.size(), n2 = k.var2.size();
  const bool slopes = k.track_ntk;

  // φ(√q_i z_k) and φ′(√q_i z_k) for every row: the u factor of every entry of that row.
  auto table = [&](const Tensor& var, bool with_slopes) {
    const std::size_t m = var.size();
    Tensor args = Tensor::zeros({m, n});
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t a = 0; a < n; ++a) args.flat(i * n + a) = std::sqrt(var.flat(i)) * z[a];
    return evaluate(layer, args, with_slopes);
  };
  // (not a structured binding: the lambdas below capture f1 and df1, which clang before 16 refuses
  // for bindings, and the fuzz build uses Debian's clang 14)
  const std::pair<Tensor, Tensor> f1_table = table(k.var1, slopes);
  const Tensor& f1 = f1_table.first;
  const Tensor& df1 = f1_table.second;

  // Entries (i, j) in the order they are computed; symmetric kernels need only j >= i.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> entries;
  entries.reserve(k.same_inputs ? n1 * (n1 + 1) / 2 : n1 * n2);
  for (std::size_t i = 0; i < n1; ++i)
    for (std::size_t j = first_column(k, i); j < n2; ++j) entries.emplace_back(i, j);

  double* K = k.nngp.data();
  double* T = slopes ? k.ntk.data() : nullptr;
  // Work units of whole entries (about kBlock points or one entry), evaluated in blocks of rows
  // a of about kBlock points: v_ab = √q2 (ρ z_a + √(1 - ρ²) z_b), b = 0..n-1, one autodiff pass
  // per block. Blocks stay small because the tape's temporaries then stay in cache.
  constexpr std::size_t kBlock = 1024;
  const std::size_t per_unit = std::max<std::size_t>(1, kBlock / (n * n));
  const std::size_t rows_per_block = std::max<std::size_t>(1, kBlock / n);
  const std::size_t units = (entries.size() + per_unit - 1) / per_unit;
  parallel_for(units, 30.0 * static_cast<double>(per_unit * n * n), [&](std::size_t ub, std::size_t ue) {
    std::vector<double> along(per_unit), across(per_unit), value(per_unit), slope(per_unit);
    for (std::size_t u = ub; u < ue; ++u) {
      const std::size_t e0 = u * per_unit, e1 = std::min(entries.size(), e0 + per_unit);
      for (std::size_t e = e0; e < e1; ++e) {
        const auto [i, j] = entries[e];
        const double q1 = k.var1.flat(i), q2 = k.var2.flat(j);
        const double rho = q1 > 0.0 && q2 > 0.0 ? snap(K[i * n2 + j] / std::sqrt(q1 * q2)) : 0.0;
        along[e - e0] = std::sqrt(q2) * rho;
        across[e - e0] = std::sqrt(q2) * std::sqrt(1.0 - rho * rho);
        value[e - e0] = slope[e - e0] = 0.0;
      }
      const std::size_t rows = (e1 - e0) * n;  // row r: entry e0 + r / n, outer node a = r % n
      for (std::size_t r0 = 0; r0 < rows; r0 += rows_per_block) {
        const std::size_t r1 = std::min(rows, r0 + rows_per_block);
        Tensor args = Tensor::zeros({r1 - r0, n});
        for (std::size_t r = r0; r < r1; ++r) {
          const std::size_t e = r / n, a = r % n;
          double* out = args.data() + (r - r0) * n;
          for (std::size_t b = 0; b < n; ++b) out[b] = along[e] * z[a] + across[e] * z[b];
        }
        const auto [fv, dfv] = evaluate(layer, args, slopes);
        for (std::size_t r = r0; r < r1; ++r) {
          const std::size_t e = r / n, a = r % n, i = entries[e0 + e].first;
          const double* f = fv.data() + (r - r0) * n;
          double inner = 0.0;
          for (std::size_t b = 0; b < n; ++b) inner += w[b] * f[b];
          value[e] += w[a] * f1.flat(i * n + a) * inner;
          if (slopes) {
            const double* d = dfv.data() + (r - r0) * n;
            double inner_slope = 0.0;
            for (std::size_t b = 0; b < n; ++b) inner_slope += w[b] * d[b];
            slope[e] += w[a] * df1.flat(i * n + a) * inner_slope;
          }
        }
      }
      for (std::size_t e = e0; e < e1; ++e) {
        const std::size_t ij = entries[e].first * n2 + entries[e].second;
        K[ij] = value[e - e0];
        if (T) T[ij] *= slope[e - e0];
      }
    }
  });

  // Diagonals: E[φ(u)²], the 2-D rule at ρ = 1, so K(x, x) and var agree to rounding.
  auto second_moment = [&](const Tensor& f, Tensor& var) {
    for (std::size_t i = 0; i < var.size(); ++i) {
      double m = 0.0;
      for (std::size_t a = 0; a < n; ++a) m += w[a] * f.flat(i * n + a) * f.flat(i * n + a);
      var.flat(i) = m;
    }
  };
  if (!k.same_inputs) second_moment(table(k.var2, false).first, k.var2);
  second_moment(f1, k.var1);
  if (k.same_inputs) k.var2 = k.var1;
}

}  // namespace detail

}  // namespace ntk
