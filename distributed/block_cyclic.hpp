// Matrices in ScaLAPACK's 2-D block-cyclic layout, and kernels computed directly in it.
//
// Why: a kernel matrix too large for one machine is never formed whole. Global row i lives on
// process row (i / mb) mod P, global column j on process column (j / nb) mod Q; each rank holds
// the entries of its rows × its columns as one column-major local array (leading dimension = its
// row count). An infinite-width (or RBF) kernel entry depends only on its two points, so the local
// array is exactly kernel(points of the local rows, points of the local columns): each rank
// gathers the points it needs and computes that product-shaped piece, in column panels to bound
// the workspace, and nothing else.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <vector>

#include "autodiff/tensor.hpp"
#include "distributed/context.hpp"

namespace distributed {

using autodiff::Tensor;

// ScaLAPACK's numroc: how many of n indices (blocks of nb, dealt round-robin over `procs`
// process rows or columns starting at 0) land on process `coord`.
std::size_t local_count(std::size_t n, std::size_t nb, int coord, int procs);
// Their global indices, ascending (the order of the local array).
std::vector<std::size_t> local_indices(std::size_t n, std::size_t nb, int coord, int procs);

struct Layout {
  std::size_t rows = 0, cols = 0, row_block = 1, col_block = 1;
  std::vector<std::size_t> global_rows, global_cols;  // of this rank's local rows and columns
  std::array<int, 9> desc{};                           // the ScaLAPACK descriptor
  std::size_t local_rows() const { return global_rows.size(); }
  std::size_t local_cols() const { return global_cols.size(); }
  int lld() const;  // leading dimension of the local array: max(1, local rows)
};

// rows × cols in blocks of row_block × col_block on the grid. Sizes must fit ScaLAPACK's 32-bit
// integers (checked).
Layout make_layout(const Grid& grid, std::size_t rows, std::size_t cols, std::size_t row_block, std::size_t col_block);

struct Matrix {
  Layout layout;
  std::vector<double> local;  // column-major, local_rows × local_cols, leading dimension lld()
  double& at(std::size_t i, std::size_t j) { return local[j * layout.local_rows() + i]; }
  double at(std::size_t i, std::size_t j) const { return local[j * layout.local_rows() + i]; }
};

Matrix zeros(Layout layout);

// kernel(a, b): the (rows of a) × (rows of b) kernel matrix of two point sets, row-major.
using PairKernel = std::function<Tensor(const Tensor& a, const Tensor& b)>;
// kernel(x, x) by the symmetric path (the library's same-inputs code).
using SelfKernel = std::function<Tensor(const Tensor& x)>;

// rows(first, last): the points of local rows [first, last), in local order (one per row).
using RowPoints = std::function<Tensor(std::size_t first, std::size_t last)>;
// Local rows loaded at a time by fill_kernel: the points of the local rows are never all in memory
// (on a 1 × Q grid a rank's rows are all N points, which would not divide over the ranks).
inline constexpr std::size_t kRowsPerLoad = 2048;

// Every local entry (i, j) = kernel(point of row i, col_points[j]), col_points holding the points
// of the local columns. The rows' points come from `rows`, kRowsPerLoad at a time. Computed as
// kernel(row points, col_points[panel]) — the row's point first, as the single-process kernel
// K(X1, X2) and the upper triangle of K(X, X) have it (quadrature is not exactly symmetric in its
// two points) — and transposed into the column-major local array; panels hold about
// `panel_entries` entries.
// With `self` (a symmetric matrix: rows and columns are the same points), the diagonal entries are
// self(point) instead: the symmetric path knows x = x′ exactly (relu's arc-cosine angle is then 0,
// where the x ≠ x′ path's rounding of cos θ ≈ 1 moves θ by ~1e-8), so the diagonal equals the
// single-process kernel's.
void fill_kernel(Matrix& m, const RowPoints& rows, const Tensor& col_points, const PairKernel& kernel,
                 std::size_t panel_entries, const SelfKernel& self = {});
// The same with the rows' points at hand (row_points holds them in local order).
void fill_kernel(Matrix& m, const Tensor& row_points, const Tensor& col_points, const PairKernel& kernel,
                 std::size_t panel_entries, const SelfKernel& self = {});

// The rows of x at these indices, in this order (x's row i is points[i]).
Tensor select_rows(const Tensor& x, const std::vector<std::size_t>& rows);

// The whole matrix, row-major, on `root` (empty elsewhere). Collective; every entry is owned by
// one rank, so the sum over ranks is exact.
std::vector<double> gather(const Matrix& m, MPI_Comm comm, int root = 0);

}  // namespace distributed
