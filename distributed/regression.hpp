// Kernel ridge regression over MPI ranks with ScaLAPACK: (K + λI) A = Y by Cholesky (pdpotrf,
// pdpotrs), predictions K(X*, X) A by pdgemm, the kernels computed directly in the 2-D
// block-cyclic layout (block_cyclic.hpp). The library call behind the ntk-regress tool.
//
// Why: the NTK of 60,000 Fashion-MNIST images is a 60k × 60k float64 matrix, 28.8 GB, more than
// one machine of this project holds. Spread over R ranks each holds about N²·8/R bytes of it (see
// plan_memory), and the Cholesky solve and the products run on ScaLAPACK, the field's engine for
// dense linear algebra across machines. `regress_serial` is the single-process path (the library's
// kernel, LAPACK's dpotrf/dpotrs) that the distributed one must reproduce to 1e-10 relative.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "distributed/block_cyclic.hpp"
#include "ntk/infinite.hpp"

namespace distributed {

// The kernel: the infinite-width NTK or NNGP of a fully connected net (ntk::InfiniteMlp), or the
// classical baseline RBF exp(−γ‖x − x′‖²/d) (d the input dimension).
struct KernelSpec {
  enum class Family { ntk, nngp, rbf };
  Family family = Family::ntk;
  ntk::InfiniteMlp mlp;
  double rbf_gamma = 1.0;
  std::string describe() const;
  PairKernel pair_kernel() const;  // kernel(a, b), the x1 ≠ x2 path
  SelfKernel self_kernel() const;  // kernel(x, x) as the library computes it alone (symmetric path)
};
KernelSpec::Family parse_kernel_family(const std::string& name);  // "ntk", "nngp", "rbf"
std::string to_string(KernelSpec::Family family);

// A set of points with regression targets, read by every rank for the rows it needs only.
class DataSet {
 public:
  virtual ~DataSet() = default;
  virtual std::size_t rows() const = 0;
  virtual std::size_t dim() const = 0;
  virtual std::size_t targets() const = 0;  // columns of Y
  // Inputs (rows.size(), dim) and targets (rows.size(), targets) of these rows, in this order.
  virtual std::pair<Tensor, Tensor> load(const std::vector<std::size_t>& rows) const = 0;
  virtual std::string describe() const = 0;
  // Bytes this object keeps in memory whatever is loaded (a whole .npy file, say).
  virtual double resident_bytes() const { return 0.0; }
};

// The first `count` images of a Fashion-MNIST split (standardized per image), one-hot targets
// 0.9 / −0.1. Only the counts are read here; load() decodes just the rows asked for.
std::unique_ptr<DataSet> fashion_mnist(const std::filesystem::path& dir, data::Split split, std::size_t count);
// Inputs and targets from .npy or CSV matrices with the same number of rows (read whole).
std::unique_ptr<DataSet> matrix_files(const std::string& inputs, const std::string& targets);

struct RegressionSettings {
  KernelSpec kernel;
  double ridge = 1e-6;              // λ relative to the mean diagonal of K ...
  bool ridge_is_absolute = false;   // ... or λ itself
  std::size_t block = 64;           // ScaLAPACK block size (square blocks)
  GridShape grid{0, 0};             // 0: default_grid_shape(ranks)
  std::size_t test_chunk = 2048;    // test rows per distributed test-kernel piece
  std::size_t panel_entries = std::size_t{1} << 20;  // kernel workspace per panel (entries)
  double memory_limit_bytes = 0.0;  // per rank; refused before allocating. 0: what the machine has
                                    // available (MemAvailable) shared by its ranks; < 0: no limit
  bool verify = false;              // also run regress_serial on rank 0 and compare
};

// Bytes a rank at grid position (myrow, mycol) allocates, by part (plan_memory).
struct MemoryPlan {
  double train_kernel = 0, test_kernel = 0, targets = 0, points = 0, workspace = 0, predictions = 0, data_sets = 0;
  double total() const { return train_kernel + test_kernel + targets + points + workspace + predictions + data_sets; }
};
MemoryPlan plan_memory(std::size_t n_train, std::size_t n_test, std::size_t dim, std::size_t classes, GridShape grid,
                       int myrow, int mycol, const RegressionSettings& settings, double data_set_bytes = 0.0);
// The largest plan over all ranks of the grid.
MemoryPlan plan_memory_max(std::size_t n_train, std::size_t n_test, std::size_t dim, std::size_t classes, GridShape grid,
                           const RegressionSettings& settings, double data_set_bytes = 0.0);

struct Phase {
  std::string name;
  double seconds = 0.0;
};

struct RegressionResult {
  Tensor predictions;           // (test rows, targets) on rank 0; empty elsewhere
  double ridge = 0.0;           // λ used
  double mse = 0.0;             // mean over entries of (prediction − target)²
  double accuracy = -1.0;       // argmax agreement when there are several targets; -1 otherwise
  std::vector<Phase> phases;    // wall time of each phase (rank 0's clock; phases end in a collective)
  std::vector<double> peak_rss_bytes;  // per rank, on rank 0
  MemoryPlan planned;           // the largest per-rank plan
  GridShape grid;
  int ranks = 1;
  // verify: the single-process path's results and the largest |difference| / largest |prediction|.
  bool verified = false;
  double reference_accuracy = -1.0, reference_mse = 0.0, max_relative_difference = 0.0;
  double kernel_relative_difference = 0.0;  // training kernels' upper triangles: largest |difference| / largest |entry|
};

// Collective over comm: every rank calls it with the same arguments. Throws distributed::Error on
// every rank when any rank fails (message of the lowest failing rank).
RegressionResult regress(MPI_Comm comm, const DataSet& train, const DataSet& test, const RegressionSettings& settings);

// The single-process path: the library's kernel of all points, LAPACK Cholesky, predictions.
// Fills predictions, ridge, mse, accuracy.
RegressionResult regress_serial(const DataSet& train, const DataSet& test, const RegressionSettings& settings);

// Mean squared error and argmax accuracy (-1 with one target column) of predictions (M, C).
std::pair<double, double> score(const Tensor& predictions, const Tensor& targets);

}  // namespace distributed
