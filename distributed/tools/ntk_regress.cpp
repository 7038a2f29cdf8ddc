// ntk-regress: kernel ridge regression with the infinite-width NTK or NNGP (or an RBF baseline)
// over MPI ranks with ScaLAPACK. Each rank computes only its blocks of the kernels in the 2-D
// block-cyclic layout; (K + λI) A = Y by Cholesky, predictions by pdgemm. See docs/distributed.md.
//
//   mpirun -np 2 ntk-regress --fashion-mnist --train-size 10000 --kind ntk --depth 2 --report r.json
//   ntk-regress --train-x X.npy --train-y Y.npy --test-x Xt.npy --test-y Yt.npy --predictions P.npy
//
// Without mpirun it runs as one rank. Errors on any rank end every rank: one line on stderr (from
// rank 0, naming the failing rank), exit status 1 (bad data, settings, a kernel that is not
// positive definite, a memory limit) or 2 (bad command line); no partial output file.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "distributed/context.hpp"
#include "distributed/regression.hpp"
#include "ntk/table_io.hpp"
#include "ntk/cli/mlp_flags.hpp"

namespace {

namespace dist = distributed;

struct Settings {
  std::string train_x, train_y, test_x, test_y;
  std::string fashion_mnist_dir;
  bool fashion_mnist = false;
  long long train_size = 5000, test_size = 10000;
  std::string kind = "ntk";
  ntk::tools::MlpFlags net;
  double rbf_gamma = 1.0;
  double ridge = 1e-6;
  double ridge_absolute = -1.0;
  long long block = 64, test_chunk = 2048;
  std::string grid;
  double memory_limit_gb = 0.0;
  std::string predictions, report;
  bool verify = false;
  long long plan_ranks = 0;
  int threads = 1;
};

std::string gb(double bytes) { return fmt::format("{:.3f} GB", bytes / 1e9); }

std::string plan_text(const dist::MemoryPlan& p) {
  return fmt::format("{} per rank: training kernel {}, test kernel {}, points {}, workspace {}, targets and predictions {}, "
                     "data files {}",
                     gb(p.total()), gb(p.train_kernel), gb(p.test_kernel), gb(p.points), gb(p.workspace),
                     gb(p.targets + p.predictions), gb(p.data_sets));
}

void write_report(const std::string& path, const Settings& s, const dist::RegressionSettings& rs,
                  const dist::DataSet& train, const dist::DataSet& test, const dist::RegressionResult& r) {
  std::string phases, peaks;
  for (const auto& p : r.phases) phases += fmt::format("{}\"{}\": {:.6g}", phases.empty() ? "" : ", ", p.name, p.seconds);
  for (double b : r.peak_rss_bytes) peaks += fmt::format("{}{:.0f}", peaks.empty() ? "" : ", ", b);
  std::string json = fmt::format(
      "{{\n  \"kernel\": \"{}\",\n  \"kind\": \"{}\",\n  \"depth\": {},\n  \"train_rows\": {},\n  \"test_rows\": {},\n"
      "  \"ranks\": {},\n  \"grid\": \"{}x{}\",\n  \"block\": {},\n  \"ridge\": {:.17g},\n  \"accuracy\": {:.17g},\n"
      "  \"mse\": {:.17g},\n  \"seconds\": {{{}}},\n  \"peak_rss_bytes\": [{}],\n  \"planned_bytes_per_rank\": {:.0f},\n"
      "  \"planned_kernel_bytes_per_rank\": {:.0f}",
      rs.kernel.describe(), s.kind, s.net.depth, train.rows(), test.rows(), r.ranks, r.grid.nprow, r.grid.npcol, rs.block,
      r.ridge, r.accuracy, r.mse, phases, peaks, r.planned.total(), r.planned.train_kernel);
  if (r.verified)
    json += fmt::format(",\n  \"reference_accuracy\": {:.17g},\n  \"reference_mse\": {:.17g},\n"
                        "  \"max_relative_difference\": {:.6g},\n  \"kernel_relative_difference\": {:.6g}",
                        r.reference_accuracy, r.reference_mse, r.max_relative_difference, r.kernel_relative_difference);
  json += "\n}\n";
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json;
    if (!out) throw dist::Error(fmt::format("cannot write {}", temporary));
  }
  std::filesystem::rename(temporary, path);
}

int run(MPI_Comm comm, const Settings& s) {
  const int me = dist::rank(comm);
  dist::RegressionSettings rs;
  std::unique_ptr<dist::DataSet> train, test;
  // Settings and data on every rank; any failure (a file missing on one machine) ends them all.
  dist::collectively(comm, [&] {
    rs.kernel.family = ntk::tools::parse_flag("--kind", dist::parse_kernel_family, s.kind);
    rs.kernel.mlp = s.net.mlp();
    rs.kernel.rbf_gamma = s.rbf_gamma;
    rs.ridge_is_absolute = s.ridge_absolute >= 0.0;
    rs.ridge = rs.ridge_is_absolute ? s.ridge_absolute : s.ridge;
    if (s.block < 1) throw dist::Error(fmt::format("--block must be >= 1, got {}", s.block));
    if (s.test_chunk < 1) throw dist::Error(fmt::format("--test-chunk must be >= 1, got {}", s.test_chunk));
    rs.block = static_cast<std::size_t>(s.block);
    rs.test_chunk = static_cast<std::size_t>(s.test_chunk);
    if (!s.grid.empty()) rs.grid = dist::parse_grid_shape(s.grid);
    if (std::isnan(s.memory_limit_gb) || s.memory_limit_gb < 0.0)
      throw dist::Error(fmt::format("--memory-limit must be > 0 GB (or inf: no limit), got {}", s.memory_limit_gb));
    rs.memory_limit_bytes = std::isinf(s.memory_limit_gb) ? -1.0 : s.memory_limit_gb * 1e9;
    rs.verify = s.verify;
    if (!s.predictions.empty()) {
      ntk::table_format(s.predictions);  // an unknown extension fails now, not after the computation
      for (const std::string& input : {s.train_x, s.train_y, s.test_x, s.test_y})
        if (!input.empty() && std::filesystem::exists(input) && std::filesystem::equivalent(input, s.predictions))
          throw dist::Error(fmt::format("--predictions {} would overwrite an input file", s.predictions));
    }
    const bool files = !s.train_x.empty() || !s.train_y.empty() || !s.test_x.empty() || !s.test_y.empty();
    if (files == s.fashion_mnist)
      throw dist::Error("give either --fashion-mnist or all of --train-x, --train-y, --test-x, --test-y");
    if (s.fashion_mnist) {
      if (s.train_size < 1 || s.test_size < 1)
        throw dist::Error(fmt::format("--train-size and --test-size must be >= 1, got {} and {}", s.train_size, s.test_size));
      const std::filesystem::path dir =
          s.fashion_mnist_dir.empty() ? data::default_fashion_mnist_dir() : std::filesystem::path(s.fashion_mnist_dir);
      train = dist::fashion_mnist(dir, data::Split::train, static_cast<std::size_t>(s.train_size));
      test = dist::fashion_mnist(dir, data::Split::test, static_cast<std::size_t>(s.test_size));
    } else {
      if (s.train_x.empty() || s.train_y.empty() || s.test_x.empty() || s.test_y.empty())
        throw dist::Error("--train-x, --train-y, --test-x and --test-y go together");
      train = dist::matrix_files(s.train_x, s.train_y);
      test = dist::matrix_files(s.test_x, s.test_y);
    }
  });
  if (s.plan_ranks > 0) {
    const dist::GridShape grid = dist::default_grid_shape(static_cast<int>(s.plan_ranks));
    const dist::MemoryPlan p =
        dist::plan_memory_max(train->rows(), test->rows(), train->dim(), train->targets(), grid, rs, 0.0);
    if (me == 0) std::printf("%lld ranks (%dx%d grid): %s\n", s.plan_ranks, grid.nprow, grid.npcol, plan_text(p).c_str());
    return 0;
  }
  if (me == 0)
    std::fprintf(stderr, "ntk-regress: %s; training %s; test %s; %d ranks, block %lld\n", rs.kernel.describe().c_str(),
                 train->describe().c_str(), test->describe().c_str(), dist::size(comm), s.block);
  const dist::RegressionResult r = dist::regress(comm, *train, *test, rs);
  dist::collectively(comm, [&] {
    if (me != 0) return;
    if (!s.predictions.empty()) ntk::write_matrix(s.predictions, r.predictions);
    if (!s.report.empty()) write_report(s.report, s, rs, *train, *test, r);
  });
  if (me != 0) return 0;
  std::printf("grid %dx%d, %s\n", r.grid.nprow, r.grid.npcol, plan_text(r.planned).c_str());
  std::printf("ridge %.6g\n", r.ridge);
  if (r.accuracy >= 0.0) std::printf("accuracy %.6f\n", r.accuracy);
  std::printf("mse %.10g\n", r.mse);
  std::string times;
  for (const auto& p : r.phases) times += fmt::format("{}{} {:.3f} s", times.empty() ? "" : ", ", p.name, p.seconds);
  std::printf("time: %s\n", times.c_str());
  double peak = 0.0;
  std::string peaks;
  for (double b : r.peak_rss_bytes) {
    peak = std::max(peak, b);
    peaks += fmt::format("{}{:.3f}", peaks.empty() ? "" : " ", b / 1e9);
  }
  std::printf("peak memory per rank (GB): %s\n", peaks.c_str());
  if (r.verified) {
    std::printf("single-process path: accuracy %.6f, mse %.10g; largest relative difference: predictions %.3g, training "
                "kernel %.3g\n",
                r.reference_accuracy, r.reference_mse, r.max_relative_difference, r.kernel_relative_difference);
    if (!(r.max_relative_difference <= 1e-10)) {
      std::fprintf(stderr, "ntk-regress: error: --verify: predictions differ from the single-process path by %.3g "
                           "relative (over 1e-10)\n", r.max_relative_difference);
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiSession mpi(&argc, &argv);
  const MPI_Comm comm = MPI_COMM_WORLD;
  const bool root = dist::rank(comm) == 0;
  CLI::App app{"Kernel ridge regression with the infinite-width NTK or NNGP of a fully connected net (or an RBF "
               "kernel) over MPI ranks with ScaLAPACK: kernels computed in the 2-D block-cyclic layout, Cholesky "
               "solve of (K + λI) A = Y, predictions K(X*, X) A. Run under mpirun, or alone as one rank."};
  app.name("ntk-regress");
  Settings s;
  app.add_flag("--fashion-mnist", s.fashion_mnist, "Fashion-MNIST (one-hot targets 0.9/-0.1, accuracy on the test images)");
  app.add_option("--fashion-mnist-dir", s.fashion_mnist_dir, "where its files are (default: the Debian package's)");
  app.add_option("--train-size", s.train_size, "the first N training images")->capture_default_str();
  app.add_option("--test-size", s.test_size, "the first M test images")->capture_default_str();
  app.add_option("--train-x", s.train_x, "training points, one per row (.npy or .csv)");
  app.add_option("--train-y", s.train_y, "training targets, one row per point");
  app.add_option("--test-x", s.test_x, "test points");
  app.add_option("--test-y", s.test_y, "test targets (for the MSE, and the accuracy of the argmax with several columns)");
  app.add_option("--kind", s.kind, "ntk, nngp or rbf")->capture_default_str();
  s.net.add_to(app, "hidden width, for the standard parameterization");
  app.add_option("--rbf-gamma", s.rbf_gamma, "RBF kernel exp(-gamma |x - x'|^2 / d)")->capture_default_str();
  app.add_option("--ridge", s.ridge, "λ relative to the mean diagonal of the training kernel")->capture_default_str();
  app.add_option("--ridge-absolute", s.ridge_absolute, "λ itself (instead of --ridge)");
  app.add_option("--block", s.block, "ScaLAPACK block size")->capture_default_str();
  app.add_option("--grid", s.grid, "process grid PxQ (default: the most square for the ranks)");
  app.add_option("--test-chunk", s.test_chunk, "test rows per distributed test-kernel piece")->capture_default_str();
  app.add_option("--memory-limit", s.memory_limit_gb,
                 "refuse before allocating if a rank would need more GB (default: the machine's available memory "
                 "shared by its ranks; inf: no limit)");
  app.add_option("--predictions", s.predictions, "write the test predictions (.npy or .csv), from rank 0");
  app.add_option("--report", s.report, "write times, memory and scores as JSON, from rank 0");
  app.add_flag("--verify", s.verify, "also run the single-process path on rank 0 and require equal predictions (1e-10)");
  app.add_option("--threads", s.threads, "threads per rank for the kernels and OpenBLAS (1: one rank per core)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--plan-ranks", s.plan_ranks, "print the memory per rank on R ranks for these data and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return root ? app.exit(e) : 0;  // --help
    if (root) std::fprintf(stderr, "ntk-regress: error: %s (see --help)\n", e.what());
    return 2;
  }
  dist::set_threads_per_rank(s.threads);
  return dist::exit_status(comm, "ntk-regress", [&] { return run(comm, s); });
}
