// Internals of ntk/infinite.cpp and the passes it runs (closed forms, quadrature): the (N1, N2)
// matrices of a kernel state — their allocation, the Gram products that fill the input layer, the
// triangle of symmetric kernels, the correlations of their entries — and the threads that run
// passes over them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "autodiff/blas_threads.hpp"
#include "ntk/infinite.hpp"

namespace ntk::detail {

// Correlations within 1e-15 (a few ulps) of ±1 are taken as ±1: the arc-cosine's slope is
// infinite there, so an ulp of rounding in c/√(q1 q2) would move θ by 1e-8 and relu's NTK factor
// (π - θ)/2π by 5e-9 relative. With the snap, duplicate points and the diagonal of K(X, X) get
// exactly their limits.
inline constexpr double kSnap = 1.0 - 1e-15;
inline double snap(double cosine) {
  if (cosine >= kSnap) return 1.0;
  if (cosine <= -kSnap) return -1.0;
  return cosine;
}

// Threads for kernel passes: NTK_THREADS if set (>= 1), else the CPUs this process may run on
// (its affinity mask, not the machine's count), at most 16.
std::size_t available_threads();

// The hook set by ntk::set_kernel_progress (empty: none), and its lock.
std::function<void(double)>& kernel_progress_hook();
std::mutex& kernel_progress_mutex();

// Runs f(begin, end) over [0, count) split across threads; `cost` is the work of one index in
// arbitrary units (about 1 per transcendental function call), so small problems stay on one thread.
// While several threads run, OpenBLAS is single-threaded (autodiff/blas_threads.hpp): a BLAS call
// in a pass must not start threads of its own on cores the pass already uses.
template <class F>
void parallel_for(std::size_t count, double cost, F f) {
  const double total = cost * static_cast<double>(count);
  const std::size_t threads =
      std::min<std::size_t>({available_threads(), count, static_cast<std::size_t>(total / 2e6) + 1});
  // With a progress hook, passes worth reporting (> ~0.1 s) go in blocks and report each one.
  const bool report = total > 1e7 && static_cast<bool>(kernel_progress_hook());
  std::size_t done = 0;
  auto run = [&](std::size_t begin, std::size_t end) {
    f(begin, end);
    if (!report) return;
    const std::lock_guard<std::mutex> lock(kernel_progress_mutex());
    done += end - begin;
    kernel_progress_hook()(static_cast<double>(done) / static_cast<double>(count));
  };
  if (threads <= 1) {
    const std::size_t step = report ? std::max<std::size_t>(1, count / 64) : count;
    for (std::size_t begin = 0; begin < count; begin += step) run(begin, std::min(count, begin + step));
    return;
  }
  // Interleaved blocks balance the triangular loops of symmetric kernels.
  const std::size_t block = std::max<std::size_t>(1, count / (threads * 8));
  const autodiff::BlasThreads single_threaded_blas(1);
  std::exception_ptr failure;
  std::mutex mutex;
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (std::size_t begin = t * block; begin < count; begin += threads * block) run(begin, std::min(count, begin + block));
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

// The piece of an (N1, N2) kernel matrix that a pass works on: rows [row0, row0 + rows) and
// columns [col0, col0 + cols), row-major with `cols` entries a row, while the per-point arrays
// (variances, factors, tables) stay indexed by the global point. A whole state is the window
// (0, 0, N1, N2); ntk::KernelRows runs the same passes on windows of rows, and every pass computes
// an entry from its row's and column's points alone, with a loop over a row that starts and ends
// where the whole matrix's does — so an entry is the same double in any window that holds it.
// In a symmetric kernel only the entries at or above the diagonal (global column >= global row)
// are computed; the others are unspecified until mirrored.
struct Window {
  double* nngp = nullptr;
  double* ntk = nullptr;  // null when the NTK is not tracked
  std::size_t rows = 0, cols = 0, row0 = 0, col0 = 0;
  bool symmetric = false;
  // The first local column of local row i that is computed.
  std::size_t first(std::size_t i) const {
    if (!symmetric || row0 + i <= col0) return 0;
    return std::min(cols, row0 + i - col0);
  }
};

// The window of a whole kernel state.
Window whole(Kernel& k);

// In a symmetric window, copies each computed entry (i, j) of the square block of the rows' own
// columns onto (j, i): the lower triangle of that block (the whole lower triangle for a whole
// state), as the full matrix's mirror_upper does.
void mirror_window(const Window& w, double* matrix);

// Copies the upper triangle of a square row-major matrix onto its lower one, in cache blocks.
void mirror_upper(double* a, std::size_t n);

// An uninitialized (n1, n2) matrix. Kernels are large and written once: on Linux their memory is
// asked for in huge pages before the first touch (page faults of 4 KiB pages cost more than the
// arithmetic of a layer).
Tensor large_matrix(std::size_t n1, std::size_t n2);

// The Gram products of the input layer into a window's nngp: α X1 X2ᵀ at the window's entries
// (those at or above the diagonal in a symmetric window, where X2 is X1). With few features
// (d <= 64) each row is a loop of its own in the kernel threads; with more, the matrix is cut into
// fixed tiles of kGramTile × kGramTile (global, from entry (0, 0)), each an OpenBLAS product of its
// own — SYRK for the diagonal tiles of a symmetric matrix, GEMM for the others — single-threaded,
// so that a window computes the tiles it touches with exactly the calls the whole matrix makes (a
// window whose rows start and end at multiples of kGramTile, or at the end, shares no tile with
// another).
inline constexpr std::size_t kGramTile = 256;
inline constexpr std::size_t kSmallGram = 64;  // features up to which the loop is used
void input_gram(const Tensor& x1, const Tensor& x2, double alpha, const Window& w);
// On raw row-major blocks (OpenBLAS), A (m, k) and B (n, k) contiguous, c with row stride ldc:
// c = α A Bᵀ (m, n), and the upper triangle of c = α A Aᵀ (m, m).
void gemm_rows(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double alpha, double* c,
               std::size_t ldc);
void syrk_rows(const double* a, std::size_t m, std::size_t k, double alpha, double* c, std::size_t ldc);

}  // namespace ntk::detail
