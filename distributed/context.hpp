// MPI and the BLACS process grid, and how ranks agree on errors.
//
// Why: a rank that fails alone (a missing file on one machine, a bad block) and leaves the others
// waiting in a collective call hangs the whole job. Every phase of a distributed computation runs
// through `collectively`, which catches the rank's exception and then agrees with all ranks: if any
// failed, every rank throws distributed::Error carrying the message of the lowest failing rank
// (prefixed "rank r:" unless every rank failed), so rank 0 can print one line and all exit non-zero.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <mpi.h>

namespace distributed {

// A failure every rank knows about (thrown on all of them by agree / collectively).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// MPI_Init (if not done yet) for the object's life; MPI_Finalize at the end if it initialized.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owns_ = false;
};

int rank(MPI_Comm comm);
int size(MPI_Comm comm);

// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun), read from the
// environment it sets, without MPI_Init: -1 when none, else the number of ranks (0 when the
// launcher is known but not its count). For programs that run as plain processes too, where
// MPI_Init alone (Open MPI's singleton start-up) costs half a second.
int launcher_ranks();

// `local_error` is empty on ranks that succeeded. Collective. Throws distributed::Error on every
// rank when any rank failed.
void agree(MPI_Comm comm, const std::string& local_error);

// Collective: throws distributed::Error on every rank unless `values` are the same on all ranks;
// the error is describe(smallest, largest), from each value's smallest and largest over ranks.
using Values = std::vector<unsigned long long>;
void require_same(MPI_Comm comm, const Values& values, const std::function<std::string(const Values&, const Values&)>& describe);

// Runs f() on this rank, then agree()s on its outcome.
template <class F>
void collectively(MPI_Comm comm, F&& f) {
  std::string error;
  try {
    std::forward<F>(f)();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  agree(comm, error);
}

// The end of a program's main on every rank: runs body() and returns its exit status, or 1 after
// an error — a distributed::Error (every rank has it) printed once, by rank 0, as
// "<program>: error: <message>"; any other exception (this rank's alone) printed with the rank,
// and then MPI_Abort ends the whole job rather than leave the others waiting.
int exit_status(MPI_Comm comm, const char* program, const std::function<int()>& body);

// A BLACS process grid of nprow × npcol ranks over `comm` (row-major ranks), released at the end.
struct GridShape {
  int nprow = 1, npcol = 1;
};
// The most square grid with nprow <= npcol: 1 → 1×1, 2 → 1×2, 3 → 1×3, 4 → 2×2, 6 → 2×3.
GridShape default_grid_shape(int ranks);
// "PxQ" → {P, Q}; throws on anything else.
GridShape parse_grid_shape(const std::string& text);

class Grid {
 public:
  Grid(MPI_Comm comm, GridShape shape);  // shape's product must be the communicator's size
  ~Grid();
  Grid(const Grid&) = delete;
  Grid& operator=(const Grid&) = delete;

  MPI_Comm comm() const { return comm_; }
  int context() const { return context_; }
  int nprow() const { return shape_.nprow; }
  int npcol() const { return shape_.npcol; }
  int myrow() const { return myrow_; }
  int mycol() const { return mycol_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  MPI_Comm comm_;
  GridShape shape_;
  int handle_ = -1, context_ = -1, myrow_ = 0, mycol_ = 0, rank_ = 0, size_ = 1;
};

// Memory this machine can still give (MemAvailable of /proc/meminfo), bytes; 0 if unknown.
double available_memory_bytes();
// How many ranks of comm run on this machine (MPI_COMM_TYPE_SHARED). Collective.
int ranks_on_this_machine(MPI_Comm comm);

// Peak resident memory of this process so far (VmHWM of /proc/self/status), bytes; 0 if unknown.
double peak_rss_bytes();

// Gives the system back what freed memory this thread still holds — the tensor recycler's free
// lists (autodiff/storage.hpp, up to 256 MB) and glibc's free heap pages — so that a rank's peak
// is what it holds: called between the phases of a distributed computation, after transient loads.
void release_free_memory();

// Threads per rank: the library's kernel passes (NTK_THREADS, read at their first use) and
// OpenBLAS (no-op when the BLAS is not OpenBLAS). One rank per core wants 1. Call before any kernel.
void set_threads_per_rank(int threads);

}  // namespace distributed
