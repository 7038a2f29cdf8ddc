#include "ntk/kernel_matrix.hpp"

#include <cstdint>
#include <cstdlib>

#ifdef __linux__
#include <sched.h>
#endif
#include <cblas.h>

#include "autodiff/huge_pages.hpp"

namespace ntk::detail {

namespace ad = autodiff;

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

std::function<void(double)>& kernel_progress_hook() {
  static std::function<void(double)> hook;
  return hook;
}

std::mutex& kernel_progress_mutex() {
  static std::mutex mutex;
  return mutex;
}

void mirror_upper(double* a, std::size_t n) {
  constexpr std::size_t b = 64;
  for (std::size_t i0 = 0; i0 < n; i0 += b)
    for (std::size_t j0 = 0; j0 <= i0; j0 += b)
      for (std::size_t i = i0; i < std::min(n, i0 + b); ++i)
        for (std::size_t j = j0; j < std::min(i, j0 + b); ++j) a[i * n + j] = a[j * n + i];
}

Tensor large_matrix(std::size_t n1, std::size_t n2) {
  Tensor t = Tensor::empty({n1, n2});
  ad::advise_huge_pages(t.data(), t.size() * sizeof(double));
  return t;
}

namespace {

// y += s·x, compiled twice (AVX2 + FMA, and the baseline) and picked at load time. Not in
// sanitizer builds (NTK_SANITIZE, see docs/reliability.md): the clones' IFUNC resolver runs while
// the dynamic loader relocates, before ThreadSanitizer has initialized, and TSan then aborts every
// program linking ntk at start-up; a sanitizer build is about finding bugs, not speed. (Nor with
// clang, used for the fuzzers: clang 14's target_clones is new and not needed there.)
#if defined(NTK_SANITIZER_BUILD) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__) || defined(__clang__)
#define NTK_MULTIVERSIONED
#else
#define NTK_MULTIVERSIONED __attribute__((target_clones("arch=haswell", "default")))
#endif
NTK_MULTIVERSIONED void axpy(double s, const double* x, double* y, std::size_t n) {
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

}  // namespace

void gemm_transposed(const Tensor& a, const Tensor& b, double alpha, Tensor& c) {  // c = α A Bᵀ
  if (a.shape()[1] <= kSmallGram) return small_gram(a, b, alpha, c, false);
  const std::size_t m = a.shape()[0], n = b.shape()[0], k = a.shape()[1];
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a.data(), static_cast<int>(k), b.data(), static_cast<int>(k), 0.0, c.data(), static_cast<int>(n));
}

void gemm_rows(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double alpha, double* c,
               std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::size_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0);
    return;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
              a, static_cast<int>(k), b, static_cast<int>(k), 0.0, c, static_cast<int>(ldc));
}

void syrk_rows(const double* a, std::size_t m, std::size_t k, double alpha, double* c, std::size_t ldc) {
  if (m == 0) return;
  if (k == 0) {
    for (std::size_t i = 0; i < m; ++i) std::fill(c + i * ldc + i, c + i * ldc + m, 0.0);
    return;
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(m), static_cast<int>(k), alpha, a,
              static_cast<int>(k), 0.0, c, static_cast<int>(ldc));
}

void syrk_upper(const Tensor& a, double alpha, Tensor& c) {  // upper triangle of c = α A Aᵀ
  if (a.shape()[1] <= kSmallGram) return small_gram(a, a, alpha, c, true);
  const std::size_t n = a.shape()[0], k = a.shape()[1];
  if (n == 0) return;
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(k), alpha, a.data(),
              static_cast<int>(k), 0.0, c.data(), static_cast<int>(n));
}

}  // namespace ntk::detail

namespace ntk {

void set_kernel_progress(std::function<void(double)> report) {
  const std::lock_guard<std::mutex> lock(detail::kernel_progress_mutex());
  detail::kernel_progress_hook() = std::move(report);
}

}  // namespace ntk
