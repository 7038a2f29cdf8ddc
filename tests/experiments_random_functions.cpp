// random-functions through its command line: the post's nets are exactly nn::MLP's PyTorch-default
// nets drawn from seed + k (f recomputed here with predict on the same inputs, bit for bit), the
// empirical covariances are exactly symmetric, the errors positive, and the files bit-identical
// at any thread count.
#include <cmath>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "experiment_runner.hpp"
#include "experiments/common/parallel.hpp"
#include "nn/nn.hpp"

using namespace experiments_test;

namespace {

const Run& quick_run() {
  static const Run r = run("random-functions", "--quick --seed 7", "random_functions_quick");
  return r;
}

}  // namespace

TEST_CASE("random-functions quick run writes its tables and summary") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  CHECK(no_partial_files(r.out));
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t nets = summary["settings"]["nets"], points = summary["settings"]["points"];
  const std::size_t grid = summary["settings"]["grid"];
  CHECK(nets == 10);
  CHECK(summary["post"] == "Understanding the Neural Tangent Kernel, Rajat V D (2019)");
  CHECK(summary["post_section"] == "Setup");
  CHECK(summary["quick"] == true);
  CHECK(summary["seeds"].size() == nets);
  for (const auto& v : summary["verdicts"]) CHECK(v.contains("agrees"));

  const Csv functions = read_csv(r.out / "functions.csv");
  CHECK(functions.columns == std::vector<std::string>{"net", "seed", "x", "f"});
  CHECK(functions.rows.size() == nets * points);
  const Csv kernels = read_csv(r.out / "kernels.csv");
  CHECK(kernels.rows.size() == grid * grid);
  const Csv errors = read_csv(r.out / "covariance_error.csv");
  CHECK(errors.columns == std::vector<std::string>{"sweep", "weights", "estimator", "width", "nets", "block",
                                                   "error_vs_nngp", "error_vs_limit", "noise"});
  std::set<std::string> sweeps, weights, estimators;
  for (std::size_t i = 0; i < errors.rows.size(); ++i) {
    sweeps.insert(errors.text(i, "sweep"));
    weights.insert(errors.text(i, "weights"));
    estimators.insert(errors.text(i, "estimator"));
  }
  CHECK(sweeps == std::set<std::string>{"nets", "width"});
  CHECK(weights == std::set<std::string>{"gaussian", "torch_default"});
  CHECK(estimators == std::set<std::string>{"conditional", "plain"});
  // Width sweep: 3 widths x 2 weights x 2 estimators, one row each.
  std::size_t width_rows = 0;
  for (std::size_t i = 0; i < errors.rows.size(); ++i) width_rows += errors.text(i, "sweep") == "width" ? 1 : 0;
  CHECK(width_rows == 12);
}

TEST_CASE("random-functions f of net k is nn::MLP predict of init(seed + k)") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv functions = read_csv(r.out / "functions.csv");
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t points = summary["settings"]["points"];
  nn::MLPConfig config;
  config.hidden = {100, 100};
  const experiments::BlasThreads single_threaded_blas(1);  // as in the experiment: the same last bits
  const nn::MLP model(config);
  // The same inputs as the experiment (the CSV's x reads back to the same doubles).
  autodiff::Tensor x = autodiff::Tensor::zeros({points, 1});
  for (std::size_t i = 0; i < points; ++i) x.flat(i) = functions.number(i, "x");
  for (std::size_t k : {0, 4, 9}) {
    CHECK(functions.number(k * points, "seed") == static_cast<double>(7 + k));
    const autodiff::Tensor f = model.predict(model.init(7 + k), x);
    for (std::size_t i : {std::size_t{0}, std::size_t{57}, points / 2, points - 1}) {
      CHECK(functions.number(k * points + i, "net") == static_cast<double>(k));
      CHECK(functions.number(k * points + i, "f") == f.flat(i));  // exact
    }
  }
}

TEST_CASE("random-functions covariances are exactly symmetric and errors positive") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t grid = summary["settings"]["grid"];
  const Csv kernels = read_csv(r.out / "kernels.csv");
  for (const char* name : {"empirical_torch_default", "empirical_gaussian", "conditional_torch_default",
                           "conditional_gaussian", "nngp", "torch_limit"})
    for (std::size_t i = 0; i < grid; ++i)
      for (std::size_t j = 0; j < grid; ++j) {
        CHECK(kernels.number(i * grid + j, "x") == kernels.number(j * grid + i, "x2"));
        CHECK(kernels.text(i * grid + j, name) == kernels.text(j * grid + i, name));  // bit for bit
      }
  // The two analytic kernels share their diagonal: E[relu(z)^2] = E[z^2]/2 for any symmetric z.
  for (std::size_t i = 0; i < grid; ++i)
    CHECK(kernels.number(i * grid + i, "torch_limit") == Approx(kernels.number(i * grid + i, "nngp")).epsilon(1e-12));
  const Csv errors = read_csv(r.out / "covariance_error.csv");
  for (std::size_t i = 0; i < errors.rows.size(); ++i) {
    CHECK(errors.number(i, "error_vs_nngp") > 0.0);
    CHECK(errors.number(i, "error_vs_limit") > 0.0);
    CHECK(errors.number(i, "noise") > 0.0);
    if (errors.text(i, "weights") == "gaussian")  // their limit is the NNGP kernel itself
      CHECK(errors.text(i, "error_vs_nngp") == errors.text(i, "error_vs_limit"));
  }
  for (const auto& h : summary["headlines"])
    if (h["name"] == "limit of the torch-default nets vs the NNGP formula") CHECK(h["value"].get<double>() > 0.0);
}

TEST_CASE("random-functions files are the same at one and two threads") {
  const Run one = run("random-functions", "--quick --threads 1", "random_functions_t1");
  const Run two = run("random-functions", "--quick --threads 2", "random_functions_t2");
  REQUIRE(one.status == 0);
  REQUIRE(two.status == 0);
  CHECK(data_files(one.out) == data_files(two.out));
}

TEST_CASE("random-functions refuses bad command lines naming the option") {
  const Run a = run("random-functions", "--quick --grid 1", "random_functions_bad1");
  CHECK(a.status == 2);
  CHECK_THAT(a.err, Catch::Contains("--grid"));
  const Run b = run("random-functions", "--quick --widths 100 10 --width-nets 50 50", "random_functions_bad2");
  CHECK(b.status == 2);
  CHECK_THAT(b.err, Catch::Contains("--widths"));
  const Run c = run("random-functions", "--quick --width-nets 50", "random_functions_bad3");
  CHECK(c.status == 2);
  CHECK_THAT(c.err, Catch::Contains("--width-nets"));
  const Run d = run("random-functions", "--quick --x-min 4 --x-max -4", "random_functions_bad4");
  CHECK(d.status == 2);
  CHECK_THAT(d.err, Catch::Contains("--x-min"));
}
