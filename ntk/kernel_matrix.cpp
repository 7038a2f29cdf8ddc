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

// The window's rows of α A Bᵀ, A the window's rows of X1 and B its columns of X2 (d <= kSmallGram),
// in the kernel threads: OpenBLAS would be no faster there, and its worker threads keep spinning
// for a while after a call, taking CPU from the passes that follow. Row i runs from w.first(i) to
// the end, as in the whole matrix.
void small_gram(const double* a, const double* b, std::size_t d, double alpha, const Window& w) {
  const std::size_t n2 = w.cols;
  std::vector<double> bt(d * n2);  // Bᵀ: feature-major, so the inner loop runs along a row of c
  for (std::size_t j = 0; j < n2; ++j)
    for (std::size_t f = 0; f < d; ++f) bt[f * n2 + j] = b[j * d + f];
  parallel_for(w.rows, 0.25 * static_cast<double>(d * n2), [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      double* row = w.nngp + i * n2;
      const std::size_t first = w.first(i);
      std::fill(row + first, row + n2, 0.0);
      for (std::size_t f = 0; f < d; ++f) axpy(alpha * a[i * d + f], bt.data() + f * n2 + first, row + first, n2 - first);
    }
  });
}

// The window's entries by tiles (see input_gram).
void tiled_gram(const Tensor& x1, const Tensor& x2, double alpha, const Window& w) {
  const std::size_t n1 = x1.shape()[0], n2 = x2.shape()[0], d = x1.shape()[1], t = kGramTile;
  std::vector<std::pair<std::size_t, std::size_t>> tiles;  // (tile row, tile column) touching the window
  for (std::size_t ti = w.row0 / t; ti * t < w.row0 + w.rows; ++ti)
    for (std::size_t tj = w.col0 / t; tj * t < w.col0 + w.cols; ++tj)
      if (!w.symmetric || tj >= ti) tiles.emplace_back(ti, tj);
  // Single-threaded products, whatever the number of kernel threads: a product split over another
  // number of BLAS threads could round differently.
  const autodiff::BlasThreads single_threaded_blas(1);
  parallel_for(tiles.size(), 0.25 * static_cast<double>(t * t * d), [&](std::size_t begin, std::size_t end) {
    std::vector<double> buffer;
    for (std::size_t k = begin; k < end; ++k) {
      const auto [ti, tj] = tiles[k];
      const std::size_t r0 = ti * t, r1 = std::min(n1, r0 + t), c0 = tj * t, c1 = std::min(n2, c0 + t);
      const double* a = x1.data() + r0 * d;
      // A tile inside the window goes straight into it; one across its edge through a buffer, of
      // which the window's entries are copied.
      const bool inside = r0 >= w.row0 && r1 <= w.row0 + w.rows && c0 >= w.col0 && c1 <= w.col0 + w.cols;
      double* c = inside ? w.nngp + (r0 - w.row0) * w.cols + (c0 - w.col0) : nullptr;
      std::size_t ldc = w.cols;
      if (!inside) {
        buffer.assign((r1 - r0) * (c1 - c0), 0.0);
        c = buffer.data();
        ldc = c1 - c0;
      }
      if (w.symmetric && ti == tj) syrk_rows(a, r1 - r0, d, alpha, c, ldc);
      else gemm_rows(a, r1 - r0, x2.data() + c0 * d, c1 - c0, d, alpha, c, ldc);
      if (inside) continue;
      for (std::size_t i = std::max(r0, w.row0); i < std::min(r1, w.row0 + w.rows); ++i) {
        const std::size_t from = std::max({c0, w.col0, w.symmetric ? i : c0}), to = std::min(c1, w.col0 + w.cols);
        for (std::size_t j = from; j < to; ++j) w.nngp[(i - w.row0) * w.cols + (j - w.col0)] = buffer[(i - r0) * ldc + (j - c0)];
      }
    }
  });
}

}  // namespace

Window whole(Kernel& k) {
  Window w;
  w.nngp = k.nngp.data();
  w.ntk = k.track_ntk ? k.ntk.data() : nullptr;
  w.rows = k.nngp.shape()[0];
  w.cols = k.nngp.shape()[1];
  w.symmetric = k.same_inputs;
  return w;
}

void mirror_window(const Window& w, double* a) {
  if (!w.symmetric) return;
  if (w.row0 == 0 && w.col0 == 0 && w.rows == w.cols) return mirror_upper(a, w.rows);
  // Local row i is global row0 + i, at local column row0 + i - col0.
  for (std::size_t i = 0; i < w.rows; ++i)
    for (std::size_t j = 0; j < i; ++j) {
      const std::size_t gi = w.row0 + i, gj = w.row0 + j;
      if (gj < w.col0 || gi >= w.col0 + w.cols) continue;
      a[i * w.cols + (gj - w.col0)] = a[j * w.cols + (gi - w.col0)];
    }
}

void input_gram(const Tensor& x1, const Tensor& x2, double alpha, const Window& w) {
  const std::size_t d = x1.shape()[1];
  if (w.rows == 0 || w.cols == 0) return;
  if (d <= kSmallGram) return small_gram(x1.data() + w.row0 * d, x2.data() + w.col0 * d, d, alpha, w);
  tiled_gram(x1, x2, alpha, w);
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

}  // namespace ntk::detail

namespace ntk {

void set_kernel_progress(std::function<void(double)> report) {
  const std::lock_guard<std::mutex> lock(detail::kernel_progress_mutex());
  detail::kernel_progress_hook() = std::move(report);
}

}  // namespace ntk
