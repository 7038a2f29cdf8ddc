#include "ntk/kappa.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "nn/random.hpp"
#include "ntk/empirical.hpp"
#include "ntk/linalg.hpp"

namespace ntk {

namespace ad = autodiff;
using ad::Shape;
using ad::Var;

std::string to_string(KappaMode mode) { return mode == KappaMode::dense ? "dense" : "matrix-free"; }

KappaMode parse_kappa_mode(const std::string& name) {
  if (name == "matrix-free") return KappaMode::matrix_free;
  if (name == "dense") return KappaMode::dense;
  throw ad::Error(fmt::format("unknown kappa mode '{}' (expected matrix-free or dense)", name));
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Matrix-free: Lanczos runs that only steer c stop at this relative tolerance (or the user's,
// if looser); the run whose value is reported takes at least kReliableSteps steps.
constexpr double kSearchTolerance = 1e-2;
constexpr std::size_t kReliableSteps = 12;

// ---- small vector helpers on flat tensors -----------------------------------------------------
double vdot(const Tensor& a, const Tensor& b) {
  return cblas_ddot(static_cast<int>(a.size()), a.data(), 1, b.data(), 1);
}
double norm(const Tensor& a) { return std::sqrt(vdot(a, a)); }
void axpy(double alpha, const Tensor& x, Tensor& y) {  // y += alpha x
  cblas_daxpy(static_cast<int>(x.size()), alpha, x.data(), 1, y.data(), 1);
}
void scale_in_place(Tensor& x, double s) {
  double* a = x.data();
  for (std::size_t i = 0, n = x.size(); i < n; ++i) a[i] *= s;
}
double max_abs(const Tensor& x) {
  double m = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x.flat(i)));
  return m;
}
Tensor random_unit(std::size_t n, nn::Rng& rng) {
  Tensor v = Tensor::zeros({n});
  for (std::size_t i = 0; i < n; ++i) v.flat(i) = rng.normal();
  scale_in_place(v, 1.0 / norm(v));
  return v;
}
Tensor unit(std::size_t n, std::size_t i) {
  Tensor e = Tensor::zeros({n});
  e.flat(i) = 1.0;
  return e;
}

// ---- Lanczos: the eigenpair of largest magnitude of a symmetric operator ---------------------
//
// The basis V (rows, contiguous) is kept orthonormal: each new vector A q is reduced by the
// three-term recurrence, then once more against the whole basis by classical Gram–Schmidt (two
// GEMVs; a second pass only when the first removed much of it: "twice is enough"). So
// A V = V K + β q eₖᵀ with K = Vᵀ A V tridiagonal (diagonal α, off-diagonal β): each step needs
// only the extreme eigenvalues of K and one eigenvector, O(k) each (LAPACK dstevr on the
// tridiagonal), not a dense k × k decomposition. The Ritz pair (θ, x = V z) has residual
// ‖A x − θ x‖ = β |zₖ|, and the estimate of |θ − λ| is min(residual, residual² / gap), gap = the
// distance to the nearest other Ritz value. While that estimate is far above the goal, the Ritz
// values are looked at only every few steps (after an estimate 2ʲ times the goal, j steps later,
// j ≤ 3): a run can go on at most three products longer than needed, and saves most of the looks.
//
// Thick restart: when the basis is full, the half of the Ritz vectors of largest magnitude is
// kept. They couple to the next vector q through s = β·(last components of their z), which would
// make K an arrowhead; an orthogonal change of the kept vectors (Householder reflections on the
// small (l+1) × (l+1) matrix) makes it tridiagonal again, only the last kept vector coupled to q.
using Apply = std::function<Tensor(const Tensor&)>;

struct LanczosSettings {
  double tolerance = 1e-8;  // relative, on the eigenvalue
  std::size_t max_applications = 1000;
  std::size_t max_basis = 40;
  std::size_t min_applications = 1;  // guards warm starts against a premature stop
};

struct LanczosRun {
  double value = 0.0;
  Tensor vector = Tensor::zeros({0});
  std::size_t applications = 0;
  bool converged = false;
  double error = 0.0;  // the final error estimate, absolute
};

extern "C" {  // LAPACK (Fortran calling convention: the trailing arguments are the string lengths)
void dstevr_(const char* jobz, const char* range, const int* n, double* d, double* e, const double* vl,
             const double* vu, const int* il, const int* iu, const double* abstol, int* m, double* w, double* z,
             const int* ldz, int* isuppz, double* work, const int* lwork, int* iwork, const int* liwork, int* info,
             std::size_t jobz_length, std::size_t range_length);
}

// Eigenpairs first..last (0-based, eigenvalues in ascending order) of the symmetric tridiagonal
// matrix with diagonal `diagonal` (n) and off-diagonal `off` (n − 1). Row j of `vectors` is the
// unit eigenvector of values[j].
struct TridiagonalEigen {
  std::vector<double> values, vectors;
};

TridiagonalEigen tridiagonal_eigen(const std::vector<double>& diagonal, const std::vector<double>& off,
                                   std::size_t first, std::size_t last) {
  const std::size_t n = diagonal.size();
  const int ni = static_cast<int>(n), il = static_cast<int>(first) + 1, iu = static_cast<int>(last) + 1;
  std::vector<double> d = diagonal, e(n, 0.0);  // LAPACK overwrites both; e has n entries
  std::copy(off.begin(), off.end(), e.begin());
  TridiagonalEigen out;
  out.values.resize(n);
  out.vectors.resize(n * (last + 1 - first));
  std::vector<int> support(2 * n), iwork(10 * n);
  std::vector<double> work(20 * n);
  const int lwork = static_cast<int>(work.size()), liwork = static_cast<int>(iwork.size());
  const double unused = 0.0, abstol = 0.0;
  int found = 0, info = 0;
  dstevr_("V", "I", &ni, d.data(), e.data(), &unused, &unused, &il, &iu, &abstol, &found, out.values.data(),
          out.vectors.data(), &ni, support.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0 || found != iu - il + 1)
    throw ad::Error(fmt::format("kappa: Lanczos: LAPACK dstevr failed (info {})", info));
  out.values.resize(last + 1 - first);
  return out;
}

// An orthogonal Q with Q e₀ = e₀ that makes M = [[0, sᵀ], [s, diag(θ)]] tridiagonal: Householder
// reflections on rows and columns 1..l, one per column. On return, t = Qᵀ M Q (dense, row-major,
// (l+1) × (l+1)) and q = Q.
void tridiagonalize_arrowhead(const std::vector<double>& theta, const std::vector<double>& s, std::vector<double>& t,
                              std::vector<double>& q) {
  const std::size_t n = theta.size() + 1;
  t.assign(n * n, 0.0);
  q.assign(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) q[i * n + i] = 1.0;
  for (std::size_t i = 1; i < n; ++i) {
    t[i * n + i] = theta[i - 1];
    t[i * n] = t[i] = s[i - 1];
  }
  std::vector<double> v(n), tv(n);
  for (std::size_t j = 0; j + 2 < n; ++j) {  // zero column j below its subdiagonal
    double tail = 0.0;
    for (std::size_t i = j + 2; i < n; ++i) tail += t[i * n + j] * t[i * n + j];
    if (tail == 0.0) continue;  // already reduced
    // P = I − 2 v vᵀ maps x = t[j+1.., j] to −sign(x₀)‖x‖ e₁: v ∝ x + sign(x₀)‖x‖ e₁ (no cancellation).
    const double x0 = t[(j + 1) * n + j], x_norm = std::sqrt(tail + x0 * x0);
    std::fill(v.begin(), v.end(), 0.0);
    for (std::size_t i = j + 1; i < n; ++i) v[i] = t[i * n + j];
    v[j + 1] += x0 >= 0.0 ? x_norm : -x_norm;
    double v_norm = 0.0;
    for (std::size_t i = j + 1; i < n; ++i) v_norm += v[i] * v[i];
    v_norm = std::sqrt(v_norm);
    for (std::size_t i = j + 1; i < n; ++i) v[i] /= v_norm;
    // T ← P T P = T − 2 v (Tv)ᵀ − 2 (Tv) vᵀ + 4 (vᵀTv) v vᵀ (T symmetric).
    double vtv = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      tv[i] = 0.0;
      for (std::size_t l = j + 1; l < n; ++l) tv[i] += t[i * n + l] * v[l];
    }
    for (std::size_t i = j + 1; i < n; ++i) vtv += v[i] * tv[i];
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t l = 0; l < n; ++l)
        t[i * n + l] += -2.0 * v[i] * tv[l] - 2.0 * tv[i] * v[l] + 4.0 * vtv * v[i] * v[l];
    for (std::size_t i = 0; i < n; ++i) {  // Q ← Q P
      double qv = 0.0;
      for (std::size_t l = j + 1; l < n; ++l) qv += q[i * n + l] * v[l];
      for (std::size_t l = j + 1; l < n; ++l) q[i * n + l] -= 2.0 * qv * v[l];
    }
  }
}

LanczosRun lanczos_largest_magnitude(const Apply& apply, const Tensor& start, const LanczosSettings& s) {
  const std::size_t n = start.size();
  const std::size_t max_basis = std::max<std::size_t>(2, std::min(s.max_basis, n + 1));
  const int ni = static_cast<int>(n);
  LanczosRun run;
  // The basis, row i = vector i, contiguous so that Gram–Schmidt is two GEMVs per pass (reserved,
  // not zero-filled: vectors are appended). K: alpha[i] = K(i, i), beta[i] = K(i, i + 1); at the
  // top of the loop the basis has k vectors and alpha, beta have k − 1 entries.
  std::vector<double> basis, alpha, beta, d(max_basis);
  basis.reserve(max_basis * n);
  basis.insert(basis.end(), start.data(), start.data() + n);
  cblas_dscal(ni, 1.0 / norm(start), basis.data(), 1);
  std::size_t k = 1;
  const auto row = [&](std::size_t i) { return basis.data() + i * n; };
  // Products with the basis, row by row (level-1 BLAS): at these sizes one thread does them as fast,
  // and OpenBLAS's threaded GEMV would wake a helper thread that then spins.
  const auto combine = [&](const double* coefficients, std::size_t count, double* out) {  // out += Σ cᵢ Vᵢ
    for (std::size_t i = 0; i < count; ++i) cblas_daxpy(ni, coefficients[i], row(i), 1, out, 1);
  };
  const auto orthogonalize = [&](Tensor& w) {  // w −= V Vᵀ w: one classical Gram–Schmidt pass
    for (std::size_t i = 0; i < k; ++i) d[i] = -cblas_ddot(ni, row(i), 1, w.data(), 1);
    combine(d.data(), k, w.data());
  };
  std::size_t next_look = s.min_applications;  // when to look at the Ritz values next
  Tensor q = Tensor::zeros({n});
  while (true) {
    std::copy(row(k - 1), row(k), q.data());
    Tensor w = apply(q);
    ++run.applications;
    const double w_norm = norm(w);
    if (k > 1) cblas_daxpy(ni, -beta[k - 2], row(k - 2), 1, w.data(), 1);  // w −= β q_prev
    alpha.push_back(cblas_ddot(ni, row(k - 1), 1, w.data(), 1));             // α = qᵀ A q
    cblas_daxpy(ni, -alpha.back(), row(k - 1), 1, w.data(), 1);             // w −= α q
    const double before = norm(w);
    orthogonalize(w);
    if (norm(w) < 0.7 * before) orthogonalize(w);
    const double b = norm(w);
    // Breakdown: A q lies in span(V) up to rounding, so the Ritz values are eigenvalues of A.
    const bool invariant = w_norm == 0.0 || b <= 1e-12 * w_norm || k == n;
    const bool last = run.applications >= s.max_applications;

    if (invariant || last || k == max_basis || run.applications >= next_look) {
      // The extreme Ritz values; the one of largest magnitude, its eigenvector z and its gap.
      const TridiagonalEigen low = tridiagonal_eigen(alpha, beta, 0, std::min<std::size_t>(1, k - 1));
      const TridiagonalEigen high = tridiagonal_eigen(alpha, beta, k >= 2 ? k - 2 : 0, k - 1);
      const bool top_is_high = std::abs(high.values.back()) > std::abs(low.values.front());
      const double theta = top_is_high ? high.values.back() : low.values.front();
      const double* z = top_is_high ? high.vectors.data() + (high.values.size() - 1) * k : low.vectors.data();
      const double gap = k == 1 ? kInf : top_is_high ? theta - high.values.front() : low.values.back() - theta;
      const double residual = b * std::abs(z[k - 1]);
      const double error = k > 1 && gap > 0.0 ? std::min(residual, residual * residual / gap) : residual;
      const double goal = s.tolerance * std::abs(theta);
      run.value = theta;
      run.error = invariant ? 0.0 : error;
      run.converged = invariant || (run.applications >= s.min_applications && error <= goal);
      if (run.converged || last) {
        run.vector = Tensor::zeros({n});
        combine(z, k, run.vector.data());
        scale_in_place(run.vector, 1.0 / norm(run.vector));
        return run;
      }
      const std::size_t skip = error >= 8.0 * goal ? 3 : error >= 4.0 * goal ? 2 : error >= 2.0 * goal ? 1 : 0;
      next_look = run.applications + 1 + skip;
    }

    if (k == max_basis) {  // thick restart: keep the Ritz vectors of largest magnitude
      const TridiagonalEigen all = tridiagonal_eigen(alpha, beta, 0, k - 1);
      std::vector<std::size_t> order(k);
      for (std::size_t j = 0; j < k; ++j) order[j] = j;
      std::sort(order.begin(), order.end(),
                [&](std::size_t x, std::size_t y) { return std::abs(all.values[x]) > std::abs(all.values[y]); });
      const std::size_t keep = std::max<std::size_t>(1, max_basis / 2), m1 = keep + 1;
      std::vector<double> theta_kept(keep), coupling(keep), t, rotation;
      for (std::size_t l = 0; l < keep; ++l) {
        theta_kept[l] = all.values[order[l]];
        coupling[l] = b * all.vectors[order[l] * k + k - 1];
      }
      tridiagonalize_arrowhead(theta_kept, coupling, t, rotation);
      // Kept vector r (of keep) = Σⱼ rotation(j+1, keep−r) · (V zⱼ): reversed, so that the one
      // coupled to q comes last. Its coefficients over the old basis: row r of a keep × k matrix.
      std::vector<double> coefficients(keep * k, 0.0);
      for (std::size_t r = 0; r < keep; ++r)
        for (std::size_t j = 0; j < keep; ++j) {
          const double c = rotation[(j + 1) * m1 + keep - r];
          const double* zj = all.vectors.data() + order[j] * k;
          for (std::size_t i = 0; i < k; ++i) coefficients[r * k + i] += c * zj[i];
        }
      std::vector<double> kept(keep * n, 0.0);
      for (std::size_t r = 0; r < keep; ++r) combine(coefficients.data() + r * k, k, kept.data() + r * n);
      basis.assign(kept.begin(), kept.end());
      alpha.resize(keep);
      beta.resize(keep);
      for (std::size_t r = 0; r < keep; ++r) {
        const std::size_t i = keep - r;  // row of t
        alpha[r] = t[i * m1 + i];
        beta[r] = r + 1 < keep ? t[i * m1 + i - 1] : t[m1];  // t(1, 0): the coupling to q
      }
      k = keep;
    } else {
      beta.push_back(b);
    }
    scale_in_place(w, 1.0 / b);  // the next basis vector q
    basis.insert(basis.end(), w.data(), w.data() + n);
    ++k;
  }
}

// ---- the problem: y(w) flat, with counters -----------------------------------------------------
struct Problem {
  OutputFunction y;  // returns the flat (m) output
  Tensor w0 = Tensor::zeros({0});
  Tensor target = Tensor::zeros({0});  // flat (m)
  std::size_t m = 0, p = 0;
  // J Jᵀ exactly, when available cheaply (models: the structured empirical NTK).
  std::function<Tensor()> gram;
};

struct Counters {
  std::size_t hvps = 0, jvps = 0, vjps = 0, curvature_passes = 0, jacobian_sweeps = 0, c_iterations = 0;
};

OutputFunction flattened(OutputFunction f) {
  return [f = std::move(f)](const Var& w) -> Var {
    const Var y = f(w);
    return y.dim() == 1 ? y : ad::reshape(y, {y.size()});
  };
}

// ---- the recording: y(w) once, every product a sweep over it -----------------------------------
//
// y(w) is recorded once at w0, on a tape of its own. On top of it, the gradient
// G(w, u) = ∇_w⟨u, y(w)⟩ = J(w)ᵀu is recorded by a recorded reverse sweep (autodiff::backward_graph,
// reverse over reverse), u a leaf that holds the current c. Each product is then one Tensor-mode
// reverse sweep over what is already recorded — nothing is recorded again and no activation is
// evaluated again:
//
//   Jᵀu    = ∇_w⟨u, y⟩   from y with seed u: the forward's nodes (a gradient);
//   H_c v  = ∇_w⟨G, v⟩   from G with seed v, down to w: the gradient's and the forward's nodes;
//   J v    = ∇_u⟨G, v⟩   from G with seed v, down to u: the gradient's nodes only.
//
// G is linear in u, so J v does not depend on the value u holds; H_c v needs u = c, and a new c
// re-records only G (set_c rewinds the tape to the end of the forward pass).
class Recording {
 public:
  explicit Recording(const Problem& P) : m_(P.m) {
    const ad::UseTape use(tape_);  // constants made by y go to this tape
    w_ = tape_.variable(P.w0);
    y_ = P.y(w_);
    forward_end_ = tape_.size();
    set_c(Tensor::zeros({P.m}));
  }
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  const Tensor& y0() const { return y_.value(); }
  void set_c(const Tensor& c) {
    const ad::UseTape use(tape_);
    tape_.rewind(forward_end_);
    u_ = tape_.variable(c);
    g_ = ad::backward_graph(y_, {w_}, u_)[0];
  }
  Tensor hessian_times(const Tensor& v) const { return sweep(g_, w_, v); }  // H_c v, c as last set
  Tensor jacobian_times(const Tensor& v) const { return sweep(g_, u_, v); }
  Tensor jacobian_transpose_times(const Tensor& u) const { return sweep(y_, w_, u); }
  Tensor jacobian() const {  // (m, p): all m rows in one batched sweep
    return std::move(ad::backward(y_, {w_}, Tensor::identity(m_), {m_})[0]);
  }

 private:
  static Tensor sweep(const Var& from, const Var& to, const Tensor& seed) {
    return std::move(ad::backward(from, {to}, seed)[0]);
  }
  std::size_t m_;
  ad::Tape tape_;
  Var w_, y_, u_, g_;
  std::size_t forward_end_ = 0;
};

// ---- the Jacobian norm --------------------------------------------------------------------------
struct JacobianNorm {
  double norm = 0.0;
  Tensor u = Tensor::zeros({0});  // top left singular vector
  bool converged = true;
};

JacobianNorm jacobian_norm_from_gram(const Tensor& gram) {
  Tensor sym = gram;
  const std::size_t m = sym.shape()[0];
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < i; ++j) {
      const double a = 0.5 * (sym.flat(i * m + j) + sym.flat(j * m + i));
      sym.flat(i * m + j) = sym.flat(j * m + i) = a;
    }
  const SymmetricEigen e = symmetric_eigen(sym, "kappa: J Jᵀ");
  JacobianNorm out;
  out.norm = std::sqrt(std::max(0.0, e.values.flat(m - 1)));
  out.u = Tensor::zeros({m});
  for (std::size_t i = 0; i < m; ++i) out.u.flat(i) = e.vectors.flat(i * m + (m - 1));
  return out;
}

JacobianNorm jacobian_norm(const Problem& P, const Recording& recording, const KappaOptions& o, Counters& count,
                           nn::Rng& rng) {
  if (o.mode == KappaMode::dense || P.m <= o.jacobian_rows) {
    ++count.jacobian_sweeps;
    if (P.gram) return jacobian_norm_from_gram(P.gram());
    const Tensor j = recording.jacobian();  // (m, p)
    return jacobian_norm_from_gram(matmul_transposed(j, j));
  }
  const Apply gram = [&](const Tensor& u) {  // J (Jᵀu): two sweeps over the recording
    ++count.vjps;
    ++count.jvps;
    return recording.jacobian_times(recording.jacobian_transpose_times(u));
  };
  LanczosSettings s;
  s.tolerance = o.tolerance;
  s.max_basis = o.lanczos_basis;
  s.max_applications = 100000;
  const LanczosRun run = lanczos_largest_magnitude(gram, random_unit(P.m, rng), s);
  return {std::sqrt(std::max(0.0, run.value)), run.vector, run.converged};
}

// ---- the maximization over c -----------------------------------------------------------------------
//
// φ(c) = ‖Σ cᵢ∇²yᵢ‖ = max |λ(H_c)| is convex in c; we want its maximum on the unit sphere. For the
// eigenvector v of H_c's eigenvalue θ of largest magnitude, g = (vᵀ∇²yᵢ v)ᵢ is a (sub)gradient
// and ‖g‖ ≥ |cᵀg| = |θ|, so the step c ← sign(θ) g/‖g‖ never lowers φ: φ(c_new) ≥ ‖g‖ ≥ φ(c).
// It stops at c ∥ g, a fixed point (every global maximum is one). The relative gain of one step
// is at least gap = 1 − |θ|/‖g‖; the steps shrink geometrically with a ratio ρ estimated from the
// last two gaps, and the remaining gain is estimated as gap / (1 − ρ). When consecutive steps
// point the same way and shrink slowly (flat maxima, ρ near 1), an Aitken-type extrapolation
// c_plain + d ρ/(1 − ρ) is tried and kept only if it beats the guaranteed ‖g‖.
struct Maximum {
  double value = 0.0;
  Tensor c = Tensor::zeros({0}), v = Tensor::zeros({0});
  bool converged = false;
};

struct Evaluation {
  double theta = 0.0;  // the eigenvalue of H_c of largest magnitude
  Tensor v = Tensor::zeros({0});  // its unit eigenvector
  Tensor g = Tensor::zeros({0});  // (vᵀ∇²yᵢ v)ᵢ, with its component along c exactly θ
  bool converged = true;
};
// accurate = false: a loose eigen-solve that only steers c; true: its value is reported.
using Evaluate = std::function<Evaluation(const Tensor& c, bool accurate)>;

Maximum ascend(const Evaluate& evaluate, Tensor c, double tol, bool exact, std::size_t max_steps,
               const std::function<bool()>& exhausted, Counters& count) {
  const std::size_t m = c.size();
  bool accurate = exact || m == 1;
  Evaluation e = evaluate(c, accurate);
  double previous_gap = -1.0;
  Tensor previous_step = Tensor::zeros({0});
  std::size_t stalls = 0, steps = 0;
  double previous_value = -1.0;
  while (true) {
    Maximum here{std::abs(e.theta), c, e.v, false};
    if (m == 1) {  // c = ±1: nothing to alternate
      here.converged = e.converged;
      return here;
    }
    const double g_norm = norm(e.g);
    if (g_norm == 0.0) {  // no curvature along v in any output
      here.converged = e.converged;
      return here;
    }
    const double gap = std::max(0.0, 1.0 - std::abs(e.theta) / g_norm);
    double remaining = kInf;
    if (gap <= 1e-14) {  // c ∥ g to working precision (1 − |θ|/‖g‖ is rounding below this)
      remaining = 0.0;
    } else if (previous_gap > 0.0 && gap < previous_gap) {
      remaining = gap / (1.0 - gap / previous_gap);
    }
    const bool settled = remaining <= 0.5 * tol;
    if (exact) {
      // Exact evaluations: go on to rounding level, or until φ stops rising.
      stalls = here.value <= previous_value * (1.0 + 1e-15) ? stalls + 1 : 0;
      previous_value = std::max(previous_value, here.value);
      if (remaining <= 1e-13 || stalls >= 3 || steps >= max_steps) {
        here.converged = settled || gap <= 1e-12;
        return here;
      }
    } else {
      if (settled && accurate && e.converged) {
        here.converged = true;
        return here;
      }
      if (settled) accurate = true;  // the next evaluation is the one to report
      if (exhausted() || steps >= max_steps) return here;
    }
    ++count.c_iterations;
    ++steps;
    Tensor plain = e.g;
    scale_in_place(plain, (e.theta < 0 ? -1.0 : 1.0) / g_norm);
    Tensor step = plain;
    axpy(-1.0, c, step);
    bool extrapolated = false;
    if (previous_step.size() == m) {
      const double a = norm(step), b = norm(previous_step);
      const double ratio = a / b;
      if (b > 0.0 && a > 0.0 && vdot(step, previous_step) > 0.9 * a * b && ratio > 0.5 && ratio < 1.0) {
        Tensor jump = plain;
        axpy(std::min(50.0, ratio / (1.0 - ratio)), step, jump);
        scale_in_place(jump, 1.0 / norm(jump));
        Evaluation trial = evaluate(jump, accurate);
        if (std::abs(trial.theta) >= g_norm) {
          c = std::move(jump);
          e = std::move(trial);
          extrapolated = true;
        }
      }
    }
    if (extrapolated) {  // the geometric sequence starts over
      previous_step = Tensor::zeros({0});
      previous_gap = -1.0;
      continue;
    }
    e = evaluate(plain, accurate);
    c = std::move(plain);
    previous_step = std::move(step);
    previous_gap = gap;
  }
}

// (vᵀ ∇²yᵢ v)ᵢ.
Tensor curvature(const Problem& P, const Recording& recording, const Tensor& v, CurvatureMethod method,
                 Counters& count) {
  if (method == CurvatureMethod::forward_over_reverse) {
    ++count.curvature_passes;
    ad::TapeScope scope;
    ad::Tape& tape = scope.tape();
    const Var w = tape.variable(P.w0, v);
    const Var y = P.y(w);
    const Var u = tape.variable(Tensor::zeros({P.m}));
    const Var jt_u = ad::backward_graph(y, {w}, u)[0];                  // Jᵀu, linear in u
    const Var q = ad::dot(jt_u, tape.constant(v));                      // uᵀ J v
    const Var jv = ad::backward_graph(q, {u}, tape.constant(Tensor(1.0)))[0];  // J v, recorded
    return jv.has_tangent() ? jv.tangent() : Tensor::zeros({P.m});     // d/dt J(w0 + t v) v
  }
  // (J(w0 + hv) v − J(w0) v) / h: one forward-mode JVP at w0 + hv, and J(w0) v as a sweep over the
  // recording. h = √ε·max(1, ‖w0‖∞) balances truncation and rounding: error ~1e-8 relative.
  count.jvps += 2;
  const double h = std::sqrt(std::numeric_limits<double>::epsilon()) * std::max(1.0, max_abs(P.w0));
  Tensor plus = P.w0;
  axpy(h, v, plus);
  Tensor g = ad::jvp(P.y, plus, v).second;
  axpy(-1.0, recording.jacobian_times(v), g);
  scale_in_place(g, 1.0 / h);
  return g;
}

// Matrix-free: each evaluation records G for its c once, runs Lanczos on H_c v (one sweep each),
// warm-started from the previous eigenvector, then gets (vᵀ∇²yᵢ v)ᵢ by `curvature`. Runs that only
// steer c stop at a loose tolerance after ≥ 3 steps; a warm-started run sees few Ritz values, so
// its gap estimate can be far too optimistic, and the runs whose value may be reported (the cold
// first one and the accurate ones) take at least kReliableSteps steps.
Maximum maximize_matrix_free(const Problem& P, Recording& recording, const Tensor& c0, const Tensor& v0,
                             const KappaOptions& o, Counters& count, nn::Rng& rng) {
  Tensor start = v0;
  bool cold = true;
  // Each run starts from the previous eigenvector plus 1e-4 of this random vector, so that an
  // eigenvector of the next H_c that v happens to miss can still be found.
  const Tensor nudge = random_unit(P.p, rng);
  const Evaluate evaluate = [&](const Tensor& c, bool accurate) {
    recording.set_c(c);
    const Apply hessian_c = [&](const Tensor& v) {
      ++count.hvps;
      return recording.hessian_times(v);
    };
    LanczosSettings s;
    s.tolerance = accurate ? o.tolerance : std::max(o.tolerance, kSearchTolerance);
    s.max_basis = o.lanczos_basis;
    s.max_applications = o.max_hessian_products > count.hvps ? o.max_hessian_products - count.hvps : 1;
    s.min_applications = accurate || cold ? kReliableSteps : 3;
    cold = false;
    const LanczosRun run = lanczos_largest_magnitude(hessian_c, start, s);
    Evaluation e;
    e.theta = run.value;
    e.v = run.vector;
    e.converged = run.converged;
    if (P.m > 1) {
      e.g = curvature(P, recording, run.vector, o.curvature, count);
      axpy(e.theta - vdot(c, e.g), c, e.g);
    }
    start = run.vector;
    axpy(1e-4, nudge, start);
    return e;
  };
  return ascend(evaluate, c0, o.tolerance, false, o.max_c_iterations,
                [&] { return count.hvps >= o.max_hessian_products; }, count);
}

// ---- dense -------------------------------------------------------------------------------------------
struct DenseHessians {
  std::vector<Tensor> h;  // m matrices (p, p), symmetrized
};

DenseHessians dense_hessians(const Problem& P, Counters& count) {
  DenseHessians out;
  const std::size_t p = P.p, m = P.m;
  for (std::size_t i = 0; i < m; ++i) out.h.push_back(Tensor::zeros({p, p}));
  constexpr std::size_t kChunk = 64;  // columns per batched forward-over-reverse pass
  for (std::size_t first = 0; first < p; first += kChunk) {
    const std::size_t b = std::min(kChunk, p - first);
    Tensor tangents = Tensor::zeros({b, p});
    for (std::size_t j = 0; j < b; ++j) tangents.flat(j * p + first + j) = 1.0;
    ad::TapeScope scope;
    ad::Tape& tape = scope.tape();
    tape.set_tangent_batch({b});
    const Var w = tape.variable(P.w0, tangents);
    const Var y = P.y(w);
    const std::size_t mark = tape.size();
    for (std::size_t i = 0; i < m; ++i) {
      ++count.jacobian_sweeps;
      const Var row = ad::backward_graph(y, {w}, tape.constant(unit(m, i)))[0];  // ∇yᵢ, tangent (b, p)
      if (row.has_tangent()) {
        const Tensor& t = row.tangent();
        for (std::size_t j = 0; j < b; ++j)
          for (std::size_t l = 0; l < p; ++l) out.h[i].flat(l * p + first + j) = t.flat(j * p + l);
      }
      tape.rewind(mark);
    }
  }
  for (Tensor& h : out.h)
    for (std::size_t a = 0; a < p; ++a)
      for (std::size_t b = 0; b < a; ++b) {
        const double s = 0.5 * (h.flat(a * p + b) + h.flat(b * p + a));
        h.flat(a * p + b) = h.flat(b * p + a) = s;
      }
  return out;
}

struct DenseEval {
  double value = 0.0;  // max |λ(H_c)|
  double theta = 0.0;  // that eigenvalue, signed
  Tensor v = Tensor::zeros({0});
};

DenseEval dense_eval(const DenseHessians& H, const Tensor& c) {
  const std::size_t p = H.h[0].shape()[0];
  Tensor hc = Tensor::zeros({p, p});
  for (std::size_t i = 0; i < H.h.size(); ++i) axpy(c.flat(i), H.h[i], hc);
  const SymmetricEigen e = symmetric_eigen(hc, "kappa: dense Hessian");
  const std::size_t top = std::abs(e.values.flat(0)) > std::abs(e.values.flat(p - 1)) ? 0 : p - 1;
  DenseEval out;
  out.theta = e.values.flat(top);
  out.value = std::abs(out.theta);
  out.v = Tensor::zeros({p});
  for (std::size_t l = 0; l < p; ++l) out.v.flat(l) = e.vectors.flat(l * p + top);
  return out;
}

Tensor dense_curvature(const DenseHessians& H, const Tensor& v) {
  const std::size_t p = v.size();
  Tensor g = Tensor::zeros({H.h.size()});
  for (std::size_t i = 0; i < H.h.size(); ++i) {
    double s = 0.0;
    for (std::size_t a = 0; a < p; ++a) {
      double row = 0.0;
      for (std::size_t b = 0; b < p; ++b) row += H.h[i].flat(a * p + b) * v.flat(b);
      s += v.flat(a) * row;
    }
    g.flat(i) = s;
  }
  return g;
}

// Dense: exact eigen-decompositions of H_c and exact (vᵀHᵢv)ᵢ.
Maximum maximize_dense(const DenseHessians& H, const Tensor& c0, const KappaOptions& o, Counters& count) {
  const Evaluate evaluate = [&](const Tensor& c, bool) {
    const DenseEval d = dense_eval(H, c);
    Evaluation e;
    e.theta = d.theta;
    e.v = d.v;
    e.g = dense_curvature(H, d.v);
    return e;
  };
  return ascend(evaluate, c0, o.tolerance, true, o.max_c_iterations, [] { return false; }, count);
}

// ---- input checks -------------------------------------------------------------------------------------
void check_options(const KappaOptions& o) {
  if (!(o.tolerance > 0.0 && o.tolerance <= 0.1))
    throw ad::Error(fmt::format("kappa: tolerance must be in (0, 0.1], got {}", o.tolerance));
  if (o.lanczos_basis < 2) throw ad::Error("kappa: lanczos_basis must be at least 2");
  if (o.max_hessian_products == 0) throw ad::Error("kappa: max_hessian_products must be positive");
  if (o.mode == KappaMode::dense && o.dense_grid < 8) throw ad::Error("kappa: dense_grid must be at least 8");
}

Tensor flat_target(const Tensor& target, const Shape& output_shape, const char* what) {
  const std::size_t m = ad::shape_size(output_shape);
  if (target.shape() != output_shape && target.shape() != Shape{m})
    throw ad::Error(fmt::format("{}: targets have shape {}, expected the output's shape {} or ({})", what,
                                ad::to_string(target.shape()), ad::to_string(output_shape), m));
  if (!ad::all_finite(target)) throw ad::Error(fmt::format("{}: targets contain non-finite values", what));
  return ad::reshape(target, {m});
}

KappaResult run(Problem& P, const KappaOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  check_options(o);
  KappaResult r;
  r.mode = o.mode;
  Counters count;
  nn::Rng rng(o.seed);

  Recording recording(P);  // y(w) recorded once at w0; the products below are sweeps over it
  const Tensor y0 = recording.y0();
  if (!ad::all_finite(y0)) throw ad::Error("kappa: y(w0) is not finite");
  Tensor residual = y0 - P.target;
  r.residual_norm = norm(residual);

  const JacobianNorm jn = jacobian_norm(P, recording, o, count, rng);
  r.jacobian_norm = jn.norm;
  r.u = jn.u;
  bool converged = jn.converged;

  // Starting directions c: the residual's (or J's top left singular vector's when the residual
  // vanishes); with multistart also J's, every unit vector and seeded random ones.
  std::vector<Tensor> starts;
  if (r.residual_norm > 0.0) {
    Tensor c = residual;
    scale_in_place(c, 1.0 / r.residual_norm);
    starts.push_back(c);
  } else {
    starts.push_back(jn.u);
  }
  if (P.m > 1 && (o.mode == KappaMode::dense || o.multistart)) {
    if (r.residual_norm > 0.0) starts.push_back(jn.u);
    for (std::size_t i = 0; i < P.m; ++i) starts.push_back(unit(P.m, i));
    for (std::size_t i = 0; i < o.random_starts; ++i) starts.push_back(random_unit(P.m, rng));
  }

  Maximum best;
  best.value = -1.0;
  if (o.mode == KappaMode::matrix_free) {
    const Tensor v0 = random_unit(P.p, rng);
    bool all = true;
    for (const Tensor& c : starts) {
      Maximum found = maximize_matrix_free(P, recording, c, v0, o, count, rng);
      all = all && found.converged;
      if (found.value > best.value) best = std::move(found);
    }
    converged = converged && all;
    r.hessian_upper_bound = std::numeric_limits<double>::quiet_NaN();
  } else {
    const double bytes = 8.0 * static_cast<double>(P.m) * static_cast<double>(P.p) * static_cast<double>(P.p);
    if (bytes > 2e9)
      throw ad::Error(fmt::format("kappa: dense mode would store {} Hessians of size {}x{} ({:.3g} GB); use the "
                                  "matrix-free mode",
                                  P.m, P.p, P.p, bytes / 1e9));
    const DenseHessians H = dense_hessians(P, count);
    for (const Tensor& c : starts) {
      Maximum found = maximize_dense(H, c, o, count);
      if (found.value > best.value) best = std::move(found);
    }
    double bound = 0.0;
    if (P.m == 1) {
      bound = best.value;
    } else if (P.m == 2) {
      // Grid on the half circle (φ(t + π) = φ(t)). φ(t) = ‖cos t H₁ + sin t H₂‖ has
      // |φ(t) − φ(s)| ≤ |t − s| · sup φ, so sup φ ≤ max over the grid / (1 − Δ/2). Every grid
      // point that could hold the supremum starts an alternating refinement.
      const std::size_t n = o.dense_grid;
      const double delta = M_PI / static_cast<double>(n);
      std::vector<double> phi(n);
      double grid_max = 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        const double t = delta * static_cast<double>(j);
        phi[j] = dense_eval(H, Tensor{std::cos(t), std::sin(t)}).value;
        grid_max = std::max(grid_max, phi[j]);
      }
      bound = grid_max / (1.0 - 0.5 * delta);
      for (std::size_t j = 0; j < n; ++j) {
        const bool local = phi[j] >= phi[(j + n - 1) % n] && phi[j] >= phi[(j + 1) % n];
        if (!local || phi[j] < grid_max * (1.0 - 0.5 * delta) - 1e-300) continue;
        const double t = delta * static_cast<double>(j);
        Maximum found = maximize_dense(H, Tensor{std::cos(t), std::sin(t)}, o, count);
        if (found.value > best.value) best = std::move(found);
      }
      bound = std::max(bound, best.value);
    } else {
      // |Σ cᵢ uᵀHᵢv| ≤ ‖(uᵀHᵢv)ᵢ‖ ≤ ‖(Hᵢv)ᵢ‖ = √(vᵀ Σ Hᵢ² v) ≤ √λmax(Σ Hᵢ²).
      Tensor squares = Tensor::zeros({P.p, P.p});
      for (const Tensor& h : H.h) squares += ad::matmul(h, h);
      const Tensor sym = ad::scale(squares + ad::transpose(squares), 0.5);
      bound = std::max(std::sqrt(std::max(0.0, symmetric_eigen(sym, "kappa: bound").values.flat(P.p - 1))), best.value);
    }
    r.hessian_upper_bound = bound;
  }
  r.hessian_norm = best.value;
  r.c = best.c;
  r.v = best.v;
  r.converged = converged && best.converged;

  if (r.jacobian_norm > 0.0) {
    r.ratio = r.hessian_norm / (r.jacobian_norm * r.jacobian_norm);
    r.kappa = r.residual_norm * r.ratio;
  } else {
    r.ratio = r.kappa = kInf;
  }
  r.hessian_products = count.hvps;
  r.jvps = count.jvps;
  r.vjps = count.vjps;
  r.curvature_passes = count.curvature_passes;
  r.jacobian_sweeps = count.jacobian_sweeps;
  r.c_iterations = count.c_iterations;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

}  // namespace

KappaResult kappa(const OutputFunction& y, const Tensor& w0, const Tensor& y_target, const KappaOptions& options) {
  if (!y) throw ad::Error("kappa: no function given");
  if (w0.dim() != 1 || w0.size() == 0)
    throw ad::Error(fmt::format("kappa: w0 must be a non-empty vector (p), got shape {}", ad::to_string(w0.shape())));
  if (!ad::all_finite(w0)) throw ad::Error("kappa: w0 contains non-finite values");
  const Shape out_shape = [&] {
    ad::TapeScope scope;
    return y(scope.tape().constant(w0)).shape();
  }();
  if (ad::shape_size(out_shape) == 0) throw ad::Error("kappa: y(w0) has no elements");
  Problem P;
  P.y = flattened(y);
  P.w0 = w0;
  P.target = flat_target(y_target, out_shape, "kappa");
  P.m = ad::shape_size(out_shape);
  P.p = w0.size();
  return run(P, options);
}

KappaResult kappa(const nn::Model& model, const Tensor& w0, const Tensor& x, const Tensor& y_target,
                  const KappaOptions& options) {
  model.check_inputs("kappa", w0.shape(), x.shape());
  if (!ad::all_finite(w0) || !ad::all_finite(x)) throw ad::Error("kappa: weights or inputs contain non-finite values");
  const std::size_t n = x.shape()[0], k = model.output_dim();
  if (n == 0) throw ad::Error("kappa: no inputs (N = 0)");
  Problem P;
  P.y = [&model, x](const Var& w) {
    const Var out = model.forward(w, w.tape().constant(x));
    return ad::reshape(out, {out.size()});
  };
  P.w0 = w0;
  P.target = flat_target(y_target, {n, k}, "kappa");
  P.m = n * k;
  P.p = w0.size();
  P.gram = [&model, &w0, &x] { return empirical_ntk(model, w0, x); };
  return run(P, options);
}

}  // namespace ntk
