#include "ntk/closed_forms.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <numbers>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "ntk/kernel_matrix.hpp"

namespace ntk::detail {

namespace {

constexpr double kPi = std::numbers::pi;

struct Run {
  const std::vector<Stage>* stages;
  Affine post;
  bool ntk_zero;     // Θ is 0 on entry (the input kernel): not read
  std::size_t col0;  // the global column of a row array's entry 0 (a window's first column)
};

constexpr double kInv2Pi = 1.0 / (2.0 * kPi);

// One entry (i, j) through one stage: (k, t) = (K, Θ) in, out; `post` too after the last stage.
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

// Stage `s` over global row i, columns [begin, end) of the row arrays K and T (T may be null), whose
// entry j is global column run.col0 + j. Stages go
// one after another over a row, which stays in cache, so that the columns of a stage are
// independent work for the processor (through all stages at once, each entry is one long chain).
void stage_row_scalar(const Run& run, std::size_t s, std::size_t i, double* K, double* T, std::size_t begin,
                      std::size_t end) {
  const Stage& st = (*run.stages)[s];
  const bool read_t = T && !(s == 0 && run.ntk_zero), last = s + 1 == run.stages->size();
  for (std::size_t j = begin; j < end; ++j) {
    double k = K[j], t = read_t ? T[j] : 0.0;
    stage_entry(st, i, run.col0 + j, k, t);
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
  const double* r2 = st.r2.data() + run.col0;
  const double* s2 = st.s2.data() + run.col0;
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

}  // namespace

void prepare_closed_form(Kernel& k, std::vector<Stage>& stages, const Affine& post) {
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
    for (std::size_t i = 0; i < k.var1.size(); ++i) k.var1.flat(i) = diagonal(k.var1.flat(i));
    for (std::size_t j = 0; j < k.var2.size(); ++j) k.var2.flat(j) = diagonal(k.var2.flat(j));
  }
  affine_variances(k, post);
}

void closed_form_entries(const Window& w, const std::vector<Stage>& stages, const Affine& post, bool ntk_zero,
                         bool ntk_into_nngp) {
  const std::size_t n1 = w.rows, n2 = w.cols;
  const Run run{&stages, post, ntk_zero, w.col0};
  void (*row_fn)(const Run&, std::size_t, double*, double*, std::size_t, std::size_t) = closed_form_row_scalar;
#ifdef NTK_HAVE_AVX2
  if (use_avx2()) row_fn = closed_form_row_avx2;
#endif
  double* K = w.nngp;
  double* T = w.ntk;
  if (ntk_into_nngp) {  // Θ's row in a buffer per thread, then over K's row: the NTK matrix is never touched
    parallel_for(n1, 8.0 * static_cast<double>(n2 * stages.size()), [&](std::size_t begin, std::size_t end) {
      std::vector<double> row(n2);
      for (std::size_t i = begin; i < end; ++i) {
        const std::size_t first = w.first(i);
        row_fn(run, w.row0 + i, K + i * n2, row.data(), first, n2);
        std::copy(row.begin() + static_cast<std::ptrdiff_t>(first), row.end(), K + i * n2 + first);
      }
    });
    return;
  }
  parallel_for(n1, 8.0 * static_cast<double>(n2 * stages.size()), [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) row_fn(run, w.row0 + i, K + i * n2, T ? T + i * n2 : nullptr, w.first(i), n2);
  });
}

void closed_form_run(Kernel& k, std::vector<Stage>& stages, const Affine& post, bool ntk_zero, bool ntk_into_nngp) {
  prepare_closed_form(k, stages, post);
  closed_form_entries(whole(k), stages, post, ntk_zero, ntk_into_nngp);
}

}  // namespace ntk::detail
