#include "distributed/regression.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "autodiff/ops.hpp"
#include "distributed/scalapack.hpp"
#include "ntk/table_io.hpp"

namespace distributed {

namespace {

double seconds_between(double start) { return MPI_Wtime() - start; }

Tensor rbf_kernel(const Tensor& a, const Tensor& b, double gamma) {
  const std::size_t na = a.shape()[0], nb = b.shape()[0], d = a.shape()[1];
  auto norms = [d](const Tensor& x) {
    std::vector<double> v(x.shape()[0]);
    for (std::size_t i = 0; i < v.size(); ++i) {
      double s = 0.0;
      for (std::size_t f = 0; f < d; ++f) s += x.flat(i * d + f) * x.flat(i * d + f);
      v[i] = s;
    }
    return v;
  };
  const std::vector<double> na2 = norms(a), nb2 = norms(b);
  Tensor k = autodiff::matmul(a, b, false, true);
  const double scale = gamma / static_cast<double>(d);
  for (std::size_t i = 0; i < na; ++i)
    for (std::size_t j = 0; j < nb; ++j) {
      double& e = k.flat(i * nb + j);
      e = std::exp(-scale * std::max(0.0, na2[i] + nb2[j] - 2.0 * e));
    }
  return k;
}

bool needs_quadrature(const ntk::InfiniteMlp& mlp) {
  ntk::ActivationLayer probe;
  probe.activation = mlp.activation;
  return mlp.depth > 0 && (mlp.method == ntk::ActivationMethod::quadrature || !probe.has_closed_form());
}

void check_settings(const RegressionSettings& s) {
  if (s.block < 1) throw Error("--block must be >= 1");
  if (s.test_chunk < 1) throw Error("--test-chunk must be >= 1");
  if (!std::isfinite(s.ridge) || s.ridge < 0.0) throw Error(fmt::format("--ridge must be finite and >= 0, got {}", s.ridge));
  if (s.kernel.family == KernelSpec::Family::rbf && (!std::isfinite(s.kernel.rbf_gamma) || s.kernel.rbf_gamma <= 0.0))
    throw Error(fmt::format("--rbf-gamma must be finite and > 0, got {}", s.kernel.rbf_gamma));
  // The automatic node count depends on the largest variance among the points a call sees, so
  // blocks of different points would use different rules: over ranks the count must be fixed.
  if (s.kernel.family != KernelSpec::Family::rbf && needs_quadrature(s.kernel.mlp) && s.kernel.mlp.quadrature_nodes == 0)
    throw Error(fmt::format("{} goes through quadrature, whose automatic node count depends on the points of each block: "
                            "give --nodes N",
                            nn::to_string(s.kernel.mlp.activation)));
}

class FashionMnistSet final : public DataSet {
 public:
  FashionMnistSet(std::filesystem::path dir, data::Split split, std::size_t count) : dir_(std::move(dir)), split_(split) {
    const std::size_t available = data::fashion_mnist_rows(dir_, split_);
    if (count > available)
      throw Error(fmt::format("Fashion-MNIST {} has {} images, {} asked for", data::to_string(split_), available, count));
    rows_ = count == 0 ? available : count;
  }
  std::size_t rows() const override { return rows_; }
  std::size_t dim() const override { return data::kFashionMnistPixels; }
  std::size_t targets() const override { return data::kFashionMnistClasses; }
  std::pair<Tensor, Tensor> load(const std::vector<std::size_t>& rows) const override {
    if (rows.empty()) return {Tensor::empty({0, dim()}), Tensor::empty({0, targets()})};
    const data::FashionMnist set = data::load_fashion_mnist_rows(dir_, split_, rows);
    return {set.images, data::one_hot_targets(set.labels)};
  }
  std::string describe() const override {
    return fmt::format("Fashion-MNIST {} ({} images, standardized per image, one-hot 0.9/-0.1)", data::to_string(split_), rows_);
  }

 private:
  std::filesystem::path dir_;
  data::Split split_;
  std::size_t rows_ = 0;
};

class MatrixFiles final : public DataSet {
 public:
  MatrixFiles(const std::string& inputs, const std::string& targets)
      : name_(fmt::format("{} with targets {}", inputs, targets)), x_(ntk::read_matrix(inputs)), y_(ntk::read_matrix(targets)) {
    if (x_.shape()[0] != y_.shape()[0])
      throw Error(fmt::format("{} has {} rows but {} has {}: one target row per point", inputs, x_.shape()[0], targets,
                              y_.shape()[0]));
  }
  std::size_t rows() const override { return x_.shape()[0]; }
  std::size_t dim() const override { return x_.shape()[1]; }
  std::size_t targets() const override { return y_.shape()[1]; }
  std::pair<Tensor, Tensor> load(const std::vector<std::size_t>& rows) const override {
    return {select_rows(x_, rows), select_rows(y_, rows)};
  }
  std::string describe() const override { return fmt::format("{} ({} x {})", name_, rows(), dim()); }
  double resident_bytes() const override { return 8.0 * static_cast<double>(x_.size() + y_.size()); }

 private:
  std::string name_;
  Tensor x_, y_;
};

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> rows(n);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  return rows;
}

// The test rows split into chunks of test_chunk: [start, start + size).
std::vector<std::pair<std::size_t, std::size_t>> test_chunks(std::size_t m, std::size_t chunk) {
  std::vector<std::pair<std::size_t, std::size_t>> chunks;
  for (std::size_t start = 0; start < m; start += chunk) chunks.emplace_back(start, std::min(chunk, m - start));
  return chunks;
}

}  // namespace

std::string to_string(KernelSpec::Family family) {
  switch (family) {
    case KernelSpec::Family::ntk: return "ntk";
    case KernelSpec::Family::nngp: return "nngp";
    case KernelSpec::Family::rbf: return "rbf";
  }
  return "?";
}

KernelSpec::Family parse_kernel_family(const std::string& name) {
  if (name == "ntk") return KernelSpec::Family::ntk;
  if (name == "nngp") return KernelSpec::Family::nngp;
  if (name == "rbf") return KernelSpec::Family::rbf;
  throw Error(fmt::format("unknown kernel '{}' (ntk, nngp or rbf)", name));
}

std::string KernelSpec::describe() const {
  if (family == Family::rbf) return fmt::format("RBF exp(-{}·|x - x'|²/d)", rbf_gamma);
  return fmt::format("infinite-width {} of {}", to_string(family), mlp.describe());
}

PairKernel KernelSpec::pair_kernel() const {
  if (family == Family::rbf) return [gamma = rbf_gamma](const Tensor& a, const Tensor& b) { return rbf_kernel(a, b, gamma); };
  const ntk::KernelKind kind = family == Family::ntk ? ntk::KernelKind::ntk : ntk::KernelKind::nngp;
  return [mlp = mlp, kind](const Tensor& a, const Tensor& b) { return ntk::infinite_width_kernel(a, b, mlp, kind); };
}

SelfKernel KernelSpec::self_kernel() const {
  if (family == Family::rbf) return [gamma = rbf_gamma](const Tensor& x) { return rbf_kernel(x, x, gamma); };
  const ntk::KernelKind kind = family == Family::ntk ? ntk::KernelKind::ntk : ntk::KernelKind::nngp;
  return [mlp = mlp, kind](const Tensor& x) { return ntk::infinite_width_kernel(x, mlp, kind); };
}

std::unique_ptr<DataSet> fashion_mnist(const std::filesystem::path& dir, data::Split split, std::size_t count) {
  return std::make_unique<FashionMnistSet>(dir, split, count);
}

std::unique_ptr<DataSet> matrix_files(const std::string& inputs, const std::string& targets) {
  return std::make_unique<MatrixFiles>(inputs, targets);
}

MemoryPlan plan_memory(std::size_t n_train, std::size_t n_test, std::size_t dim, std::size_t classes, GridShape grid,
                       int myrow, int mycol, const RegressionSettings& s, double data_set_bytes) {
  const std::size_t nb = s.block;
  const auto count = [nb](std::size_t n, int coord, int procs) { return static_cast<double>(local_count(n, nb, coord, procs)); };
  const double lr = count(n_train, myrow, grid.nprow), lc = count(n_train, mycol, grid.npcol);
  const double lc_targets = count(classes, mycol, grid.npcol);
  double largest_test_rows = 0.0;
  for (const auto& [start, m] : test_chunks(n_test, s.test_chunk))
    largest_test_rows = std::max(largest_test_rows, count(m, myrow, grid.nprow));
  const double chunk = static_cast<double>(std::min(n_test, s.test_chunk)), c = static_cast<double>(classes);
  MemoryPlan p;
  p.train_kernel = 8.0 * lr * lc;
  p.test_kernel = 8.0 * largest_test_rows * lc;
  p.targets = 8.0 * lr * lc_targets;
  // The points of its columns (kept throughout), of one load of its rows and of its rows of a test
  // chunk; the targets of its rows and of that chunk.
  const double row_load = std::min(lr, static_cast<double>(kRowsPerLoad));
  p.points = 8.0 * static_cast<double>(dim) * (lc + row_load + largest_test_rows) + 8.0 * c * (lr + largest_test_rows);
  // The kernel of one panel: the NNGP and NTK of the panel and the copy the caller keeps.
  const double panel = std::min(lr * lc, std::max(static_cast<double>(s.panel_entries), std::max(lr, largest_test_rows)));
  p.workspace = 3.0 * 8.0 * panel;
  // The local predictions and targets of a chunk, the gather buffers, and rank 0's results.
  p.predictions = 8.0 * (2.0 * largest_test_rows * lc_targets + 4.0 * chunk * c + 2.0 * static_cast<double>(n_test) * c);
  p.data_sets = data_set_bytes;
  return p;
}

MemoryPlan plan_memory_max(std::size_t n_train, std::size_t n_test, std::size_t dim, std::size_t classes, GridShape grid,
                           const RegressionSettings& s, double data_set_bytes) {
  MemoryPlan best;
  for (int r = 0; r < grid.nprow; ++r)
    for (int c = 0; c < grid.npcol; ++c) {
      const MemoryPlan p = plan_memory(n_train, n_test, dim, classes, grid, r, c, s, data_set_bytes);
      if (p.total() > best.total()) best = p;
    }
  return best;
}

std::pair<double, double> score(const Tensor& predictions, const Tensor& targets) {
  const std::size_t m = predictions.shape()[0], c = predictions.shape()[1];
  double sum = 0.0;
  std::size_t right = 0;
  for (std::size_t i = 0; i < m; ++i) {
    std::size_t best_p = 0, best_t = 0;
    for (std::size_t j = 0; j < c; ++j) {
      const double p = predictions.flat(i * c + j), t = targets.flat(i * c + j);
      sum += (p - t) * (p - t);
      if (p > predictions.flat(i * c + best_p)) best_p = j;
      if (t > targets.flat(i * c + best_t)) best_t = j;
    }
    right += best_p == best_t ? 1 : 0;
  }
  const double mse = m * c == 0 ? 0.0 : sum / static_cast<double>(m * c);
  const double accuracy = c > 1 && m > 0 ? static_cast<double>(right) / static_cast<double>(m) : -1.0;
  return {mse, accuracy};
}

RegressionResult regress_serial(const DataSet& train, const DataSet& test, const RegressionSettings& s) {
  check_settings(s);
  const auto [x, y] = train.load(all_rows(train.rows()));
  const auto [xt, yt] = test.load(all_rows(test.rows()));
  const std::size_t n = x.shape()[0], c = y.shape()[1];
  Tensor k = s.kernel.self_kernel()(x);
  RegressionResult r;
  double trace = 0.0;
  for (std::size_t i = 0; i < n; ++i) trace += k.flat(i * n + i);
  r.ridge = s.ridge_is_absolute ? s.ridge : s.ridge * trace / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) k.flat(i * n + i) += r.ridge;
  std::vector<double> b(n * c);  // column-major right-hand sides
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < c; ++j) b[j * n + i] = y.flat(i * c + j);
  const int order = static_cast<int>(n), rhs = static_cast<int>(c);
  int info = 0;
  dpotrf_("L", &order, k.data(), &order, &info, 1);  // symmetric: row-major is column-major
  if (info != 0)
    throw Error(fmt::format("the {} x {} kernel + λI is not positive definite (LAPACK dpotrf info {}, λ = {:.3g}): raise "
                            "--ridge",
                            n, n, info, r.ridge));
  dpotrs_("L", &order, &rhs, k.data(), &order, b.data(), &order, &info, 1);
  k = Tensor();
  Tensor alpha = Tensor::empty({n, c});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < c; ++j) alpha.flat(i * c + j) = b[j * n + i];
  r.predictions = autodiff::matmul(s.kernel.pair_kernel()(xt, x), alpha);
  std::tie(r.mse, r.accuracy) = score(r.predictions, yt);
  return r;
}

RegressionResult regress(MPI_Comm comm, const DataSet& train, const DataSet& test, const RegressionSettings& s) {
  RegressionResult r;
  const int me = rank(comm);
  r.ranks = size(comm);
  double clock = MPI_Wtime();
  auto phase = [&](const std::string& name) {
    MPI_Barrier(comm);
    r.phases.push_back({name, seconds_between(clock)});
    clock = MPI_Wtime();
  };
  auto add_time = [&](const std::string& name, double seconds) {
    for (Phase& p : r.phases)
      if (p.name == name) {
        p.seconds += seconds;
        return;
      }
    r.phases.push_back({name, seconds});
  };

  // Settings and shapes, the same on every rank or an error.
  const std::size_t n = train.rows(), m = test.rows(), d = train.dim(), classes = train.targets();
  collectively(comm, [&] {
    check_settings(s);
    if (n == 0 || m == 0) throw Error(fmt::format("no points: {} training and {} test rows", n, m));
    if (test.dim() != d || test.targets() != classes)
      throw Error(fmt::format("training points are {} x {} with {} targets, test points {} x {} with {}", n, d, classes, m,
                              test.dim(), test.targets()));
  });
  require_same(comm, {n, m, d, classes}, [](const Values& low, const Values& high) {
    return fmt::format("the data differ across ranks (training rows {}..{}, test rows {}..{}, dimension {}..{}, "
                       "targets {}..{}): is every rank reading the same files?",
                       low[0], high[0], low[1], high[1], low[2], high[2], low[3], high[3]);
  });
  r.grid = s.grid.nprow > 0 ? s.grid : default_grid_shape(r.ranks);
  const double resident = std::max(train.resident_bytes(), 0.0) + std::max(test.resident_bytes(), 0.0);
  r.planned = plan_memory_max(n, m, d, classes, r.grid, s, resident);
  const int sharing = ranks_on_this_machine(comm);
  collectively(comm, [&] {
    if (s.memory_limit_bytes == 0.0) {  // what this machine has, shared by its ranks
      const double available = available_memory_bytes();
      if (available > 0.0 && r.planned.total() > available / sharing)
        throw Error(fmt::format("needs {:.3g} GB per rank ({:.3g} GB training kernel) on a {}x{} grid, more than this "
                                "machine has available for each of its {} ranks ({:.3g} GB in all): use more ranks on "
                                "more machines",
                                r.planned.total() / 1e9, r.planned.train_kernel / 1e9, r.grid.nprow, r.grid.npcol,
                                sharing, available / 1e9));
    }
    if (r.grid.nprow * r.grid.npcol != r.ranks)
      throw Error(fmt::format("a {}x{} process grid needs {} ranks, running on {}", r.grid.nprow, r.grid.npcol,
                              r.grid.nprow * r.grid.npcol, r.ranks));
    if (s.memory_limit_bytes > 0.0 && r.planned.total() > s.memory_limit_bytes)
      throw Error(fmt::format("needs {:.3g} GB per rank ({:.3g} GB training kernel, {:.3g} GB test kernel) on a {}x{} grid, "
                              "over the limit of {:.3g} GB: use more ranks",
                              r.planned.total() / 1e9, r.planned.train_kernel / 1e9, r.planned.test_kernel / 1e9,
                              r.grid.nprow, r.grid.npcol, s.memory_limit_bytes / 1e9));
  });
  std::optional<Grid> grid;
  std::optional<Layout> layout_k, layout_y;
  const auto chunks = test_chunks(m, s.test_chunk);
  std::vector<Layout> layout_t, layout_p;
  collectively(comm, [&] {
    grid.emplace(comm, r.grid);
    layout_k = make_layout(*grid, n, n, s.block, s.block);
    layout_y = make_layout(*grid, n, classes, s.block, s.block);
    for (const auto& [start, rows] : chunks) {
      layout_t.push_back(make_layout(*grid, rows, n, s.block, s.block));
      layout_p.push_back(make_layout(*grid, rows, classes, s.block, s.block));
    }
  });

  // What this rank keeps: the points of its columns of K (the columns of every test chunk too) and
  // the targets of its rows. The points of its rows are loaded kRowsPerLoad at a time while K is
  // filled, and its test rows chunk by chunk: on a 1 × Q grid a rank's rows are all N training
  // points and all test points, which held whole would not divide over the ranks.
  Tensor y_rows, x_cols;
  collectively(comm, [&] {
    y_rows = train.load(layout_k->global_rows).second;
    x_cols = train.load(layout_k->global_cols).first;
    test.load({0});  // a test file that cannot be read fails now, before the work
    release_free_memory();  // (what loading held, before the kernel takes its share)
  });
  phase("load");

  const PairKernel kernel = s.kernel.pair_kernel();
  Matrix k_train;
  collectively(comm, [&] {
    k_train = zeros(*layout_k);
    const RowPoints rows = [&](std::size_t first, std::size_t last) {
      return train.load(std::vector<std::size_t>(layout_k->global_rows.begin() + static_cast<std::ptrdiff_t>(first),
                                                 layout_k->global_rows.begin() + static_cast<std::ptrdiff_t>(last)))
          .first;
    };
    fill_kernel(k_train, rows, x_cols, kernel, s.panel_entries, s.kernel.self_kernel());
    release_free_memory();  // (the panels' and row loads' tensors, before the solve)
    for (double v : k_train.local)
      if (!std::isfinite(v)) throw Error("the training kernel has non-finite entries (overflow: huge inputs or variances?)");
  });
  phase("train kernel");
  const std::vector<double> whole_kernel = s.verify ? gather(k_train, comm) : std::vector<double>{};

  // λ from the mean diagonal, then the Cholesky solve. ScaLAPACK reads the upper triangle, the
  // entries the single-process path computes (it mirrors them into the lower one).
  double diagonal = 0.0, total_diagonal = 0.0;
  for (std::size_t j = 0; j < layout_k->local_cols(); ++j)
    for (std::size_t i = 0; i < layout_k->local_rows(); ++i)
      if (layout_k->global_rows[i] == layout_k->global_cols[j]) diagonal += k_train.at(i, j);
  MPI_Allreduce(&diagonal, &total_diagonal, 1, MPI_DOUBLE, MPI_SUM, comm);
  r.ridge = s.ridge_is_absolute ? s.ridge : s.ridge * total_diagonal / static_cast<double>(n);
  for (std::size_t j = 0; j < layout_k->local_cols(); ++j)
    for (std::size_t i = 0; i < layout_k->local_rows(); ++i)
      if (layout_k->global_rows[i] == layout_k->global_cols[j]) k_train.at(i, j) += r.ridge;
  Matrix alpha = zeros(*layout_y);
  for (std::size_t j = 0; j < layout_y->local_cols(); ++j)
    for (std::size_t i = 0; i < layout_y->local_rows(); ++i) alpha.at(i, j) = y_rows.flat(i * classes + layout_y->global_cols[j]);
  const int one = 1, order = static_cast<int>(n), rhs = static_cast<int>(classes);
  int info = 0, worst = 0;
  pdpotrf_("U", &order, k_train.local.data(), &one, &one, layout_k->desc.data(), &info, 1);
  MPI_Allreduce(&info, &worst, 1, MPI_INT, MPI_MAX, comm);
  collectively(comm, [&] {
    if (worst > 0)
      throw Error(fmt::format("the {} x {} kernel + λI is not positive definite (ScaLAPACK pdpotrf: the leading minor of "
                              "order {}, λ = {:.3g}): raise --ridge (duplicated points need λ > 0)",
                              n, n, worst, r.ridge));
    if (worst < 0) throw Error(fmt::format("pdpotrf: argument {} is invalid", -worst));
  });
  pdpotrs_("U", &order, &rhs, k_train.local.data(), &one, &one, layout_k->desc.data(), alpha.local.data(), &one, &one,
           layout_y->desc.data(), &info, 1);
  MPI_Allreduce(&info, &worst, 1, MPI_INT, MPI_MAX, comm);
  collectively(comm, [&] {
    if (worst != 0) throw Error(fmt::format("pdpotrs failed (info {})", worst));
  });
  k_train = Matrix();
  phase("solve");

  // Predictions chunk by chunk: the distributed test kernel times A, gathered on rank 0.
  if (me == 0) r.predictions = Tensor::empty({m, classes});
  Tensor targets_all = me == 0 ? Tensor::empty({m, classes}) : Tensor();
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    double start = MPI_Wtime();
    Matrix k_test;
    Tensor x_test, y_test;  // this rank's rows of the chunk
    collectively(comm, [&] {
      std::vector<std::size_t> rows = layout_t[k].global_rows;
      for (std::size_t& i : rows) i += chunks[k].first;
      std::tie(x_test, y_test) = test.load(rows);
      k_test = zeros(layout_t[k]);
      fill_kernel(k_test, x_test, x_cols, kernel, s.panel_entries);
      for (double v : k_test.local)
        if (!std::isfinite(v)) throw Error("the test kernel has non-finite entries (overflow: huge inputs or variances?)");
    });
    add_time("test kernel", seconds_between(start));
    start = MPI_Wtime();
    Matrix p = zeros(layout_p[k]), t = zeros(layout_p[k]);
    for (std::size_t j = 0; j < t.layout.local_cols(); ++j)
      for (std::size_t i = 0; i < t.layout.local_rows(); ++i)
        t.at(i, j) = y_test.flat(i * classes + t.layout.global_cols[j]);
    const int rows = static_cast<int>(chunks[k].second);
    const double unit = 1.0, nothing = 0.0;
    pdgemm_("N", "N", &rows, &rhs, &order, &unit, k_test.local.data(), &one, &one, layout_t[k].desc.data(),
            alpha.local.data(), &one, &one, layout_y->desc.data(), &nothing, p.local.data(), &one, &one,
            layout_p[k].desc.data(), 1, 1);
    const std::vector<double> predictions = gather(p, comm), targets = gather(t, comm);
    if (me == 0) {
      std::copy(predictions.begin(), predictions.end(), r.predictions.data() + chunks[k].first * classes);
      std::copy(targets.begin(), targets.end(), targets_all.data() + chunks[k].first * classes);
    }
    add_time("predict", seconds_between(start));
  }
  clock = MPI_Wtime();
  if (me == 0) std::tie(r.mse, r.accuracy) = score(r.predictions, targets_all);

  if (s.verify) {
    collectively(comm, [&] {
      if (me != 0) return;
      const RegressionResult reference = regress_serial(train, test, s);
      double largest = 0.0, difference = 0.0;
      for (std::size_t i = 0; i < r.predictions.size(); ++i) {
        largest = std::max(largest, std::abs(reference.predictions.flat(i)));
        difference = std::max(difference, std::abs(reference.predictions.flat(i) - r.predictions.flat(i)));
      }
      r.verified = true;
      r.reference_accuracy = reference.accuracy;
      r.reference_mse = reference.mse;
      r.max_relative_difference = largest > 0.0 ? difference / largest : difference;
      const Tensor k = s.kernel.self_kernel()(train.load(all_rows(n)).first);
      largest = difference = 0.0;
      for (std::size_t i = 0; i < n; ++i)  // the upper triangle: what the solves read
        for (std::size_t j = i; j < n; ++j) {
          largest = std::max(largest, std::abs(k.flat(i * n + j)));
          difference = std::max(difference, std::abs(k.flat(i * n + j) - whole_kernel[i * n + j]));
        }
      r.kernel_relative_difference = largest > 0.0 ? difference / largest : difference;
    });
    phase("verify");
  }
  double peak = peak_rss_bytes();
  if (me == 0) r.peak_rss_bytes.resize(static_cast<std::size_t>(r.ranks));
  MPI_Gather(&peak, 1, MPI_DOUBLE, me == 0 ? r.peak_rss_bytes.data() : nullptr, 1, MPI_DOUBLE, 0, comm);
  return r;
}

}  // namespace distributed
