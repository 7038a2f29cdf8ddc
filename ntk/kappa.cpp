#include "ntk/kappa.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "nn/random.hpp"
#include "ntk/empirical.hpp"
#include "ntk/kappa_recording.hpp"
#include "ntk/lanczos.hpp"
#include "ntk/linalg.hpp"
#include "ntk/vector_ops.hpp"

namespace ntk {

namespace ad = autodiff;
using ad::Shape;
using ad::Var;
using namespace detail;  // the Lanczos solver, the recording, the vector helpers

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

OutputFunction flattened(OutputFunction f) {
  return [f = std::move(f)](const Var& w) -> Var {
    const Var y = f(w);
    return y.dim() == 1 ? y : ad::reshape(y, {y.size()});
  };
}

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
    return jacobian_norm_from_gram(gram(j));
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
