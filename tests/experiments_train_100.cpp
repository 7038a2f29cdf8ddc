// train-100 through its command line: the loss at step 0 is ½‖f(x) − y‖² of nn::MLP's initial net
// (seed + k), exactly (the library's sum of squares); the step-0 snapshot is that net's predict on
// the grid, exactly; the loss of every net never rises (gradient descent at lr 1e-3 on a smooth-enough loss: a rise would mean
// the step is too large for the local curvature); files are bit-identical at any thread count.
#include <cmath>

#include <catch2/catch.hpp>

#include "autodiff/ops.hpp"
#include "experiment_runner.hpp"
#include "experiments/common/parallel.hpp"
#include "nn/nn.hpp"

using namespace experiments_test;

namespace {

const Run& quick_run() {
  static const Run r = run("train-100", "--quick --seed 3", "train_100_quick");
  return r;
}

nn::MLP post_net() {
  nn::MLPConfig config;
  config.hidden = {100, 100};
  return nn::MLP(config);
}

}  // namespace

TEST_CASE("train-100 quick run writes its tables and summary") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  CHECK(no_partial_files(r.out));
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t nets = summary["settings"]["nets"], steps = summary["settings"]["steps"];
  const std::size_t frames = summary["settings"]["frames"], points = summary["settings"]["points"];
  CHECK(nets == 10);
  CHECK(summary["post"] == "Understanding the Neural Tangent Kernel, Rajat V D (2019)");
  CHECK(summary["post_section"] == "Setup");
  CHECK(summary["seeds"].size() == nets);
  for (const auto& v : summary["verdicts"]) CHECK(v.contains("agrees"));
  const Csv losses = read_csv(r.out / "losses.csv"), snapshots = read_csv(r.out / "snapshots.csv");
  CHECK(losses.columns == std::vector<std::string>{"net", "step", "loss"});
  CHECK(snapshots.columns == std::vector<std::string>{"net", "step", "x", "f"});
  CHECK(losses.rows.size() == nets * (steps + 1));
  CHECK(snapshots.rows.size() == nets * frames * points);
  CHECK(snapshots.number(0, "step") == 0.0);
  CHECK(snapshots.number(snapshots.rows.size() - 1, "step") == static_cast<double>(steps));
}

TEST_CASE("train-100 step 0 is the initial net exactly") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t steps = summary["settings"]["steps"], frames = summary["settings"]["frames"];
  const std::size_t points = summary["settings"]["points"];
  const Csv losses = read_csv(r.out / "losses.csv"), snapshots = read_csv(r.out / "snapshots.csv");
  const experiments::BlasThreads single_threaded_blas(1);  // as in the experiment: the same last bits
  const nn::MLP model = post_net();
  autodiff::Tensor x = autodiff::Tensor::zeros({2, 1});
  x.flat(0) = -3.0;
  x.flat(1) = 0.5;
  const double y[] = {2.0, -1.0};
  autodiff::Tensor targets = autodiff::Tensor::zeros({2, 1});
  targets.flat(0) = y[0];
  targets.flat(1) = y[1];
  autodiff::Tensor grid = autodiff::Tensor::zeros({points, 1});
  for (std::size_t i = 0; i < points; ++i) grid.flat(i) = snapshots.number(i, "x");
  for (std::size_t k = 0; k < 10; ++k) {
    const autodiff::Tensor w0 = model.init(3 + k);
    const autodiff::Tensor f = model.predict(w0, x);
    const double d0 = f.flat(0) - y[0], d1 = f.flat(1) - y[1];
    CHECK(losses.number(k * (steps + 1), "step") == 0.0);
    // Exact, with the library's own sum of squares (whether a*a + b*b is contracted to an FMA is
    // the compiler's choice, so a hand-written sum may differ in the last bit) ...
    CHECK(losses.number(k * (steps + 1), "loss") == 0.5 * autodiff::squared_distance(f, targets).item());
    // ... and to the last bits of the hand-written formula.
    CHECK(losses.number(k * (steps + 1), "loss") == Approx(0.5 * (d0 * d0 + d1 * d1)).epsilon(4e-16));
    const autodiff::Tensor on_grid = model.predict(w0, grid);
    for (std::size_t i : {std::size_t{0}, points / 3, points - 1})
      CHECK(snapshots.number(k * frames * points + i, "f") == on_grid.flat(i));  // exact
  }
}

TEST_CASE("train-100 loss never rises and falls overall") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t steps = summary["settings"]["steps"];
  const Csv losses = read_csv(r.out / "losses.csv");
  for (std::size_t k = 0; k < 10; ++k) {
    for (std::size_t t = 1; t <= steps; ++t)
      CHECK(losses.number(k * (steps + 1) + t, "loss") <= losses.number(k * (steps + 1) + t - 1, "loss"));
    CHECK(losses.number(k * (steps + 1) + steps, "loss") < losses.number(k * (steps + 1), "loss"));
  }
}

TEST_CASE("train-100 files are the same at one and two threads") {
  const Run one = run("train-100", "--quick --threads 1", "train_100_t1");
  const Run two = run("train-100", "--quick --threads 2", "train_100_t2");
  REQUIRE(one.status == 0);
  REQUIRE(two.status == 0);
  CHECK(data_files(one.out) == data_files(two.out));
}

TEST_CASE("train-100 refuses bad command lines naming the option") {
  const Run a = run("train-100", "--quick --lr -1", "train_100_bad1");
  CHECK(a.status == 2);
  CHECK_THAT(a.err, Catch::Contains("--lr"));
  const Run b = run("train-100", "--quick --x 1 2 3", "train_100_bad2");
  CHECK(b.status == 2);
  CHECK_THAT(b.err, Catch::Contains("--x"));
  const Run c = run("train-100", "--quick --frames 500", "train_100_bad3");
  CHECK(c.status == 2);
  CHECK_THAT(c.err, Catch::Contains("--frames"));
  const Run d = run("train-100", "--quick --steps abc", "train_100_bad4");
  CHECK(d.status == 2);
  CHECK_THAT(d.err, Catch::Contains("--steps"));
}
