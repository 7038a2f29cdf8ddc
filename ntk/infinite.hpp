// Infinite-width kernels of fully connected networks: the NNGP kernel K and the NTK Θ, in closed
// form or by Gauss–Hermite quadrature, following neural-tangents' stax semantics: every layer maps
// a kernel state (nngp, ntk) to a new one.
//
//   input      nngp = x·x′/d,  ntk = 0                          (d = number of input features)
//   Dense, NTK parameterization (z = σ_w/√n W h + σ_b b, W, b ~ N(0, 1)):
//              nngp′ = σ_w²·nngp + σ_b²,  ntk′ = σ_w²·ntk + nngp′
//   Dense, standard parameterization (z = W h + b, W ~ N(0, σ_w²/n), b ~ N(0, σ_b²)), n the
//   width feeding the layer (finite: this NTK grows with it):
//              nngp′ = σ_w²·nngp + σ_b²,  ntk′ = σ_w²·ntk + n·nngp + [bias]
//   activation φ, with (u, v) ~ N(0, [[q1, c], [c, q2]]), q = nngp(x, x), c = nngp(x, x′):
//              nngp′ = E[φ(u) φ(v)],  ntk′ = ntk · E[φ′(u) φ′(v)]
//
// So stax.serial(Dense(σ_w, σ_b), φ, ..., Dense(σ_w, σ_b)) with L activations is
// `infinite_width_kernel(x1, x2, {.depth = L, .activation = φ, .sw2 = σ_w², .sb2 = σ_b²}, kind)`, the
// limit of nn::MLP{hidden = {n, ..., n}, output_dim = 1, parameterization = ntk, sw2 = σ_w²,
// sb2 = σ_b²} as n → ∞ (mlp_config below builds that net).
//
// relu, erf and identity have closed forms (arc-cosine kernel; Williams 1997 for erf); every other
// activation — tanh, sigmoid, sin, or any elementwise function on autodiff::Var — goes through a
// 2-D quadrature of the Gaussian expectations (trapezoidal or Gauss–Hermite rule, n² points per
// kernel entry) with φ′ from the autodiff forward mode. docs/kernels.md has the formulas and the
// measured accuracy of the quadrature.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/activation.hpp"
#include "nn/dense.hpp"
#include "nn/mlp.hpp"

namespace ntk {

using autodiff::Tensor;

enum class KernelKind { nngp, ntk };
std::string to_string(KernelKind kind);
KernelKind parse_kernel_kind(const std::string& name);  // "nngp" or "ntk"

// The state a layer maps to a new state: kernels between the rows of X1 and X2 at one depth.
struct Kernel {
  Tensor nngp;  // (N1, N2): the covariance of the pre-activations (or outputs) at x and x′
  Tensor ntk;   // (N1, N2), or empty when only the NNGP is tracked
  Tensor var1;  // (N1): nngp(x, x) for the rows of X1 — what activations need
  Tensor var2;  // (N2): nngp(x′, x′) for the rows of X2
  bool same_inputs = false;  // X2 is X1: both kernels symmetric, var2 == var1 (half the work)
  bool track_ntk = true;     // false: only the NNGP is computed (ntk stays empty)
  std::size_t width = 0;     // features of the current representation; 0 = infinite / unknown
};

// The input layer: nngp = X1 X2ᵀ/d, ntk = 0. X1 (N1, d), X2 (N2, d), finite.
Kernel input_kernel(const Tensor& x1, const Tensor& x2, bool track_ntk = true);
Kernel input_kernel(const Tensor& x, bool track_ntk = true);  // X2 = X1

struct DenseLayer {
  double sw2 = 1.0;  // σ_w²
  double sb2 = 0.0;  // σ_b² (must be 0 without a bias)
  bool bias = true;
  nn::Parameterization parameterization = nn::Parameterization::ntk;
  std::size_t width = 0;  // output features; only a following standard-parameterization layer needs it
};

enum class ActivationMethod { automatic, closed_form, quadrature };  // automatic: closed form if known
std::string to_string(ActivationMethod method);
ActivationMethod parse_activation_method(const std::string& name);  // "auto", "closed", "quadrature"

// The 1-D rule behind the 2-D Gaussian expectations (see GaussianRule below). The trapezoidal
// rule is the default: for activations analytic in a strip (tanh, sigmoid) its error falls like
// exp(-c·n) while Gauss–Hermite's falls like exp(-c·√n) (docs/kernels.md has the measurements).
enum class QuadratureRule { trapezoid, gauss_hermite };
std::string to_string(QuadratureRule rule);
QuadratureRule parse_quadrature_rule(const std::string& name);  // "trapezoid", "gauss-hermite"

// Points per dimension (n² per kernel entry) when none are given: 1 + ⌈44.5·√q_max⌉, at least 32
// and at most kMaxQuadratureNodes, q_max the largest pre-activation variance of the layer. That is
// 64 at q_max = 2 and keeps the node spacing in u = √q·z at 0.34, where the trapezoidal rule is
// within ~1e-8 for tanh (the hardest built-in: poles at ±iπ/2) and far below for sigmoid, erf, sin.
inline constexpr std::size_t kMaxQuadratureNodes = 400;
std::size_t automatic_quadrature_nodes(double max_variance);

using ElementwiseFn = std::function<autodiff::Var(const autodiff::Var&)>;

struct ActivationLayer {
  nn::Activation activation = nn::Activation::relu;
  ElementwiseFn custom{};  // when set, used instead of `activation` (always by quadrature)
  std::string custom_name = "custom";
  ActivationMethod method = ActivationMethod::automatic;
  QuadratureRule rule = QuadratureRule::trapezoid;
  std::size_t nodes = 0;  // quadrature nodes per dimension; 0 = automatic_quadrature_nodes
  std::string name() const;
  bool has_closed_form() const;  // relu, erf, identity
};

using Layer = std::variant<DenseLayer, ActivationLayer>;

// One layer / a stack of layers applied to a kernel state.
Kernel dense(Kernel k, const DenseLayer& layer);
Kernel activation(Kernel k, const ActivationLayer& layer);
Kernel apply(Kernel k, const Layer& layer);
Kernel serial(Kernel k, const std::vector<Layer>& layers);

// A fully connected net with `depth` hidden layers and a scalar readout:
// Dense, φ, Dense, φ, ..., Dense(1) — `depth` activations, depth + 1 Dense layers.
struct InfiniteMlp {
  std::size_t depth = 1;
  nn::Activation activation = nn::Activation::relu;
  double sw2 = 1.0;
  double sb2 = 0.0;
  bool bias = true;
  nn::Parameterization parameterization = nn::Parameterization::ntk;
  std::size_t width = 0;  // hidden width; needed (and used) only by the standard parameterization
  ActivationMethod method = ActivationMethod::automatic;
  QuadratureRule quadrature_rule = QuadratureRule::trapezoid;
  std::size_t quadrature_nodes = 0;  // 0 = automatic_quadrature_nodes
  std::string describe() const;
};

std::vector<Layer> mlp_layers(const InfiniteMlp& mlp);

// Both kernels of the net's output between the rows of X1 and X2.
Kernel infinite_width_kernels(const Tensor& x1, const Tensor& x2, const InfiniteMlp& mlp);
Kernel infinite_width_kernels(const Tensor& x, const InfiniteMlp& mlp);
// One of them, (N1, N2).
Tensor infinite_width_kernel(const Tensor& x1, const Tensor& x2, const InfiniteMlp& mlp, KernelKind kind);
Tensor infinite_width_kernel(const Tensor& x, const InfiniteMlp& mlp, KernelKind kind);

// Rows of an infinite-width kernel computed apart: block(begin, end) holds exactly the doubles that
// infinite_width_kernel(x, mlp, kind) — or (x1, x2, mlp, kind) — gives in rows [begin, end), and
// only those rows are ever in memory.
//
// Why: a kernel too large for one process's memory (60,000 points: 28.8 GB) can then be computed
// and written piece by piece, by one process or by MPI ranks (`mpirun ntk-kernel`, distributed/).
// What depends on single points — their variances through the layers, the quadrature rule and
// every point's tables or series coefficients, the automatic node count and the series' degree
// over all points — is prepared once here from all the points, by the whole call's own code; a
// block then runs the whole call's passes over a window of rows, in which every entry comes from
// its two points by the same arithmetic, in a loop over its row that starts and ends where the
// whole matrix's does (ntk/kernel_matrix.hpp, Window). Memory: the points and, per layer, their
// tables (O(N) each), plus two block-sized matrices while a block is computed.
//
// A symmetric kernel K(X, X) is computed, like the whole call does, in its upper triangle: block
// returns the rows from the diagonal on, entry (i, j) at (i − begin, j − begin) for j >= begin,
// the block's own square mirrored; the entries left of it are those of earlier rows' columns.
class KernelRows {
 public:
  KernelRows(Tensor x1, Tensor x2, const InfiniteMlp& mlp, KernelKind kind);  // K(X1, X2)
  KernelRows(Tensor x, const InfiniteMlp& mlp, KernelKind kind);              // K(X, X), symmetric
  ~KernelRows();
  KernelRows(KernelRows&&) noexcept;
  KernelRows& operator=(KernelRows&&) noexcept;

  std::size_t rows() const;
  std::size_t columns() const;
  bool symmetric() const;
  // Rows [begin, end): (end − begin, columns() − first), first = begin when symmetric, else 0.
  Tensor block(std::size_t begin, std::size_t end) const;
  // Blocks whose rows start at multiples of this (or end at rows()) share no work: the input
  // layer's Gram tiles (kernel_matrix.hpp) for points of more than 64 features, else 1.
  std::size_t row_alignment() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  void prepare(const InfiniteMlp& mlp, KernelKind kind, bool symmetric);
};

// The finite nn::MLP (hidden width `width`) whose kernels at initialization tend to these: NTK
// parameterization with the same sw2 and sb2; the standard one uses LeCun-normal init, whose
// biases start at 0, so it needs sb2 = 0.
nn::MLPConfig mlp_config(const InfiniteMlp& mlp, std::size_t input_dim, std::size_t width);

// Progress of long kernel passes, for command-line tools' progress bars: `report(fraction)` is
// called after each block of rows of a pass that is worth it (~0.1 s and up: the closed-form
// pass, each quadrature layer, the 2-D rule), with the fraction of that pass done, from the
// worker that finished the block, one call at a time. An empty function turns it off (default).
void set_kernel_progress(std::function<void(double)> report);

// A rule for E[f(z)], z ~ N(0, 1): Σ_k w_k f(z_k), ascending nodes, weights summing to 1.
struct GaussianRule {
  std::vector<double> nodes;
  std::vector<double> weights;
};
// Probabilists' Gauss–Hermite, exact for polynomials of degree <= 2n - 1: Golub–Welsch (eigenvalues
// of the Jacobi matrix, by symmetric_eigen), polished by Newton steps on He_n; weights from the
// normalized three-term recurrence, so the tiny ones keep full relative accuracy. n <= 400.
GaussianRule gauss_hermite(std::size_t n);
// The trapezoidal rule on n equispaced nodes in [-half_width, half_width] with weights
// h·exp(-z²/2)/√(2π), normalized to sum to 1 (truncation at 7.5: mass 6e-14 left out).
GaussianRule gaussian_trapezoid(std::size_t n, double half_width = 7.5);
GaussianRule gaussian_rule(QuadratureRule rule, std::size_t n);

}  // namespace ntk
