// The matrix product under matmul and segment_matmul (internal to autodiff).
#pragma once

#include <cstddef>

namespace autodiff::detail {

// C (rows × p, row stride p) = α op(A) op(B), or C += α op(A) op(B) when `accumulate` (β = 1).
// op(A) is rows × n and op(B) n × p; A and B are row-major with row strides lda and ldb as
// stored (before the transpose). Small products run on register-blocked kernels of our own
// (OpenBLAS's packing and thread hand-off cost more than a 2 × 100 × 100 product's arithmetic);
// the rest on OpenBLAS.
void gemm(bool transpose_a, bool transpose_b, std::size_t rows, std::size_t p, std::size_t n, const double* A,
          std::size_t lda, const double* B, std::size_t ldb, double* C, bool accumulate, double alpha = 1.0);

}  // namespace autodiff::detail
