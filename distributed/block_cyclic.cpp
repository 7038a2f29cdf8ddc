#include "distributed/block_cyclic.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "distributed/scalapack.hpp"

namespace distributed {

std::size_t local_count(std::size_t n, std::size_t nb, int coord, int procs) {
  const std::size_t blocks = n / nb, p = static_cast<std::size_t>(procs), c = static_cast<std::size_t>(coord);
  std::size_t count = (blocks / p) * nb;
  const std::size_t extra = blocks % p;
  if (c < extra) count += nb;
  else if (c == extra) count += n % nb;
  return count;
}

std::vector<std::size_t> local_indices(std::size_t n, std::size_t nb, int coord, int procs) {
  std::vector<std::size_t> indices;
  indices.reserve(local_count(n, nb, coord, procs));
  const std::size_t stride = nb * static_cast<std::size_t>(procs);
  for (std::size_t start = nb * static_cast<std::size_t>(coord); start < n; start += stride)
    for (std::size_t i = start; i < std::min(n, start + nb); ++i) indices.push_back(i);
  return indices;
}

int Layout::lld() const { return static_cast<int>(std::max<std::size_t>(1, local_rows())); }

Layout make_layout(const Grid& grid, std::size_t rows, std::size_t cols, std::size_t row_block, std::size_t col_block) {
  if (rows > INT_MAX || cols > INT_MAX || row_block < 1 || col_block < 1 || row_block > INT_MAX || col_block > INT_MAX)
    throw Error(fmt::format("a {} x {} matrix in {} x {} blocks does not fit ScaLAPACK's 32-bit indices", rows, cols,
                            row_block, col_block));
  Layout layout;
  layout.rows = rows;
  layout.cols = cols;
  layout.row_block = row_block;
  layout.col_block = col_block;
  layout.global_rows = local_indices(rows, row_block, grid.myrow(), grid.nprow());
  layout.global_cols = local_indices(cols, col_block, grid.mycol(), grid.npcol());
  if (static_cast<double>(layout.local_rows()) * static_cast<double>(layout.local_cols()) > INT_MAX)
    throw Error(fmt::format("the local part of a {} x {} matrix ({} x {}) has more than 2^31 entries, beyond "
                            "ScaLAPACK's 32-bit indexing: use more ranks",
                            rows, cols, layout.local_rows(), layout.local_cols()));
  const int m = static_cast<int>(rows), n = static_cast<int>(cols), mb = static_cast<int>(row_block),
            nb = static_cast<int>(col_block), zero = 0, context = grid.context(), lld = layout.lld();
  int info = 0;
  descinit_(layout.desc.data(), &m, &n, &mb, &nb, &zero, &zero, &context, &lld, &info);
  if (info != 0) throw Error(fmt::format("descinit for a {} x {} matrix failed (info {})", rows, cols, info));
  return layout;
}

Matrix zeros(Layout layout) {
  Matrix m;
  m.local.assign(layout.local_rows() * layout.local_cols(), 0.0);
  m.layout = std::move(layout);
  return m;
}

Tensor select_rows(const Tensor& x, const std::vector<std::size_t>& rows) {
  const std::size_t d = x.shape()[1];
  Tensor out = Tensor::empty({rows.size(), d});
  for (std::size_t i = 0; i < rows.size(); ++i) std::memcpy(out.data() + i * d, x.data() + rows[i] * d, d * sizeof(double));
  return out;
}

void fill_kernel(Matrix& m, const RowPoints& rows, const Tensor& col_points, const PairKernel& kernel,
                 std::size_t panel_entries, const SelfKernel& self) {
  const std::size_t lr = m.layout.local_rows(), lc = m.layout.local_cols();
  if (col_points.shape()[0] != lc)
    throw Error(fmt::format("fill_kernel: {} column points for a {} x {} local array", col_points.shape()[0], lr, lc));
  if (lr == 0 || lc == 0) return;
  const std::size_t d = col_points.shape()[1];
  for (std::size_t r0 = 0; r0 < lr; r0 += kRowsPerLoad) {
    const std::size_t r1 = std::min(lr, r0 + kRowsPerLoad), height = r1 - r0;
    const Tensor row_points = rows(r0, r1);
    if (row_points.dim() != 2 || row_points.shape()[0] != height || row_points.shape()[1] != d)
      throw Error(fmt::format("fill_kernel: {} row points of dimension {} for rows {}..{} of dimension {}",
                              row_points.shape()[0], row_points.dim() == 2 ? row_points.shape()[1] : 0, r0, r1, d));
    const std::size_t panel = std::max<std::size_t>(1, panel_entries / height);
    for (std::size_t c0 = 0; c0 < lc; c0 += panel) {
      const std::size_t c1 = std::min(lc, c0 + panel), width = c1 - c0;
      Tensor cols = Tensor::empty({width, d});
      std::memcpy(cols.data(), col_points.data() + c0 * d, width * d * sizeof(double));
      const Tensor block = kernel(row_points, cols);
      if (block.dim() != 2 || block.shape()[0] != height || block.shape()[1] != width)
        throw Error("fill_kernel: the kernel function returned a matrix of the wrong shape");
      for (std::size_t j = 0; j < width; ++j) {
        double* column = m.local.data() + (c0 + j) * lr + r0;
        for (std::size_t i = 0; i < height; ++i) column[i] = block.flat(i * width + j);
      }
    }
    if (!self) continue;
    for (std::size_t j = 0; j < lc; ++j)
      for (std::size_t i = r0; i < r1; ++i)
        if (m.layout.global_rows[i] == m.layout.global_cols[j]) m.at(i, j) = self(select_rows(row_points, {i - r0})).flat(0);
  }
}

void fill_kernel(Matrix& m, const Tensor& row_points, const Tensor& col_points, const PairKernel& kernel,
                 std::size_t panel_entries, const SelfKernel& self) {
  if (row_points.shape()[0] != m.layout.local_rows())
    throw Error(fmt::format("fill_kernel: {} row points for a local array of {} rows", row_points.shape()[0],
                            m.layout.local_rows()));
  const RowPoints rows = [&](std::size_t first, std::size_t last) {
    std::vector<std::size_t> picked(last - first);
    std::iota(picked.begin(), picked.end(), first);
    return select_rows(row_points, picked);
  };
  fill_kernel(m, rows, col_points, kernel, panel_entries, self);
}

std::vector<double> gather(const Matrix& m, MPI_Comm comm, int root) {
  const Layout& l = m.layout;
  std::vector<double> mine(l.rows * l.cols, 0.0), all;
  for (std::size_t j = 0; j < l.local_cols(); ++j)
    for (std::size_t i = 0; i < l.local_rows(); ++i) mine[l.global_rows[i] * l.cols + l.global_cols[j]] = m.at(i, j);
  if (rank(comm) == root) all.assign(mine.size(), 0.0);
  MPI_Reduce(mine.data(), rank(comm) == root ? all.data() : nullptr, static_cast<int>(mine.size()), MPI_DOUBLE, MPI_SUM,
             root, comm);
  return all;
}

}  // namespace distributed
