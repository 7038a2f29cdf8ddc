#include "ntk/quadrature.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
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
  // (single-threaded: LAPACK over another number of BLAS threads could round differently, and the
  // rule must be the same wherever it is computed — one process or `mpirun ntk-kernel`'s ranks)
  const autodiff::BlasThreads single_threaded_blas(1);
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

// w_a h_k(z_a) for the rule's nodes, stored transposed — (kSeriesMaxDegree + 1, nodes), row k the
// k-th polynomial at every node: the normalized three-term recurrence
// h_{k+1} = (z h_k − √k h_{k−1})/√(k+1).
const Tensor& weighted_hermite_t() {
  static const Tensor table = [] {
    const std::size_t n = kSeriesNodes, m = kSeriesMaxDegree + 1;
    const GaussianRule& rule = series_rule();
    Tensor t = Tensor::empty({m, n});
    for (std::size_t a = 0; a < n; ++a) {
      const double z = rule.nodes[a];
      double previous = 0.0, current = 1.0;
      for (std::size_t k = 0; k < m; ++k) {
        t.flat(k * n + a) = rule.weights[a] * current;
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
  // c = values · W, (points, m), in products of 256 points, each single-threaded: the same OpenBLAS
  // calls, so the same doubles, whatever the number of threads (a product split over another number
  // of BLAS threads can round differently; `mpirun ntk-kernel`'s ranks run one thread each).
  constexpr std::size_t kChunk = 256;
  out.c.resize(points * m);
  const Tensor& hermite_t = weighted_hermite_t();
  const autodiff::BlasThreads single_threaded_blas(1);
  parallel_for((points + kChunk - 1) / kChunk, 0.5 * static_cast<double>(kChunk * n * m), [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      const std::size_t p0 = b * kChunk, rows = std::min(points, p0 + kChunk) - p0;
      gemm_rows(values.data() + p0 * n, rows, hermite_t.data(), m, n, 1.0, out.c.data() + p0 * m, m);
    }
  });
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

// The coefficients of a set of points: of φ, and of φ′ when the NTK is tracked.
struct PointSet {
  Coefficients f, df;
};

}  // namespace

// ---- a layer's plan: what depends on single points -------------------------------------------------

// Everything an activation layer's pass needs besides the entries: the variances before the layer,
// and the rule with the tables of every point (pairwise) or the coefficients of every point
// (series). Computed once for all points of a state (prepare_*), then used on any window of it.
struct QuadraturePlan {
  ActivationLayer layer;
  bool series = false;
  bool slopes = false;  // the NTK is tracked: E[φ′φ′] too
  bool same_inputs = false;
  Tensor q1, q2;        // the variances before the layer
  // pairwise: the rule, φ(√q1_i z_a) and φ′(√q1_i z_a) for every row point i, (N1, n)
  GaussianRule rule;
  Tensor f1, df1;
  // series: the coefficients of the row points (and of the column points unless the same), the
  // two series, and the columns' coefficient tables transposed
  PointSet p1, p2;
  Series value{}, slope{};
  std::vector<double> value_t, slope_t;
};

namespace {

// ---- per pair: the 2-D rule ------------------------------------------------------------------------

std::shared_ptr<const QuadraturePlan> prepare_pairwise(Kernel& k, const ActivationLayer& layer) {
  double max_variance = 0.0;
  for (const Tensor* var : {&k.var1, &k.var2})
    for (std::size_t i = 0; i < var->size(); ++i) max_variance = std::max(max_variance, var->flat(i));
  const std::size_t n = layer.nodes == 0 ? automatic_quadrature_nodes(max_variance) : layer.nodes;
  auto plan = std::make_shared<QuadraturePlan>();
  plan->layer = layer;
  plan->slopes = k.track_ntk;
  plan->same_inputs = k.same_inputs;
  plan->rule = gaussian_rule(layer.rule, n);
  plan->q1 = k.var1;
  plan->q2 = k.var2;
  const std::vector<double>& z = plan->rule.nodes;
  const std::vector<double>& w = plan->rule.weights;

  // φ(√q_i z_k) and φ′(√q_i z_k) for every point: the u factor of every entry of its row.
  auto table = [&](const Tensor& var, bool with_slopes) {
    const std::size_t m = var.size();
    Tensor args = Tensor::zeros({m, n});
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t a = 0; a < n; ++a) args.flat(i * n + a) = std::sqrt(var.flat(i)) * z[a];
    return evaluate(layer, args, with_slopes);
  };
  std::tie(plan->f1, plan->df1) = table(k.var1, plan->slopes);

  // Diagonals: E[φ(u)²], the 2-D rule at ρ = 1, so K(x, x) and var agree to rounding.
  auto second_moment = [&](const Tensor& f, Tensor& var) {
    for (std::size_t i = 0; i < var.size(); ++i) {
      double m = 0.0;
      for (std::size_t a = 0; a < n; ++a) m += w[a] * f.flat(i * n + a) * f.flat(i * n + a);
      var.flat(i) = m;
    }
  };
  if (!k.same_inputs) second_moment(table(k.var2, false).first, k.var2);
  second_moment(plan->f1, k.var1);
  if (k.same_inputs) k.var2 = k.var1;
  return plan;
}

void pairwise_entries(const QuadraturePlan& p, const Window& win) {
  const std::vector<double>& z = p.rule.nodes;
  const std::vector<double>& w = p.rule.weights;
  const std::size_t n = z.size(), n2 = win.cols;
  const bool slopes = p.slopes;
  const Tensor& f1 = p.f1;
  const Tensor& df1 = p.df1;

  // Work units of whole entries of one row (about kBlock points or one entry), evaluated in blocks
  // of rows a of about kBlock points: v_ab = √q2 (ρ z_a + √(1 - ρ²) z_b), b = 0..n-1, one autodiff
  // pass per block. Blocks stay small because the tape's temporaries then stay in cache. A row's
  // units start at its first column whatever the window, so each entry is evaluated in the same
  // block at the same place in any window (an activation's vectorized and scalar code can differ in
  // the last bit). Symmetric kernels need only j >= i.
  constexpr std::size_t kBlock = 1024;
  const std::size_t per_unit = std::max<std::size_t>(1, kBlock / (n * n));
  const std::size_t rows_per_block = std::max<std::size_t>(1, kBlock / n);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> units;  // (local row, its first local column)
  for (std::size_t i = 0; i < win.rows; ++i)
    for (std::size_t j = win.first(i); j < n2; j += per_unit) units.emplace_back(i, j);

  double* K = win.nngp;
  double* T = slopes ? win.ntk : nullptr;
  parallel_for(units.size(), 30.0 * static_cast<double>(per_unit * n * n), [&](std::size_t ub, std::size_t ue) {
    std::vector<double> along(per_unit), across(per_unit), value(per_unit), slope(per_unit);
    for (std::size_t u = ub; u < ue; ++u) {
      const std::size_t i = units[u].first, gi = win.row0 + i, j0 = units[u].second, j1 = std::min(n2, j0 + per_unit);
      const double q1 = p.q1.flat(gi);
      for (std::size_t j = j0; j < j1; ++j) {
        const double q2 = p.q2.flat(win.col0 + j);
        const double rho = q1 > 0.0 && q2 > 0.0 ? snap(K[i * n2 + j] / std::sqrt(q1 * q2)) : 0.0;
        along[j - j0] = std::sqrt(q2) * rho;
        across[j - j0] = std::sqrt(q2) * std::sqrt(1.0 - rho * rho);
        value[j - j0] = slope[j - j0] = 0.0;
      }
      const std::size_t rows = (j1 - j0) * n;  // row r: entry j0 + r / n, outer node a = r % n
      for (std::size_t r0 = 0; r0 < rows; r0 += rows_per_block) {
        const std::size_t r1 = std::min(rows, r0 + rows_per_block);
        Tensor args = Tensor::zeros({r1 - r0, n});
        for (std::size_t r = r0; r < r1; ++r) {
          const std::size_t e = r / n, a = r % n;
          double* out = args.data() + (r - r0) * n;
          for (std::size_t b = 0; b < n; ++b) out[b] = along[e] * z[a] + across[e] * z[b];
        }
        const auto [fv, dfv] = evaluate(p.layer, args, slopes);
        for (std::size_t r = r0; r < r1; ++r) {
          const std::size_t e = r / n, a = r % n;
          const double* f = fv.data() + (r - r0) * n;
          double inner = 0.0;
          for (std::size_t b = 0; b < n; ++b) inner += w[b] * f[b];
          value[e] += w[a] * f1.flat(gi * n + a) * inner;
          if (slopes) {
            const double* d = dfv.data() + (r - r0) * n;
            double inner_slope = 0.0;
            for (std::size_t b = 0; b < n; ++b) inner_slope += w[b] * d[b];
            slope[e] += w[a] * df1.flat(gi * n + a) * inner_slope;
          }
        }
      }
      for (std::size_t j = j0; j < j1; ++j) {
        K[i * n2 + j] = value[j - j0];
        if (T) T[i * n2 + j] *= slope[j - j0];
      }
    }
  });
}

// ---- per point: the series ---------------------------------------------------------------------------

std::shared_ptr<const QuadraturePlan> prepare_series(Kernel& k, const ActivationLayer& layer) {
  const bool slopes = k.track_ntk;
  const GaussianRule& rule = series_rule();
  auto coefficients = [&](const Tensor& var) {
    Tensor args = Tensor::empty({var.size(), kSeriesNodes});
    for (std::size_t i = 0; i < var.size(); ++i)
      for (std::size_t a = 0; a < kSeriesNodes; ++a) args.flat(i * kSeriesNodes + a) = std::sqrt(var.flat(i)) * rule.nodes[a];
    const auto [value, slope] = evaluate(layer, args, slopes);
    PointSet set{hermite_coefficients(value), {}};
    if (slopes && set.f.converged) set.df = hermite_coefficients(slope);
    return set;
  };
  auto plan = std::make_shared<QuadraturePlan>();
  plan->p1 = coefficients(k.var1);
  if (!plan->p1.f.converged || (slopes && !plan->p1.df.converged)) return nullptr;
  if (!k.same_inputs) {
    plan->p2 = coefficients(k.var2);
    if (!plan->p2.f.converged || (slopes && !plan->p2.df.converged)) return nullptr;
  }
  plan->layer = layer;
  plan->series = true;
  plan->slopes = slopes;
  plan->same_inputs = k.same_inputs;
  plan->q1 = k.var1;
  plan->q2 = k.var2;
  const PointSet& p1 = plan->p1;
  const PointSet& p2 = k.same_inputs ? plan->p1 : plan->p2;
  plan->value = make_series(p1.f, p2.f);
  if (slopes) plan->slope = make_series(p1.df, p2.df);
  plan->value_t = transposed(p2.f, k.var2.size());
  if (slopes) plan->slope_t = transposed(p2.df, k.var2.size());

  // The variances E[φ(u)²], on the same rule: K(x, x) and var agree exactly.
  for (std::size_t i = 0; i < k.var1.size(); ++i) k.var1.flat(i) = p1.f.energy[i];
  if (k.same_inputs) {
    k.var2 = k.var1;
  } else {
    for (std::size_t j = 0; j < k.var2.size(); ++j) k.var2.flat(j) = p2.f.energy[j];
  }
  return plan;
}

void series_entries(const QuadraturePlan& p, const Window& w) {
  const bool slopes = p.slopes;
  const std::size_t n2 = w.cols, columns = p.q2.size();
  double* K = w.nngp;
  double* T = slopes ? w.ntk : nullptr;
  // Blocks of 64 columns, counted from global column 0 in any window: their coefficients
  // (2 × 64 × (K + 1) doubles) stay in cache over the rows.
  constexpr std::size_t kColumns = 64;
  const std::size_t first_block = w.col0 / kColumns, blocks = (w.col0 + n2 + kColumns - 1) / kColumns - first_block;
  const double terms = static_cast<double>(p.value.degree + (slopes ? p.slope.degree : 0) + 2);
  parallel_for(blocks, 0.5 * terms * static_cast<double>(kColumns * w.rows), [&](std::size_t b0, std::size_t b1) {
    double rho[kColumns], sum[kColumns], slope_sum[kColumns];
    for (std::size_t blk = b0; blk < b1; ++blk) {
      // global columns [j0, j1)
      const std::size_t j0 = std::max((first_block + blk) * kColumns, w.col0);
      const std::size_t j1 = std::min((first_block + blk + 1) * kColumns, w.col0 + n2);
      for (std::size_t i = 0; i < w.rows; ++i) {
        const std::size_t g = w.row0 + i;     // global row
        if (p.same_inputs && g >= j1) break;  // symmetric: rows g < j1 only
        const std::size_t first = p.same_inputs ? std::max(j0, g) : j0, count = j1 - first;
        const double q1 = p.q1.flat(g);
        double* k_row = K + i * n2;  // its entry j is global column col0 + j
        for (std::size_t j = first; j < j1; ++j) {
          const double q2 = p.q2.flat(j);
          rho[j - first] = q1 > 0.0 && q2 > 0.0 ? snap(k_row[j - w.col0] / std::sqrt(q1 * q2)) : 0.0;
        }
        sum_series(p.value, g, p.value_t.data(), columns, first, count, rho, sum);
        if (slopes) sum_series(p.slope, g, p.slope_t.data(), columns, first, count, rho, slope_sum);
        if (p.same_inputs && first == g) {  // the diagonal: ρ = 1 exactly, the series' full sums
          sum[0] = p.p1.f.energy[g];
          if (slopes) slope_sum[0] = p.p1.df.energy[g];
        }
        for (std::size_t j = first; j < j1; ++j) {
          k_row[j - w.col0] = sum[j - first];
          if (T) T[i * n2 + (j - w.col0)] *= slope_sum[j - first];
        }
      }
    }
  });
}

}  // namespace

void pairwise_quadrature(Kernel& k, const ActivationLayer& layer) {
  const auto plan = prepare_pairwise(k, layer);
  pairwise_entries(*plan, whole(k));
}

bool series_quadrature(Kernel& k, const ActivationLayer& layer) {
  const auto plan = prepare_series(k, layer);
  if (!plan) return false;
  series_entries(*plan, whole(k));
  return true;
}

std::shared_ptr<const QuadraturePlan> prepare_quadrature(Kernel& k, const ActivationLayer& layer) {
  if (layer.nodes == 0 && layer.rule == QuadratureRule::trapezoid)
    if (auto plan = prepare_series(k, layer)) return plan;
  return prepare_pairwise(k, layer);
}

void quadrature_entries(const QuadraturePlan& plan, const Window& w) {
  if (plan.series) series_entries(plan, w);
  else pairwise_entries(plan, w);
}

void quadrature(Kernel& k, const ActivationLayer& layer) {
  const auto plan = prepare_quadrature(k, layer);
  quadrature_entries(*plan, whole(k));
}

}  // namespace detail

}  // namespace ntk
