#include "ntk/lanczos.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "ntk/vector_ops.hpp"

namespace ntk::detail {

namespace ad = autodiff;

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

namespace {

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

}  // namespace

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
      const double gap = k == 1 ? std::numeric_limits<double>::infinity() : top_is_high ? theta - high.values.front() : low.values.back() - theta;
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

}  // namespace ntk::detail
