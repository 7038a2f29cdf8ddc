// One kernel matrix written by MPI ranks into one float64 .npy with MPI-IO: the library call behind
// `mpirun -np R ntk-kernel` (distributed/tools/ntk_kernel.cpp).
//
// Why: a kernel of N points takes 8N² bytes (60,000 points: 28.8 GB), more than one process — or
// one machine — may hold. Here no rank ever holds more than a piece of rows: the rows are cut into
// pieces (ntk::KernelRows computes each with exactly the doubles of the single-process call), the
// pieces are dealt to the ranks, and each rank writes its pieces at their offsets in the file, so
// the file equals the single-process ntk-kernel's byte for byte.
//
// The file: the .npy header (nn::npy_header: 128 bytes, written by rank 0), then the N1 × N2
// entries row-major. A symmetric kernel is computed in its upper triangle, as the single-process
// call does: the piece of rows [a, b) is those rows from column a on (its own square mirrored), and
// its transpose — columns [a, b) of rows b..N — is written too, so every entry is written once,
// by one rank, and the ranks share the work of a triangle. Pieces are dealt in rounds, one per rank
// (in a zigzag, so that every rank gets long and short rows alike); each round every rank sets an
// MPI-IO view of its piece (an hvector of row segments) and all write collectively.
//
// All or nothing: the ranks write <path>.partial, which rank 0 renames to <path> once every rank
// has written and closed it; any failure on any rank (a piece that does not pass `check`, a write
// error, no memory) ends every rank with the same distributed::Error and the partial file removed.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "autodiff/tensor.hpp"
#include "distributed/context.hpp"
#include "ntk/infinite.hpp"

namespace distributed {

// Rows per piece for N1 × N2 kernels over `ranks` ranks: about 2^22 entries (32 MB) a piece, at
// most N1 / (4·ranks) rows so that every rank gets several pieces, rounded up to a multiple of
// `alignment` (KernelRows::row_alignment: pieces then share no work).
std::size_t rows_per_piece(std::size_t rows, std::size_t columns, int ranks, std::size_t alignment);

struct KernelFileResult {
  std::size_t rows_per_piece = 0, pieces = 0;
  double compute_seconds = 0.0, write_seconds = 0.0;  // this rank's
};

// Collective over comm, with the same `kernel` on every rank (built from the same points).
// `check(piece)` may throw to refuse a piece (non-finite entries, say). `piece_rows` 0: automatic.
KernelFileResult write_kernel_npy(MPI_Comm comm, const ntk::KernelRows& kernel, const std::string& path,
                                  const std::function<void(const autodiff::Tensor&)>& check = {},
                                  std::size_t piece_rows = 0);

}  // namespace distributed
