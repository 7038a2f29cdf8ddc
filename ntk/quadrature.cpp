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

namespace {

// The trapezoidal rule for E[f(z)], z ~ N(0, 1), on n equally spaced nodes in [-L, L] with weights
// ∝ exp(-z²/2) summing to 1, unchecked (the public rule and the series' rule check their own n).
GaussianRule trapezoid_rule(std::size_t n, double half_width) {
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

}  // namespace

GaussianRule gaussian_trapezoid(std::size_t n, double half_width) {
  if (n < 2 || n > kMaxQuadratureNodes)
    throw ad::Error(fmt::format("gaussian_trapezoid: needs 2 to {} nodes, got {}", kMaxQuadratureNodes, n));
  if (!(half_width > 0.0) || !std::isfinite(half_width))
    throw ad::Error(fmt::format("gaussian_trapezoid: half width must be positive, got {}", half_width));
  return trapezoid_rule(n, half_width);
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

// ---- per pair: the 2-D rule ------------------------------------------------------------------------

void pairwise_quadrature(Kernel& k, const ActivationLayer& layer) {
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

// ---- per point: the Hermite (Mehler) series ----------------------------------------------------------
//
// With h_k = He_k/√k! (orthonormal under N(0, 1)) and z1, z2 standard normals of correlation ρ,
// Mehler's formula gives E[f(z1) g(z2)] = Σ_k f_k g_k ρ^k, f_k = E[f(z) h_k(z)]. For an entry,
// u = √q1 z1 and v = √q2 z2 with ρ = c/√(q1 q2): f_k = E[φ(√q1 z) h_k(z)] depends on the row's point
// alone and g_k on the column's. So the per-point work — φ and φ′ on one 1-D rule, their Hermite
// coefficients (one matrix product) and the variances E[φ²] — is done once per point, and an
// entry costs a polynomial in ρ of degree K: ~2K flops instead of the 2-D rule's n² evaluations.
//
// Error control. By Parseval, Σ_k f_k² = E[f²], so the tail energy after K terms, T_f(K) =
// E[f²] − Σ_{k<=K} f_k², is known; by Cauchy–Schwarz the truncated series is within
// √(T_f T_g) <= tol·√(E[f²] E[g²]) of the expectation (|ρ| <= 1) once T <= tol·E for every point.
// K is the smallest such degree over the layer's points (for φ and, for the NTK, φ′ separately).
// Where that takes more than kSeriesMaxDegree terms — activations with kinks (relu by quadrature:
// algebraic decay) or very large variances (tanh(√q z) has poles at ±iπ/(2√q), so the coefficients
// decay like exp(-π√(2k)/(2√q))) — the layer falls back to the pairwise 2-D rule.
//
// The 1-D rule is the trapezoid on [-12, 12] with spacing 0.05: |h_k(z)| e^{-z²/4} <= 1.09 for all
// k (Cramér), so the integrand is below 1e-15·|φ| beyond |z| = 12, and its oscillation (frequency
// ~√k <= 23) is far below the rule's Nyquist frequency 2π/0.05, so its error is far below tol.
namespace {

constexpr double kSeriesTolerance = 1e-11;       // relative tail energy per point (see above)
constexpr std::size_t kSeriesMaxDegree = 512;    // beyond it: pairwise
constexpr double kSeriesHalfWidth = 12.0;
constexpr std::size_t kSeriesNodes = 481;        // spacing 24/480 = 0.05

// The coefficients of one set of points: c(i, k) = E[f_i(z) h_k(z)] for k <= degree, and E[f_i²].
struct Coefficients {
  std::vector<double> c;       // (points, kSeriesMaxDegree + 1), row-major
  std::vector<double> energy;  // E[f_i²]
  std::size_t degree = 0;      // the smallest K meeting the tolerance for every point
  bool converged = false;
  bool odd = true, even = true;  // every point's coefficients vanish at even (odd) k
};

// The series' 1-D rule: the Gaussian trapezoid on kSeriesNodes nodes in [-12, 12] (more nodes than
// the public rules allow), once.
const GaussianRule& series_rule() {
  static const GaussianRule rule = trapezoid_rule(kSeriesNodes, kSeriesHalfWidth);
  return rule;
}

// w_a h_k(z_a) for the rule's nodes, (nodes, kSeriesMaxDegree + 1): the normalized three-term
// recurrence h_{k+1} = (z h_k − √k h_{k−1})/√(k+1).
const Tensor& weighted_hermite() {
  static const Tensor table = [] {
    const std::size_t n = kSeriesNodes, m = kSeriesMaxDegree + 1;
    const GaussianRule& rule = series_rule();
    Tensor t = Tensor::empty({n, m});
    for (std::size_t a = 0; a < n; ++a) {
      const double z = rule.nodes[a];
      double previous = 0.0, current = 1.0;
      for (std::size_t k = 0; k < m; ++k) {
        t.flat(a * m + k) = rule.weights[a] * current;
        const double next = (z * current - std::sqrt(static_cast<double>(k)) * previous) / std::sqrt(static_cast<double>(k + 1));
        previous = current;
        current = next;
      }
    }
    return t;
  }();
  return table;
}

// values (points, nodes) of f_i at the rule's nodes -> its Hermite coefficients and their degree.
Coefficients hermite_coefficients(const Tensor& values) {
  const std::size_t points = values.shape()[0], n = kSeriesNodes, m = kSeriesMaxDegree + 1;
  const GaussianRule& rule = series_rule();
  Coefficients out;
  const Tensor c = ad::matmul(values, weighted_hermite());  // (points, m)
  out.c.assign(c.data(), c.data() + c.size());
  out.energy.resize(points);
  out.converged = true;
  for (std::size_t i = 0; i < points && out.converged; ++i) {
    const double* f = values.data() + i * n;
    double energy = 0.0;
    for (std::size_t a = 0; a < n; ++a) energy += rule.weights[a] * f[a] * f[a];
    out.energy[i] = energy;
    const double* row = out.c.data() + i * m;
    // The smallest K with E − Σ_{k<=K} c_k² <= tol·E (0 for a constant f, e.g. q = 0).
    double sum = 0.0;
    std::size_t degree = m;
    for (std::size_t k = 0; k < m; ++k) {
      sum += row[k] * row[k];
      if (energy - sum <= kSeriesTolerance * energy) {
        degree = k;
        break;
      }
    }
    if (degree == m) {
      out.converged = false;
      break;
    }
    out.degree = std::max(out.degree, degree);
    // Parity over every coefficient computed (not only up to the degree): a skipped term is then
    // one that is zero to rounding, and the error bound above still holds.
    const double negligible = 1e-15 * std::sqrt(energy);
    for (std::size_t k = 0; k < m; ++k)
      if (std::abs(row[k]) > negligible) (k % 2 == 0 ? out.odd : out.even) = false;
  }
  return out;
}

// The row's and the columns' coefficients of one expectation (E[φφ] or E[φ′φ′]) for a layer.
struct Series {
  const Coefficients* rows;
  const Coefficients* columns;
  std::size_t degree;   // the larger of the two
  std::size_t offset;   // 1 if both are odd: only odd k, Σ = ρ Σ_m c_{2m+1} (ρ²)^m
  std::size_t stride;   // 2 if both share a parity, else 1
};

Series make_series(const Coefficients& rows, const Coefficients& columns) {
  Series s{&rows, &columns, std::max(rows.degree, columns.degree), 0, 1};
  if (rows.odd && columns.odd) {
    s.offset = 1;
    s.stride = 2;
  } else if (rows.even && columns.even) {
    s.stride = 2;
  }
  return s;
}

// out[j] = Σ_k a_k b_{k,j} ρ_j^k over the series' terms, for the columns of one block (Horner in ρ^stride).
void sum_series(const Series& s, std::size_t i, const double* columns_t, std::size_t stride_t, std::size_t j0,
                std::size_t count, const double* rho, double* out) {
  const std::size_t m = kSeriesMaxDegree + 1;
  const double* a = s.rows->c.data() + i * m;
  double power[64];
  for (std::size_t j = 0; j < count; ++j) {
    power[j] = s.stride == 2 ? rho[j] * rho[j] : rho[j];
    out[j] = 0.0;
  }
  if (s.degree < s.offset) return;  // odd and of degree 0: the zero function
  // Terms k = offset + t·stride, t from the last at most `degree` down to 0.
  for (std::size_t t = (s.degree - s.offset) / s.stride + 1; t-- > 0;) {
    const std::size_t k = s.offset + t * s.stride;
    const double ak = a[k];
    const double* b = columns_t + k * stride_t + j0;
    for (std::size_t j = 0; j < count; ++j) out[j] = out[j] * power[j] + ak * b[j];
  }
  if (s.offset == 1)
    for (std::size_t j = 0; j < count; ++j) out[j] *= rho[j];
}

// Coefficient tables transposed, (m, points): the columns of a block are contiguous.
std::vector<double> transposed(const Coefficients& c, std::size_t points) {
  const std::size_t m = kSeriesMaxDegree + 1;
  std::vector<double> t(m * points);
  for (std::size_t i = 0; i < points; ++i)
    for (std::size_t k = 0; k < m; ++k) t[k * points + i] = c.c[i * m + k];
  return t;
}

}  // namespace

bool series_quadrature(Kernel& k, const ActivationLayer& layer) {
  const std::size_t n1 = k.var1.size(), n2 = k.var2.size();
  const bool slopes = k.track_ntk;
  const GaussianRule& rule = series_rule();
  struct PointSet {
    Coefficients f, df;
  };
  auto coefficients = [&](const Tensor& var) {
    Tensor args = Tensor::empty({var.size(), kSeriesNodes});
    for (std::size_t i = 0; i < var.size(); ++i)
      for (std::size_t a = 0; a < kSeriesNodes; ++a) args.flat(i * kSeriesNodes + a) = std::sqrt(var.flat(i)) * rule.nodes[a];
    const auto [value, slope] = evaluate(layer, args, slopes);
    PointSet set{hermite_coefficients(value), {}};
    if (slopes && set.f.converged) set.df = hermite_coefficients(slope);
    return set;
  };
  const PointSet p1 = coefficients(k.var1);
  if (!p1.f.converged || (slopes && !p1.df.converged)) return false;
  PointSet p2_storage;
  if (!k.same_inputs) {
    p2_storage = coefficients(k.var2);
    if (!p2_storage.f.converged || (slopes && !p2_storage.df.converged)) return false;
  }
  const PointSet& p2 = k.same_inputs ? p1 : p2_storage;
  const Series value = make_series(p1.f, p2.f);
  const Series slope = slopes ? make_series(p1.df, p2.df) : Series{};
  const std::vector<double> value_t = transposed(p2.f, n2);
  const std::vector<double> slope_t = slopes ? transposed(p2.df, n2) : std::vector<double>{};

  double* K = k.nngp.data();
  double* T = slopes ? k.ntk.data() : nullptr;
  // Blocks of 64 columns: their coefficients (2 × 64 × (K + 1) doubles) stay in cache over the rows.
  constexpr std::size_t kColumns = 64;
  const std::size_t blocks = (n2 + kColumns - 1) / kColumns;
  const double terms = static_cast<double>(value.degree + (slopes ? slope.degree : 0) + 2);
  parallel_for(blocks, 0.5 * terms * static_cast<double>(kColumns * n1), [&](std::size_t b0, std::size_t b1) {
    double rho[kColumns], sum[kColumns], slope_sum[kColumns];
    for (std::size_t blk = b0; blk < b1; ++blk) {
      const std::size_t j0 = blk * kColumns, j1 = std::min(n2, j0 + kColumns);
      const std::size_t last_row = k.same_inputs ? j1 : n1;  // symmetric: rows i <= j only
      for (std::size_t i = 0; i < last_row; ++i) {
        const std::size_t first = k.same_inputs ? std::max(j0, i) : j0, count = j1 - first;
        const double q1 = k.var1.flat(i);
        for (std::size_t j = first; j < j1; ++j) {
          const double q2 = k.var2.flat(j);
          rho[j - first] = q1 > 0.0 && q2 > 0.0 ? snap(K[i * n2 + j] / std::sqrt(q1 * q2)) : 0.0;
        }
        sum_series(value, i, value_t.data(), n2, first, count, rho, sum);
        if (slopes) sum_series(slope, i, slope_t.data(), n2, first, count, rho, slope_sum);
        if (k.same_inputs && first == i) {  // the diagonal: ρ = 1 exactly, the series' full sums
          sum[0] = p1.f.energy[i];
          if (slopes) slope_sum[0] = p1.df.energy[i];
        }
        for (std::size_t j = first; j < j1; ++j) {
          K[i * n2 + j] = sum[j - first];
          if (T) T[i * n2 + j] *= slope_sum[j - first];
        }
      }
    }
  });

  // The variances E[φ(u)²], on the same rule: K(x, x) and var agree exactly.
  for (std::size_t i = 0; i < n1; ++i) k.var1.flat(i) = p1.f.energy[i];
  if (k.same_inputs) {
    k.var2 = k.var1;
  } else {
    for (std::size_t j = 0; j < n2; ++j) k.var2.flat(j) = p2.f.energy[j];
  }
  return true;
}

void quadrature(Kernel& k, const ActivationLayer& layer) {
  const bool series = layer.nodes == 0 && layer.rule == QuadratureRule::trapezoid;
  if (!series || !series_quadrature(k, layer)) pairwise_quadrature(k, layer);
}

}  // namespace detail

}  // namespace ntk
