#include "ntk/infinite.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <exception>
#include <iterator>
#include <mutex>
#include <numbers>
#include <thread>
#include <utility>

#include <fmt/format.h>

#ifdef __linux__
#include <sched.h>
#include <sys/mman.h>
#endif
#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "autodiff/ops.hpp"
#include "autodiff/transforms.hpp"
#include "ntk/linalg.hpp"

namespace ntk {

namespace ad = autodiff;
using ad::Var;

std::string to_string(KernelKind kind) { return kind == KernelKind::nngp ? "nngp" : "ntk"; }

KernelKind parse_kernel_kind(const std::string& name) {
  if (name == "nngp") return KernelKind::nngp;
  if (name == "ntk") return KernelKind::ntk;
  throw ad::Error(fmt::format("unknown kernel kind '{}' (expected nngp or ntk)", name));
}

std::string to_string(QuadratureRule rule) {
  return rule == QuadratureRule::trapezoid ? "trapezoid" : "gauss-hermite";
}

QuadratureRule parse_quadrature_rule(const std::string& name) {
  if (name == "trapezoid") return QuadratureRule::trapezoid;
  if (name == "gauss-hermite") return QuadratureRule::gauss_hermite;
  throw ad::Error(fmt::format("unknown quadrature rule '{}' (expected trapezoid or gauss-hermite)", name));
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

namespace {

constexpr double kPi = std::numbers::pi;

// Correlations within 1e-15 (a few ulps) of ±1 are taken as ±1: the arc-cosine's slope is
// infinite there, so an ulp of rounding in c/√(q1 q2) would move θ by 1e-8 and relu's NTK factor
// (π - θ)/2π by 5e-9 relative. With the snap, duplicate points and the diagonal of K(X, X) get
// exactly their limits.
constexpr double kSnap = 1.0 - 1e-15;
inline double snap(double cosine) {
  if (cosine >= kSnap) return 1.0;
  if (cosine <= -kSnap) return -1.0;
  return cosine;
}

// Threads for kernel passes: NTK_THREADS if set (>= 1), else the CPUs this process may run on
// (its affinity mask, not the machine's count), at most 16.
std::size_t available_threads() {
  static const std::size_t threads = [] {
    if (const char* env = std::getenv("NTK_THREADS")) {
      const long n = std::strtol(env, nullptr, 10);
      if (n >= 1) return static_cast<std::size_t>(std::min(n, 256L));
    }
    std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
#endif
    return std::min<std::size_t>(cpus, 16);
  }();
  return threads;
}

// Runs f(begin, end) over [0, count) split across threads; `cost` is the work of one index in
// arbitrary units (about 1 per transcendental function call), so small problems stay on one thread.
template <class F>
void parallel_for(std::size_t count, double cost, F f) {
  const double total = cost * static_cast<double>(count);
  const std::size_t threads =
      std::min<std::size_t>({available_threads(), count, static_cast<std::size_t>(total / 2e6) + 1});
  if (threads <= 1) {
    if (count > 0) f(std::size_t{0}, count);
    return;
  }
  // Interleaved blocks balance the triangular loops of symmetric kernels.
  const std::size_t block = std::max<std::size_t>(1, count / (threads * 8));
  std::exception_ptr failure;
  std::mutex mutex;
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (std::size_t begin = t * block; begin < count; begin += threads * block) f(begin, std::min(count, begin + block));
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

void check_matrix(const char* what, const Tensor& x) {
  if (x.dim() != 2)
    throw ad::Error(fmt::format("{}: inputs must be a matrix (N, d) with one point per row, got shape {}", what,
                                ad::to_string(x.shape())));
  if (x.shape()[1] == 0) throw ad::Error(fmt::format("{}: inputs have no features (shape {})", what, ad::to_string(x.shape())));
  if (!ad::all_finite(x)) throw ad::Error(fmt::format("{}: inputs have non-finite entries", what));
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
  for (const Tensor* var : {&k.var1, &k.var2})
    for (std::size_t i = 0; i < var->size(); ++i)
      if (!std::isfinite(var->flat(i)) || var->flat(i) < 0.0)
        throw ad::Error(fmt::format("{}: kernel variance {} at index {} (must be finite and >= 0)", what, var->flat(i), i));
}

void check_variance(const char* what, const char* name, double value) {
  if (!std::isfinite(value) || value < 0.0)
    throw ad::Error(fmt::format("{}: {} must be a finite variance >= 0, got {}", what, name, value));
}

// Copies the upper triangle of a square row-major matrix onto its lower one, in cache blocks.
void mirror_upper(double* a, std::size_t n) {
  constexpr std::size_t b = 64;
  for (std::size_t i0 = 0; i0 < n; i0 += b)
    for (std::size_t j0 = 0; j0 <= i0; j0 += b)
      for (std::size_t i = i0; i < std::min(n, i0 + b); ++i)
        for (std::size_t j = j0; j < std::min(i, j0 + b); ++j) a[i * n + j] = a[j * n + i];
}

// The columns j a row i needs: all, or j >= i for symmetric kernels.
std::size_t first_column(const Kernel& k, std::size_t i) { return k.same_inputs ? i : 0; }

// An uninitialized (n1, n2) matrix. Kernels are large and written once: on Linux their memory is
// asked for in huge pages before the first touch (page faults of 4 KiB pages cost more than the
// arithmetic of a layer).
Tensor large_matrix(std::size_t n1, std::size_t n2) {
  Tensor t(ad::Array::from_shape({n1, n2}));  // xtensor leaves doubles uninitialized
#ifdef __linux__
  constexpr std::uintptr_t huge = std::uintptr_t{1} << 21;
  const auto first = reinterpret_cast<std::uintptr_t>(t.data());
  const std::uintptr_t begin = (first + huge - 1) & ~(huge - 1), end = (first + t.size() * sizeof(double)) & ~(huge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only: errors are moot
#endif
  return t;
}

// y += s·x, compiled twice (AVX2 + FMA, and the baseline) and picked at load time.
__attribute__((target_clones("arch=haswell", "default"))) void axpy(double s, const double* x, double* y, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) y[j] += s * x[j];
}

// c = α A Bᵀ (upper triangle only if `upper`) for few features (d <= kSmallGram), in the kernel
// threads: OpenBLAS would be no faster there, and its worker threads keep spinning for a while
// after a call, taking CPU from the passes that follow.
constexpr std::size_t kSmallGram = 64;
void small_gram(const Tensor& a, const Tensor& b, double alpha, Tensor& c, bool upper) {
  const std::size_t n1 = a.shape()[0], n2 = b.shape()[0], d = a.shape()[1];
  std::vector<double> bt(d * n2);  // Bᵀ: feature-major, so the inner loop runs along a row of c
  for (std::size_t j = 0; j < n2; ++j)
    for (std::size_t f = 0; f < d; ++f) bt[f * n2 + j] = b.flat(j * d + f);
  double* out = c.data();
  parallel_for(n1, 0.25 * static_cast<double>(d * n2), [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      double* row = out + i * n2;
      const std::size_t first = upper ? i : 0;
      std::fill(row + first, row + n2, 0.0);
      for (std::size_t f = 0; f < d; ++f) axpy(alpha * a.flat(i * d + f), bt.data() + f * n2 + first, row + first, n2 - first);
    }
  });
}

void gemm_transposed(const Tensor& a, const Tensor& b, double alpha, Tensor& c) {  // c = α A Bᵀ
  if (a.shape()[1] <= kSmallGram) return small_gram(a, b, alpha, c, false);
  const std::size_t m = a.shape()[0], n = b.shape()[0], k = a.shape()[1];
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a.data(), static_cast<int>(k), b.data(), static_cast<int>(k), 0.0, c.data(), static_cast<int>(n));
}

void syrk_upper(const Tensor& a, double alpha, Tensor& c) {  // upper triangle of c = α A Aᵀ
  if (a.shape()[1] <= kSmallGram) return small_gram(a, a, alpha, c, true);
  const std::size_t n = a.shape()[0], k = a.shape()[1];
  if (n == 0) return;
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(k), alpha, a.data(),
              static_cast<int>(k), 0.0, c.data(), static_cast<int>(n));
}

// ---- affine maps of the kernel state: what Dense layers do ------------------------------------

// (K, Θ, q) ↦ (αK + β, γΘ + δK + ε, αq + β). Dense layers are such maps, and so are their
// compositions: serial() fuses them into the passes of the activations around them.
struct Affine {
  double alpha = 1.0, beta = 0.0, gamma = 1.0, delta = 0.0, epsilon = 0.0;
  bool is_identity() const { return alpha == 1.0 && beta == 0.0 && gamma == 1.0 && delta == 0.0 && epsilon == 0.0; }
};

Affine then(const Affine& f, const Affine& g) {  // g ∘ f
  return {g.alpha * f.alpha, g.alpha * f.beta + g.beta, g.gamma * f.gamma, g.gamma * f.delta + g.delta * f.alpha,
          g.gamma * f.epsilon + g.delta * f.beta + g.epsilon};
}

// Checks a Dense layer against the state it is applied to, and returns its map.
Affine dense_affine(const DenseLayer& layer, std::size_t fan_in) {
  check_variance("dense", "sw2 (σ_w²)", layer.sw2);
  check_variance("dense", "sb2 (σ_b²)", layer.sb2);
  if (!layer.bias && layer.sb2 != 0.0)
    throw ad::Error(fmt::format("dense: sb2 = {} given for a layer without bias", layer.sb2));
  if (layer.parameterization == nn::Parameterization::ntk)  // Θ′ = σ_w²Θ + K′ = σ_w²Θ + σ_w²K + σ_b²
    return {layer.sw2, layer.sb2, layer.sw2, layer.sw2, layer.sb2};
  if (fan_in == 0)
    throw ad::Error("dense: the standard parameterization needs the width feeding the layer "
                    "(set DenseLayer::width of the layer before, or InfiniteMlp::width)");
  // Θ′ = σ_w²Θ + n·K + 1 (∂z/∂W_ij = h_j sums to n·K; ∂z/∂b = 1)
  return {layer.sw2, layer.sb2, layer.sw2, static_cast<double>(fan_in), layer.bias ? 1.0 : 0.0};
}

void affine_variances(Kernel& k, const Affine& a) {
  for (std::size_t i = 0; i < k.var1.size(); ++i) k.var1.flat(i) = a.alpha * k.var1.flat(i) + a.beta;
  for (std::size_t j = 0; j < k.var2.size(); ++j) k.var2.flat(j) = a.alpha * k.var2.flat(j) + a.beta;
}

void apply_affine(Kernel& k, const Affine& a) {
  if (a.is_identity()) return;
  double* K = k.nngp.data();
  double* T = k.track_ntk ? k.ntk.data() : nullptr;
  const std::size_t size = k.nngp.size();
  for (std::size_t i = 0; i < size; ++i) {
    if (T) T[i] = a.gamma * T[i] + a.delta * K[i] + a.epsilon;
    K[i] = a.alpha * K[i] + a.beta;
  }
  affine_variances(k, a);
}

// ---- closed forms -------------------------------------------------------------------------------
// A run of closed-form activations (relu, erf) with the Dense maps between them is computed in ONE
// pass over (K, Θ): each entry goes through every stage in registers, so memory is read and
// written once whatever the depth. A stage is the Dense map before an activation (`pre`) and the
// activation; `post` maps the result of the last one. Row and column factors per stage come from
// the pre-activation variances, computed beforehand (O(N) per stage). AVX2 versions (chosen at
// run time) have a vectorized arc-cosine; the scalar ones use libm.

struct Stage {
  bool relu = true;  // else erf
  Affine pre;
  // relu: s = √q, r = 1/√q (0 for q = 0: then u ≡ 0 and c = 0 too, the angle is moot and r = 0
  // gives θ = π/2); erf: s = 1/√(1 + 2q), r unused.
  std::vector<double> s1, r1, s2, r2;
};

struct Run {
  const std::vector<Stage>* stages;
  Affine post;
  bool ntk_zero;  // Θ is 0 on entry (the input kernel): not read
};

constexpr double kInv2Pi = 1.0 / (2.0 * kPi);

// One entry through one stage: (k, t) = (K, Θ) in, out; `post` too after the last stage.
inline void stage_entry(const Stage& st, std::size_t i, std::size_t j, double& k, double& t) {
  const double c = st.pre.alpha * k + st.pre.beta;
  t = st.pre.gamma * t + st.pre.delta * k + st.pre.epsilon;
  if (st.relu) {
    const double cosine = snap(c * (st.r1[i] * st.r2[j]));
    const double theta = std::acos(cosine);
    const double sine = std::sqrt(std::max(0.0, 1.0 - cosine * cosine));
    k = (st.s1[i] * st.s2[j]) * kInv2Pi * (sine + (kPi - theta) * cosine);
    t *= (kPi - theta) * kInv2Pi;
  } else {
    const double a = st.s1[i] * st.s2[j];                      // 1/√((1+2q1)(1+2q2))
    const double scaled = std::clamp(2.0 * c * a, -1.0, 1.0);  // |.| < 1 for valid states
    k = (2.0 / kPi) * std::asin(scaled);
    // (4/π) / √((1+2q1)(1+2q2) - 4c²) = (4/π) a / √(1 - scaled²)
    t *= (4.0 / kPi) * a / std::sqrt(std::max(1e-300, 1.0 - scaled * scaled));
  }
}

inline void post_entry(const Affine& p, double& k, double& t) {
  t = p.gamma * t + p.delta * k + p.epsilon;
  k = p.alpha * k + p.beta;
}

// Stage `s` over row i, columns [begin, end) of the row arrays K and T (T may be null). Stages go
// one after another over a row, which stays in cache, so that the columns of a stage are
// independent work for the processor (through all stages at once, each entry is one long chain).
void stage_row_scalar(const Run& run, std::size_t s, std::size_t i, double* K, double* T, std::size_t begin,
                      std::size_t end) {
  const Stage& st = (*run.stages)[s];
  const bool read_t = T && !(s == 0 && run.ntk_zero), last = s + 1 == run.stages->size();
  for (std::size_t j = begin; j < end; ++j) {
    double k = K[j], t = read_t ? T[j] : 0.0;
    stage_entry(st, i, j, k, t);
    if (last) post_entry(run.post, k, t);
    K[j] = k;
    if (T) T[j] = t;
  }
}

void closed_form_row_scalar(const Run& run, std::size_t i, double* K, double* T, std::size_t begin, std::size_t end) {
  for (std::size_t s = 0; s < run.stages->size(); ++s) stage_row_scalar(run, s, i, K, T, begin, end);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define NTK_HAVE_AVX2 1
#define NTK_AVX2 __attribute__((target("avx2,fma")))

// asin(y) = y + y·z·P(z), z = y², on 0 <= y <= 1/2: P is a degree-11 Chebyshev fit (mpmath's
// chebyfit) with |error| < 2.4e-16 against 1/6 at z = 0, well under an ulp of asin.
constexpr double kAsinP[] = {0.028169218060881414, -0.010749050339697808, 0.01603551434914882,
                             0.0078029494773533175, 0.011875494382636922, 0.013929652902326633,
                             0.017355259955786323, 0.02237204763174451,  0.03038194736709848,
                             0.044642857103423646, 0.07500000000020764,  0.1666666666666665};

// For |x| <= 1: `small` marks |x| <= 1/2, where as = asin|x|; elsewhere as = asin √((1-|x|)/2),
// so that asin|x| = π/2 - 2·as and acos|x| = 2·as.
NTK_AVX2 inline void asin_core(__m256d x, __m256d& as, __m256d& small) {
  const __m256d a = _mm256_andnot_pd(_mm256_set1_pd(-0.0), x);
  small = _mm256_cmp_pd(a, _mm256_set1_pd(0.5), _CMP_LE_OQ);
  const __m256d half_rest = _mm256_mul_pd(_mm256_sub_pd(_mm256_set1_pd(1.0), a), _mm256_set1_pd(0.5));
  const __m256d t = _mm256_sqrt_pd(_mm256_max_pd(_mm256_setzero_pd(), half_rest));
  const __m256d y = _mm256_blendv_pd(t, a, small);
  const __m256d z = _mm256_mul_pd(y, y);
  __m256d p = _mm256_set1_pd(kAsinP[0]);
  for (std::size_t i = 1; i < std::size(kAsinP); ++i) p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(kAsinP[i]));
  as = _mm256_fmadd_pd(_mm256_mul_pd(y, z), p, y);
}

NTK_AVX2 inline __m256d acos_pd(__m256d x) {
  __m256d as, small;
  asin_core(x, as, small);
  const __m256d half_pi = _mm256_set1_pd(kPi / 2);
  const __m256d r = _mm256_blendv_pd(_mm256_add_pd(as, as), _mm256_sub_pd(half_pi, as), small);  // acos|x|
  const __m256d negative = _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LT_OQ);
  return _mm256_blendv_pd(r, _mm256_sub_pd(_mm256_set1_pd(kPi), r), negative);
}

NTK_AVX2 inline __m256d asin_pd(__m256d x) {
  __m256d as, small;
  asin_core(x, as, small);
  const __m256d r = _mm256_blendv_pd(_mm256_sub_pd(_mm256_set1_pd(kPi / 2), _mm256_add_pd(as, as)), as, small);
  return _mm256_or_pd(r, _mm256_and_pd(x, _mm256_set1_pd(-0.0)));  // asin(-x) = -asin(x)
}

NTK_AVX2 void stage_row_avx2(const Run& run, std::size_t s, std::size_t i, double* K, double* T, std::size_t begin,
                             std::size_t end) {
  const Stage& st = (*run.stages)[s];
  const bool read_t = T && !(s == 0 && run.ntk_zero), last = s + 1 == run.stages->size();
  const __m256d one = _mm256_set1_pd(1.0), minus_one = _mm256_set1_pd(-1.0), pi = _mm256_set1_pd(kPi);
  const __m256d sign_bit = _mm256_set1_pd(-0.0), snap_at = _mm256_set1_pd(kSnap), tiny = _mm256_set1_pd(1e-300);
  const __m256d inv_2pi = _mm256_set1_pd(kInv2Pi), two = _mm256_set1_pd(2.0);
  const __m256d two_over_pi = _mm256_set1_pd(2.0 / kPi), four_over_pi = _mm256_set1_pd(4.0 / kPi);
  const __m256d pre_alpha = _mm256_set1_pd(st.pre.alpha), pre_beta = _mm256_set1_pd(st.pre.beta);
  const __m256d pre_gamma = _mm256_set1_pd(st.pre.gamma), pre_delta = _mm256_set1_pd(st.pre.delta);
  const __m256d pre_epsilon = _mm256_set1_pd(st.pre.epsilon);
  const Affine& p = run.post;
  const __m256d post_alpha = _mm256_set1_pd(p.alpha), post_beta = _mm256_set1_pd(p.beta);
  const __m256d post_gamma = _mm256_set1_pd(p.gamma), post_delta = _mm256_set1_pd(p.delta);
  const __m256d post_epsilon = _mm256_set1_pd(p.epsilon);
  const __m256d r1 = _mm256_set1_pd(st.r1[i]), s1 = _mm256_set1_pd(st.s1[i]);
  const __m256d s1_2pi = _mm256_set1_pd(st.s1[i] * kInv2Pi);
  const double* r2 = st.r2.data();
  const double* s2 = st.s2.data();
  std::size_t j = begin;
  for (; j + 4 <= end; j += 4) {
    const __m256d k_in = _mm256_loadu_pd(K + j);
    const __m256d t_in = read_t ? _mm256_loadu_pd(T + j) : _mm256_setzero_pd();
    const __m256d c = _mm256_fmadd_pd(pre_alpha, k_in, pre_beta);
    __m256d t = _mm256_fmadd_pd(pre_gamma, t_in, _mm256_fmadd_pd(pre_delta, k_in, pre_epsilon));
    __m256d k;
    if (st.relu) {
      const __m256d raw = _mm256_mul_pd(c, _mm256_mul_pd(r1, _mm256_loadu_pd(r2 + j)));
      const __m256d outside = _mm256_cmp_pd(_mm256_andnot_pd(sign_bit, raw), snap_at, _CMP_GE_OQ);  // see snap()
      const __m256d cosine = _mm256_blendv_pd(raw, _mm256_or_pd(_mm256_and_pd(raw, sign_bit), one), outside);
      const __m256d rest = _mm256_sub_pd(pi, acos_pd(cosine));  // π - θ
      const __m256d sine = _mm256_sqrt_pd(_mm256_max_pd(_mm256_setzero_pd(), _mm256_fnmadd_pd(cosine, cosine, one)));
      k = _mm256_mul_pd(_mm256_mul_pd(s1_2pi, _mm256_loadu_pd(s2 + j)), _mm256_fmadd_pd(rest, cosine, sine));
      t = _mm256_mul_pd(t, _mm256_mul_pd(rest, inv_2pi));
    } else {
      const __m256d a = _mm256_mul_pd(s1, _mm256_loadu_pd(s2 + j));
      const __m256d scaled = _mm256_max_pd(minus_one, _mm256_min_pd(one, _mm256_mul_pd(_mm256_mul_pd(two, c), a)));
      k = _mm256_mul_pd(two_over_pi, asin_pd(scaled));
      const __m256d root = _mm256_sqrt_pd(_mm256_max_pd(tiny, _mm256_fnmadd_pd(scaled, scaled, one)));
      t = _mm256_mul_pd(t, _mm256_div_pd(_mm256_mul_pd(four_over_pi, a), root));
    }
    if (last) {
      t = _mm256_fmadd_pd(post_gamma, t, _mm256_fmadd_pd(post_delta, k, post_epsilon));
      k = _mm256_fmadd_pd(post_alpha, k, post_beta);
    }
    if (T) _mm256_storeu_pd(T + j, t);
    _mm256_storeu_pd(K + j, k);
  }
  stage_row_scalar(run, s, i, K, T, j, end);
}

NTK_AVX2 void closed_form_row_avx2(const Run& run, std::size_t i, double* K, double* T, std::size_t begin,
                                   std::size_t end) {
  for (std::size_t s = 0; s < run.stages->size(); ++s) stage_row_avx2(run, s, i, K, T, begin, end);
}

// The AVX2 rows when the processor has AVX2 and FMA, unless NTK_NO_AVX2 is set (read at every pass:
// the tests compare both paths).
bool use_avx2() {
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported && std::getenv("NTK_NO_AVX2") == nullptr;
}
#endif

// Runs the stages and `post` over the kernel (upper triangle only for symmetric kernels), and maps
// the variances along.
void closed_form_run(Kernel& k, std::vector<Stage>& stages, const Affine& post, bool ntk_zero) {
  const std::size_t n1 = k.var1.size(), n2 = k.var2.size();
  for (Stage& st : stages) {
    affine_variances(k, st.pre);
    auto factors = [relu = st.relu](const Tensor& var, std::vector<double>& s, std::vector<double>& r) {
      s.resize(var.size());
      r.resize(var.size());
      for (std::size_t i = 0; i < var.size(); ++i) {
        const double q = var.flat(i);
        s[i] = relu ? std::sqrt(q) : 1.0 / std::sqrt(1.0 + 2.0 * q);
        r[i] = relu && q > 0.0 ? 1.0 / s[i] : 0.0;
      }
    };
    factors(k.var1, st.s1, st.r1);
    factors(k.var2, st.s2, st.r2);
    auto diagonal = [relu = st.relu](double q) { return relu ? 0.5 * q : (2.0 / kPi) * std::asin(2.0 * q / (1.0 + 2.0 * q)); };
    for (std::size_t i = 0; i < n1; ++i) k.var1.flat(i) = diagonal(k.var1.flat(i));
    for (std::size_t j = 0; j < n2; ++j) k.var2.flat(j) = diagonal(k.var2.flat(j));
  }
  affine_variances(k, post);
  const Run run{&stages, post, ntk_zero};
  void (*row_fn)(const Run&, std::size_t, double*, double*, std::size_t, std::size_t) = closed_form_row_scalar;
#ifdef NTK_HAVE_AVX2
  if (use_avx2()) row_fn = closed_form_row_avx2;
#endif
  double* K = k.nngp.data();
  double* T = k.track_ntk ? k.ntk.data() : nullptr;
  parallel_for(n1, 8.0 * static_cast<double>(n2 * stages.size()), [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) row_fn(run, i, K + i * n2, T ? T + i * n2 : nullptr, first_column(k, i), n2);
  });
}

// ---- quadrature ---------------------------------------------------------------------------------

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
  const auto [f1, df1] = table(k.var1, slopes);

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

}  // namespace

// ---- kernels ------------------------------------------------------------------------------------

namespace {

// The input layer. With `lazy_zero_ntk` the NTK matrix is allocated but not zeroed: the caller
// passes ntk_zero = true to the first pass, which then does not read it.
Kernel make_input_kernel(const Tensor& x1, const Tensor& x2, bool same, bool track_ntk, bool lazy_zero_ntk) {
  check_matrix("input_kernel (x1)", x1);
  check_matrix("input_kernel (x2)", x2);
  if (x1.shape()[1] != x2.shape()[1])
    throw ad::Error(fmt::format("input_kernel: x1 has {} features per row and x2 has {} (shapes {} and {})",
                                x1.shape()[1], x2.shape()[1], ad::to_string(x1.shape()), ad::to_string(x2.shape())));
  const std::size_t n1 = x1.shape()[0], n2 = x2.shape()[0], d = x1.shape()[1];
  const double inv_d = 1.0 / static_cast<double>(d);
  Kernel k;
  k.same_inputs = same;
  k.nngp = large_matrix(n1, n2);
  if (same) {  // the upper triangle by SYRK, then mirrored: exactly symmetric
    syrk_upper(x1, inv_d, k.nngp);
    mirror_upper(k.nngp.data(), n1);
  } else {
    gemm_transposed(x1, x2, inv_d, k.nngp);
  }
  auto squared_norms = [&](const Tensor& x) {
    Tensor v = Tensor::zeros({x.shape()[0]});
    for (std::size_t i = 0; i < x.shape()[0]; ++i) {
      double s = 0.0;
      for (std::size_t f = 0; f < d; ++f) s += x.flat(i * d + f) * x.flat(i * d + f);
      v.flat(i) = s * inv_d;
    }
    return v;
  };
  k.var1 = squared_norms(x1);
  k.var2 = same ? k.var1 : squared_norms(x2);
  if (same)  // the diagonal and the variances agree exactly
    for (std::size_t i = 0; i < n1; ++i) k.nngp.flat(i * n1 + i) = k.var1.flat(i);
  k.track_ntk = track_ntk;
  if (track_ntk) {
    k.ntk = large_matrix(n1, n2);
    if (!lazy_zero_ntk) std::fill(k.ntk.data(), k.ntk.data() + k.ntk.size(), 0.0);
  } else {
    k.ntk = Tensor::zeros({0});
  }
  k.width = d;
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

// Layers applied in order, fused: Dense maps compose (Affine), identity activations vanish, and a
// run of closed-form activations with the maps between them is one pass over memory; only
// quadrature activations get passes of their own. Symmetric kernels are computed in their upper
// triangle and mirrored at the end. `ntk_zero`: Θ is known to be 0 and was never written.
Kernel run_layers(Kernel k, const std::vector<Layer>& layers, bool ntk_zero) {
  check_kernel("serial", k);
  for (const Layer& layer : layers)
    if (const auto* act = std::get_if<ActivationLayer>(&layer)) check_activation(*act);
  std::vector<Stage> stages;
  Affine pending;  // Dense maps since the last stage
  auto flush = [&] {
    if (stages.empty()) {
      if (ntk_zero && k.track_ntk) std::fill(k.ntk.data(), k.ntk.data() + k.ntk.size(), 0.0);
      apply_affine(k, pending);
    } else {
      closed_form_run(k, stages, pending, ntk_zero);
    }
    ntk_zero = false;
    stages.clear();
    pending = Affine{};
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
    quadrature(k, act);
  }
  flush();
  if (k.same_inputs) {
    const std::size_t n = k.var1.size();
    mirror_upper(k.nngp.data(), n);
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
  std::string text = fmt::format("depth {} {} sw2={} sb2={} {} parameterization", depth, nn::to_string(activation), sw2,
                                 sb2, nn::to_string(parameterization));
  if (parameterization == nn::Parameterization::standard) text += fmt::format(" width={}", width);
  if (!bias) text += " no-bias";
  return text;
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
  Kernel k = run_layers(make_input_kernel(x1, x2, &x1 == &x2, ntk, true), layers, true);
  return ntk ? std::move(k.ntk) : std::move(k.nngp);
}

Tensor infinite_width_kernel(const Tensor& x, const InfiniteMlp& mlp, KernelKind kind) {
  const std::vector<Layer> layers = mlp_layers(mlp);
  const bool ntk = kind == KernelKind::ntk;
  Kernel k = run_layers(make_input_kernel(x, x, true, ntk, true), layers, true);
  return ntk ? std::move(k.ntk) : std::move(k.nngp);
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
  config.w_std = std::sqrt(mlp.sw2);
  config.b_std = std::sqrt(mlp.sb2);
  if (mlp.parameterization == nn::Parameterization::standard) {
    if (mlp.sb2 != 0.0)
      throw ad::Error("mlp_config: nn's standard parameterization (LeCun-normal init) starts biases at 0: needs sb2 = 0");
    config.init = nn::Init::lecun_normal;
  }
  return config;
}

// ---- Gauss–Hermite ------------------------------------------------------------------------------

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

}  // namespace ntk
