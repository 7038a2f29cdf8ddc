#include "distributed/kernel_file.hpp"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "nn/io.hpp"

namespace distributed {

namespace {

using autodiff::Tensor;

void check_mpi(int code, const std::string& what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("{}: {}", what, std::string(text, static_cast<std::size_t>(length))));
}

struct Piece {
  std::size_t begin = 0, end = 0;  // rows [begin, end)
};

// The piece rank `me` computes in `round`: round r holds pieces rR .. rR + R − 1, dealt to ranks
// 0 .. R − 1 in even rounds and R − 1 .. 0 in odd ones (pieces of a symmetric kernel shrink).
std::optional<Piece> piece_of(std::size_t round, int me, int ranks, std::size_t pieces, std::size_t rows, std::size_t per) {
  const std::size_t r = static_cast<std::size_t>(ranks), m = static_cast<std::size_t>(me);
  const std::size_t p = round * r + (round % 2 == 0 ? m : r - 1 - m);
  if (p >= pieces) return std::nullopt;
  return Piece{p * per, std::min(rows, (p + 1) * per)};
}

// A committed datatype, freed at the end.
struct Datatype {
  MPI_Datatype type = MPI_DOUBLE;
  bool owned = false;
  ~Datatype() {
    if (owned) MPI_Type_free(&type);
  }
};

// Collectively writes `count` row segments of `length` doubles, the first at entry `first` of the
// row-major matrix and the next ones `stride` entries apart, from `data` (count × length, packed),
// through a view of them; count 0 takes part and writes nothing. Every rank learns of any error.
void write_segments(MPI_Comm comm, MPI_File file, std::size_t header, std::size_t first, std::size_t count,
                    std::size_t length, std::size_t stride, const double* data) {
  Datatype segments;
  if (count * length > 0) {
    MPI_Type_create_hvector(static_cast<int>(count), static_cast<int>(length),
                            static_cast<MPI_Aint>(stride * sizeof(double)), MPI_DOUBLE, &segments.type);
    MPI_Type_commit(&segments.type);
    segments.owned = true;
  }
  const auto offset = static_cast<MPI_Offset>(header + (count * length > 0 ? first * sizeof(double) : 0));
  collectively(comm, [&] {
    check_mpi(MPI_File_set_view(file, offset, MPI_DOUBLE, segments.type, "native", MPI_INFO_NULL), "MPI_File_set_view");
  });
  collectively(comm, [&] {
    MPI_Status status;
    check_mpi(MPI_File_write_all(file, data, static_cast<int>(count * length), MPI_DOUBLE, &status), "MPI_File_write_all");
  });
}

}  // namespace

std::size_t rows_per_piece(std::size_t rows, std::size_t columns, int ranks, std::size_t alignment) {
  const std::size_t target = std::max<std::size_t>(1, (std::size_t{1} << 22) / std::max<std::size_t>(1, columns));
  const std::size_t spread = 4 * static_cast<std::size_t>(std::max(1, ranks));
  std::size_t per = std::min(target, std::max<std::size_t>(1, (rows + spread - 1) / spread));
  alignment = std::max<std::size_t>(1, alignment);
  per = (per + alignment - 1) / alignment * alignment;
  return std::max<std::size_t>(1, std::min(per, rows));
}

KernelFileResult write_kernel_npy(MPI_Comm comm, const ntk::KernelRows& kernel, const std::string& path,
                                  const std::function<void(const Tensor&)>& check, std::size_t piece_rows) {
  const int me = rank(comm), ranks = size(comm);
  const std::size_t n1 = kernel.rows(), n2 = kernel.columns();
  const bool symmetric = kernel.symmetric();
  KernelFileResult result;
  result.rows_per_piece = piece_rows > 0 ? piece_rows : rows_per_piece(n1, n2, ranks, kernel.row_alignment());
  result.pieces = (n1 + result.rows_per_piece - 1) / result.rows_per_piece;
  const std::size_t per = result.rows_per_piece;
  const std::string header = nn::npy_header({n1, n2});
  const std::string partial = path + ".partial";
  collectively(comm, [&] {
    // MPI-IO counts and lengths are ints.
    if (n2 > INT_MAX || per * n2 > INT_MAX)
      throw Error(fmt::format("{} rows of {} columns are too many for one MPI-IO write", per, n2));
  });

  // Rank 0 creates the partial file, then every rank checks it can open it (a rank on another
  // machine without the folder must fail here, before the collective open).
  collectively(comm, [&] {
    if (me != 0) return;
    std::ofstream create(partial, std::ios::binary | std::ios::trunc);
    if (!create) throw Error(fmt::format("cannot create {}", partial));
  });
  MPI_File file = MPI_FILE_NULL;
  try {
    collectively(comm, [&] {
      std::fstream probe(partial, std::ios::binary | std::ios::in | std::ios::out);
      if (!probe) throw Error(fmt::format("cannot open {} (is its folder shared by the machines of every rank?)", partial));
    });
    collectively(comm, [&] {
      check_mpi(MPI_File_open(comm, partial.c_str(), MPI_MODE_WRONLY, MPI_INFO_NULL, &file),
                fmt::format("cannot open {}", partial));
    });
    collectively(comm, [&] {
      check_mpi(MPI_File_set_size(file, static_cast<MPI_Offset>(header.size() + n1 * n2 * sizeof(double))),
                fmt::format("cannot size {}", partial));
    });
    collectively(comm, [&] {
      if (me != 0) return;
      MPI_Status status;
      check_mpi(MPI_File_write_at(file, 0, header.data(), static_cast<int>(header.size()), MPI_BYTE, &status),
                fmt::format("cannot write {}", partial));
    });

    const std::size_t rounds = (result.pieces + static_cast<std::size_t>(ranks) - 1) / static_cast<std::size_t>(ranks);
    for (std::size_t round = 0; round < rounds; ++round) {
      const std::optional<Piece> piece = piece_of(round, me, ranks, result.pieces, n1, per);
      const std::size_t a = piece ? piece->begin : 0, b = piece ? piece->end : 0;
      Tensor block;
      std::vector<double> mirror;  // symmetric: columns [a, b) of rows [b, n2), the block's transpose
      double start = MPI_Wtime();
      collectively(comm, [&] {
        if (!piece) return;
        block = kernel.block(a, b);
        if (check) check(block);
        if (!symmetric) return;
        const std::size_t width = n2 - a, height = b - a;
        mirror.resize((n2 - b) * height);
        for (std::size_t i = 0; i < height; ++i)
          for (std::size_t j = b; j < n2; ++j) mirror[(j - b) * height + i] = block.flat(i * width + (j - a));
      });
      result.compute_seconds += MPI_Wtime() - start;
      start = MPI_Wtime();
      const std::size_t first = symmetric ? a : 0;  // rows from the diagonal on, or whole
      write_segments(comm, file, header.size(), a * n2 + first, b - a, n2 - first, n2, block.data());
      if (symmetric) write_segments(comm, file, header.size(), b * n2 + a, piece ? n2 - b : 0, b - a, n2, mirror.data());
      result.write_seconds += MPI_Wtime() - start;
    }
    const double start = MPI_Wtime();
    collectively(comm, [&] { check_mpi(MPI_File_close(&file), fmt::format("cannot close {}", partial)); });
    result.write_seconds += MPI_Wtime() - start;
    collectively(comm, [&] {
      if (me == 0) std::filesystem::rename(partial, path);
    });
  } catch (const Error&) {  // every rank is here: close and remove the partial file
    if (file != MPI_FILE_NULL) MPI_File_close(&file);
    if (me == 0) {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
    }
    throw;
  }
  return result;
}

}  // namespace distributed
