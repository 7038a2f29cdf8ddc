#include "distributed/context.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <fmt/format.h>

#include "autodiff/storage.hpp"

#include "distributed/scalapack.hpp"

extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
}

namespace distributed {

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    MPI_Init(argc, argv);
    owns_ = true;
  }
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

int rank(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

int size(MPI_Comm comm) {
  int s = 1;
  MPI_Comm_size(comm, &s);
  return s;
}

int launcher_ranks() {
  // Open MPI's mpirun, MPICH's and Intel's hydra and Slurm's PMI-2 give the count; a PMIx launch
  // (srun --mpi=pmix) gives a rank.
  for (const char* count : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* value = std::getenv(count)) return std::max(0, std::atoi(value));
  for (const char* rank : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (std::getenv(rank) != nullptr) return 0;
  return -1;
}

void require_same(MPI_Comm comm, const Values& values, const std::function<std::string(const Values&, const Values&)>& describe) {
  Values low(values.size()), high(values.size());
  const int count = static_cast<int>(values.size());
  MPI_Allreduce(values.data(), low.data(), count, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm);
  MPI_Allreduce(values.data(), high.data(), count, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
  collectively(comm, [&] {
    if (low != high) throw Error(describe(low, high));
  });
}

void agree(MPI_Comm comm, const std::string& local_error) {
  const int me = rank(comm), ranks = size(comm);
  const int mine = local_error.empty() ? ranks : me;
  int first = ranks, failed = 0;
  const int failing = local_error.empty() ? 0 : 1;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == ranks) return;
  MPI_Allreduce(&failing, &failed, 1, MPI_INT, MPI_SUM, comm);
  unsigned long long length = me == first ? local_error.size() : 0;
  MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, first, comm);
  std::string message = me == first ? local_error : std::string(length, ' ');
  MPI_Bcast(message.data(), static_cast<int>(length), MPI_CHAR, first, comm);
  // A failure of one rank (or some) names the first; one every rank saw (a bad setting) does not.
  throw Error(failed < ranks ? fmt::format("rank {}: {}", first, message) : message);
}

int exit_status(MPI_Comm comm, const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {  // every rank has it
    if (rank(comm) == 0) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  } catch (const std::exception& e) {  // this rank alone: end them all
    std::fprintf(stderr, "%s: error: rank %d: %s\n", program, rank(comm), e.what());
    std::fflush(stderr);
    MPI_Abort(comm, 1);
    return 1;
  }
}

GridShape default_grid_shape(int ranks) {
  int p = 1;
  for (int d = 1; d * d <= ranks; ++d)
    if (ranks % d == 0) p = d;
  return {p, ranks / p};
}

GridShape parse_grid_shape(const std::string& text) {
  int p = 0, q = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &p, &x, &q, &extra) != 3 || (x != 'x' && x != 'X') || p < 1 || q < 1)
    throw Error(fmt::format("--grid must be PxQ with P, Q >= 1 (e.g. 2x3), got '{}'", text));
  return {p, q};
}

Grid::Grid(MPI_Comm comm, GridShape shape) : comm_(comm), shape_(shape), rank_(distributed::rank(comm)), size_(distributed::size(comm)) {
  if (shape.nprow * shape.npcol != size_)
    throw Error(fmt::format("a {}x{} process grid needs {} ranks, running on {}", shape.nprow, shape.npcol,
                            shape.nprow * shape.npcol, size_));
  handle_ = Csys2blacs_handle(comm);
  context_ = handle_;
  Cblacs_gridinit(&context_, "Row", shape.nprow, shape.npcol);
  int nprow = 0, npcol = 0;
  Cblacs_gridinfo(context_, &nprow, &npcol, &myrow_, &mycol_);
}

Grid::~Grid() {
  if (context_ >= 0) Cblacs_gridexit(context_);
  if (handle_ >= 0) Cfree_blacs_system_handle(handle_);
}

double available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line))
    if (line.rfind("MemAvailable:", 0) == 0) return 1024.0 * std::stod(line.substr(13));
  return 0.0;
}

int ranks_on_this_machine(MPI_Comm comm) {
  MPI_Comm local;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  const int count = size(local);
  MPI_Comm_free(&local);
  return count;
}

double peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return 1024.0 * std::stod(line.substr(6));
  return 0.0;
}

void release_free_memory() {
  autodiff::storage::release_cached();
#if defined(__GLIBC__) && !defined(NTK_SANITIZER_BUILD)
  malloc_trim(0);
#endif
}

void set_threads_per_rank(int threads) {
  setenv("NTK_THREADS", std::to_string(threads).c_str(), 1);
  if (openblas_set_num_threads != nullptr) openblas_set_num_threads(threads);
}

}  // namespace distributed
