#include "autodiff/gemm.hpp"

#include <cblas.h>

#include <cstring>
#include <vector>

// The kernels below are compiled twice: for the build's target (portable x86-64 by default) and,
// on x86-64, for AVX2 + FMA, picked at run time (small_products_avx2), so a portable build keeps
// the fast path on CPUs that have it. Every helper is inlined into the two entry points, so the
// vector type never crosses a function boundary and GCC's note on its ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autodiff::detail {
namespace {

// Four doubles in one vector register (GCC/Clang vector extension; without AVX the compiler
// splits it into two SSE halves).
typedef double Vec4 __attribute__((vector_size(32)));

Vec4 load4(const double* p) {
  Vec4 v;
  std::memcpy(&v, p, sizeof v);  // an unaligned load
  return v;
}
void store4(double* p, Vec4 v) { std::memcpy(p, &v, sizeof v); }

// How a kernel puts its sums s into C: C = α s, or C += α s when accumulating.
struct Output {
  bool accumulate;
  double alpha;
  void operator()(double* c, double s) const { *c = accumulate ? *c + alpha * s : alpha * s; }
  void operator()(double* c, Vec4 s) const { store4(c, accumulate ? load4(c) + alpha * s : alpha * s); }
};

// C[i0 .. i0+MR, j .. j+4·NV] = op(A)[i0 .. i0+MR, :] B there: MR rows of C, NV vectors of four
// columns each, kept in registers while k runs over B's rows (each B row segment is loaded once
// for all MR rows of C).
template <bool TransposeA, std::size_t MR, std::size_t NV>
void rows_times_b_block(std::size_t i0, std::size_t j, std::size_t p, std::size_t n, const double* A,
                        std::size_t lda, const double* B, std::size_t ldb, double* C, const Output& out) {
  Vec4 sums[MR][NV];
  for (auto& row : sums)
    for (Vec4& v : row) v = Vec4{0.0, 0.0, 0.0, 0.0};
  for (std::size_t k = 0; k < n; ++k) {
    Vec4 b[NV];
    for (std::size_t v = 0; v < NV; ++v) b[v] = load4(B + k * ldb + j + 4 * v);
    for (std::size_t r = 0; r < MR; ++r) {
      const double ar = TransposeA ? A[k * lda + i0 + r] : A[(i0 + r) * lda + k];
      for (std::size_t v = 0; v < NV; ++v) sums[r][v] += ar * b[v];
    }
  }
  for (std::size_t r = 0; r < MR; ++r)
    for (std::size_t v = 0; v < NV; ++v) out(C + (i0 + r) * p + j + 4 * v, sums[r][v]);
}

// Rows i0 .. i0+MR of C = op(A) B. Eight accumulators (MR · NV) hide the FMA latency: blocks of
// 8 columns for four rows, 16 for two, 32 for one; then single vectors; then single columns.
template <bool TransposeA, std::size_t MR>
void rows_times_b(std::size_t i0, std::size_t p, std::size_t n, const double* A, std::size_t lda, const double* B,
                  std::size_t ldb, double* C, const Output& out) {
  constexpr std::size_t NV = 8 / MR;
  std::size_t j = 0;
  for (; j + 4 * NV <= p; j += 4 * NV) rows_times_b_block<TransposeA, MR, NV>(i0, j, p, n, A, lda, B, ldb, C, out);
  for (; j + 4 <= p; j += 4) rows_times_b_block<TransposeA, MR, 1>(i0, j, p, n, A, lda, B, ldb, C, out);
  for (; j < p; ++j) {  // the last p mod 4 columns
    double sums[MR] = {};
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t r = 0; r < MR; ++r)
        sums[r] += (TransposeA ? A[k * lda + i0 + r] : A[(i0 + r) * lda + k]) * B[k * ldb + j];
    for (std::size_t r = 0; r < MR; ++r) out(C + (i0 + r) * p + j, sums[r]);
  }
}

// C[i0 .. i0+MR, j0 .. j0+NR] = A Bᵀ there: MR × NR dot products of rows of A with rows of B,
// four terms per step in vector lanes, added across lanes at the end.
template <std::size_t MR, std::size_t NR>
void dot_block(std::size_t i0, std::size_t j0, std::size_t p, std::size_t n, const double* A, std::size_t lda,
               const double* B, std::size_t ldb, double* C, const Output& out) {
  Vec4 lanes[MR][NR];
  for (auto& row : lanes)
    for (Vec4& v : row) v = Vec4{0.0, 0.0, 0.0, 0.0};  // element by element: kept in registers
  std::size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    Vec4 b[NR];
    for (std::size_t c = 0; c < NR; ++c) b[c] = load4(B + (j0 + c) * ldb + k);
    for (std::size_t r = 0; r < MR; ++r) {
      const Vec4 ar = load4(A + (i0 + r) * lda + k);
      for (std::size_t c = 0; c < NR; ++c) lanes[r][c] += ar * b[c];
    }
  }
  for (std::size_t r = 0; r < MR; ++r)
    for (std::size_t c = 0; c < NR; ++c) {
      const Vec4 v = lanes[r][c];
      double sum = (v[0] + v[1]) + (v[2] + v[3]);
      for (std::size_t kk = k; kk < n; ++kk) sum += A[(i0 + r) * lda + kk] * B[(j0 + c) * ldb + kk];
      out(C + (i0 + r) * p + j0 + c, sum);
    }
}

template <std::size_t MR>
void rows_times_bt(std::size_t i0, std::size_t p, std::size_t n, const double* A, std::size_t lda, const double* B,
                   std::size_t ldb, double* C, const Output& out) {
  std::size_t j = 0;
  for (; j + 5 <= p; j += 5) dot_block<MR, 5>(i0, j, p, n, A, lda, B, ldb, C, out);
  for (; j < p; ++j) dot_block<MR, 1>(i0, j, p, n, A, lda, B, ldb, C, out);
}

// Every row of C: Block rows at a time, then two, then one, by kernel.template operator()<MR>(i0).
template <std::size_t Block, class Kernel>
void by_row_blocks(std::size_t rows, const Kernel& kernel) {
  std::size_t i = 0;
  for (; i + Block <= rows; i += Block) kernel.template operator()<Block>(i);
  if constexpr (Block > 2)
    for (; i + 2 <= rows; i += 2) kernel.template operator()<2>(i);
  for (; i < rows; ++i) kernel.template operator()<1>(i);
}

constexpr std::size_t kSmallProduct = 1 << 15;  // rows · p · n up to this: our kernels

// The products of our own kernels (rows · p · n small, not both transposed).
[[gnu::always_inline]] inline void small_products_generic(bool ta, bool tb, std::size_t rows, std::size_t p, std::size_t n,
                                                          const double* A, std::size_t lda, const double* B,
                                                          std::size_t ldb, double* C, const Output& out) {
  // Eight accumulators or more in registers: 4 × 8, 2 × 16 or 1 × 32 results for products by B,
  // 2 × 5 dot products (ten) for products by Bᵀ.
  if (tb)
    return by_row_blocks<2>(rows, [&]<std::size_t MR>(std::size_t i) {
      rows_times_bt<MR>(i, p, n, A, lda, B, ldb, C, out);
    });
  if (ta)
    return by_row_blocks<4>(rows, [&]<std::size_t MR>(std::size_t i) {
      rows_times_b<true, MR>(i, p, n, A, lda, B, ldb, C, out);
    });
  by_row_blocks<4>(rows, [&]<std::size_t MR>(std::size_t i) {
    rows_times_b<false, MR>(i, p, n, A, lda, B, ldb, C, out);
  });
}

void small_products_default(bool ta, bool tb, std::size_t rows, std::size_t p, std::size_t n, const double* A,
                            std::size_t lda, const double* B, std::size_t ldb, double* C, const Output& out) {
  small_products_generic(ta, tb, rows, p, n, A, lda, B, ldb, C, out);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX2__)
[[gnu::target("avx2,fma"), gnu::flatten]] void small_products_avx2(bool ta, bool tb, std::size_t rows, std::size_t p,
                                                                   std::size_t n, const double* A, std::size_t lda,
                                                                   const double* B, std::size_t ldb, double* C,
                                                                   const Output& out) {
  small_products_generic(ta, tb, rows, p, n, A, lda, B, ldb, C, out);
}
void small_products(bool ta, bool tb, std::size_t rows, std::size_t p, std::size_t n, const double* A, std::size_t lda,
                    const double* B, std::size_t ldb, double* C, const Output& out) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  (avx2 ? small_products_avx2 : small_products_default)(ta, tb, rows, p, n, A, lda, B, ldb, C, out);
}
#else
void small_products(bool ta, bool tb, std::size_t rows, std::size_t p, std::size_t n, const double* A, std::size_t lda,
                    const double* B, std::size_t ldb, double* C, const Output& out) {
  small_products_default(ta, tb, rows, p, n, A, lda, B, ldb, C, out);
}
#endif

}  // namespace

void gemm(bool ta, bool tb, std::size_t rows, std::size_t p, std::size_t n, const double* A, std::size_t lda,
          const double* B, std::size_t ldb, double* C, bool accumulate, double alpha) {
  const Output out{accumulate, alpha};
  // Aᵀ Bᵀ is rare (no rule of ours asks for it): OpenBLAS, like every large product.
  if (rows * p * n > kSmallProduct || (ta && tb)) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(p), static_cast<int>(n), alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), accumulate ? 1.0 : 0.0, C, static_cast<int>(p));
    return;
  }
  if (tb && n < 4) {  // dot products too short for vector lanes: transpose B (n × p, small) instead
    thread_local std::vector<double> b_t;  // kept: a first layer's product does this every step
    b_t.resize(n * p);
    for (std::size_t j = 0; j < p; ++j)
      for (std::size_t k = 0; k < n; ++k) b_t[k * p + j] = B[j * ldb + k];
    return gemm(ta, false, rows, p, n, A, lda, b_t.data(), p, C, accumulate, alpha);
  }
  small_products(ta, tb, rows, p, n, A, lda, B, ldb, C, out);
}

}  // namespace autodiff::detail
