// κ, the inverse relative scale of Chizat, Oyallon & Bach ("On lazy training in differentiable
// programming", 2019), at a point w0 of a model y(w) ∈ R^m (m = N·k stacked outputs):
//
//   κ(w0) = ‖y(w0) − ȳ‖ · ‖∇²y(w0)‖ / ‖∇y(w0)‖²
//
//   ‖y(w0) − ȳ‖  Euclidean norm of the residual (ȳ: the targets);
//   ‖∇y(w0)‖     operator norm of the m×p Jacobian J, √λmax(J Jᵀ);
//   ‖∇²y(w0)‖    operator norm of the Hessian as a bilinear map R^p × R^p → R^m,
//                sup over unit u, v of ‖(uᵀ ∇²yᵢ v)ᵢ‖ = sup over unit c ∈ R^m of ‖Σᵢ cᵢ ∇²yᵢ‖₂
//                = sup over unit v of ‖(vᵀ ∇²yᵢ v)ᵢ‖.
//
// Two modes (docs/kappa.md has the algorithms, tolerances and what is exact):
//   matrix_free  never forms J or a Hessian: Lanczos on v ↦ J(Jᵀv) (or J Jᵀ from one batched
//                sweep / the structured NTK when m is small) and, alternating with updates of c,
//                Lanczos on Hessian-vector products of w ↦ ⟨c, y(w)⟩. y(w) is recorded once and
//                ∇_w⟨c, y(w)⟩ once per c; every product is then one reverse sweep over that
//                recording. Memory O(p · Lanczos basis).
//   dense        forms J and the m Hessians (p×p) and decomposes them exactly: for small p.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/model.hpp"

namespace ntk {

using autodiff::Tensor;

enum class KappaMode { matrix_free, dense };

std::string to_string(KappaMode mode);            // "matrix-free", "dense"
KappaMode parse_kappa_mode(const std::string& name);  // throws autodiff::Error on others

// How the matrix-free maximization over c gets the vector (vᵀ ∇²yᵢ v)ᵢ it steps along.
enum class CurvatureMethod {
  // Forward difference (J(w0 + hv) v − J(w0) v) / h with h = √ε·max(1, ‖w0‖∞) (error ~1e-8
  // relative): one forward-mode JVP at w0 + hv, and J(w0) v as a sweep over the recording. Its
  // component along c is replaced by the exact Rayleigh quotient: it only steers c, the reported
  // norm is always an exact Lanczos value for the final c. Two JVPs per update.
  finite_difference,
  // Exact, by forward-over-reverse-over-reverse: one recorded pass whose cost does not grow
  // with m (on the MLP 1→1000→1 of W5 about twice the finite difference).
  forward_over_reverse,
};

struct KappaOptions {
  KappaMode mode = KappaMode::matrix_free;
  // Relative accuracy of ‖∇y‖ and ‖∇²y‖: a Lanczos run stops when its a-posteriori error
  // estimate is below tolerance · |value|, and the alternation over c stops when one more
  // c-update could not raise ‖∇²y‖ by more than tolerance / 2 (relative). Must be in (0, 0.1].
  // The default, 0.1%, is chosen for cost: on the W5 benchmark (MLP 1→1000→1, N = 10) the top of
  // Σ cᵢ∇²yᵢ is a cluster of ~1000 near-equal eigenvalues (one pair per hidden unit), 1e-3 takes
  // 34–107 HVPs and 1e-8 about 300–400 (docs/kappa.md has the table). Use 1e-8 or below to
  // compare numbers; J Jᵀ is exact whenever m ≤ jacobian_rows whatever the tolerance.
  double tolerance = 1e-3;
  // Matrix-free: at most this many Hessian-vector products in all (then converged = false).
  std::size_t max_hessian_products = 5000;
  // At most this many c-updates (both modes).
  std::size_t max_c_iterations = 500;
  // Matrix-free: Lanczos keeps at most this many basis vectors of size p, then restarts thickly
  // (keeping the Ritz vectors of largest magnitude). Memory: about this many p-vectors.
  std::size_t lanczos_basis = 40;
  // Matrix-free: J Jᵀ is formed exactly (one batched reverse sweep, or the structured empirical
  // NTK for models) when m ≤ this; above it, Lanczos on v ↦ J(Jᵀ v) with one VJP and one JVP
  // per step.
  std::size_t jacobian_rows = 64;
  CurvatureMethod curvature = CurvatureMethod::finite_difference;
  // Starting directions c of the alternating maximization, which finds a local maximum. Matrix-
  // free, by default: the residual direction only. multistart (and dense mode, always) adds J's
  // top left singular vector, every unit vector eᵢ and `random_starts` seeded random directions,
  // and keeps the best local maximum (m + 2 + random_starts maximizations).
  bool multistart = false;
  std::size_t random_starts = 8;
  // Dense, m = 2: the number of grid points on the half circle c = (cos t, sin t).
  std::size_t dense_grid = 256;
  std::uint64_t seed = 0;  // for the random start vectors (Lanczos and c)
};

struct KappaResult {
  double residual_norm = 0.0;  // ‖y(w0) − ȳ‖
  double jacobian_norm = 0.0;  // ‖∇y(w0)‖ = σmax(J)
  // ‖∇²y(w0)‖ as max |λ(Σ cᵢ ∇²yᵢ)| at the c found: a value attained by unit c and v, so never
  // above the supremum (up to rounding); a local maximum over c (docs/kappa.md).
  double hessian_norm = 0.0;
  double kappa = 0.0;          // residual_norm · hessian_norm / jacobian_norm²  (+∞ if J = 0)
  double ratio = 0.0;          // hessian_norm / jacobian_norm² (the post's plot; +∞ if J = 0)
  // Dense mode: a certified upper bound on ‖∇²y‖ (equal to it for m = 1, the grid bound for
  // m = 2, √λmax(Σ (∇²yᵢ)²) above). Matrix-free: NaN.
  double hessian_upper_bound = 0.0;
  Tensor c = Tensor::zeros({0});  // unit c ∈ R^m attaining hessian_norm
  Tensor v = Tensor::zeros({0});  // unit v ∈ R^p with |vᵀ (Σ cᵢ∇²yᵢ) v| = hessian_norm
  Tensor u = Tensor::zeros({0});  // unit u ∈ R^m, top left singular vector of J
  KappaMode mode = KappaMode::matrix_free;
  bool converged = false;  // every Lanczos run and the alternation met the tolerance
  std::size_t hessian_products = 0;  // HVPs (matrix-free; dense mode counts its Hessians as sweeps)
  std::size_t jvps = 0;              // Jacobian-vector products (Jacobian Lanczos, finite differences)
  std::size_t vjps = 0;              // vector-Jacobian products (Jacobian Lanczos)
  std::size_t curvature_passes = 0;  // forward-over-reverse-over-reverse passes
  std::size_t jacobian_sweeps = 0;   // batched sweeps: J Jᵀ (or the empirical NTK); dense: Hessian rows
  std::size_t c_iterations = 0;      // c-updates, over all starts
  double seconds = 0.0;              // wall time
};

// y: w ↦ y(w), any output shape (flattened to m = y.size()); w0 of shape (p); y_target of the
// output's shape or flat (m).
using OutputFunction = std::function<autodiff::Var(const autodiff::Var&)>;
KappaResult kappa(const OutputFunction& y, const Tensor& w0, const Tensor& y_target,
                  const KappaOptions& options = {});

// y(w) = f(X, w) of a model, flattened: row n, output a is entry n·k + a. y_target: (N, k) or (N·k).
KappaResult kappa(const nn::Model& model, const Tensor& w0, const Tensor& x, const Tensor& y_target,
                  const KappaOptions& options = {});

}  // namespace ntk
