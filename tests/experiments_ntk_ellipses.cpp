// Tests of the ntk-ellipses experiment ("Seeing the Kernel Regime" in "Understanding the Neural
// Tangent Kernel", Rajat V D, 2019), end to end through its command line: a --quick run writes
// the tables the figures are drawn from, and what must hold exactly does — the centred model
// starts at 0, the linearized trajectory starts where the real one does, the NTK is symmetric and
// its eigenvectors (the columns of V) are orthonormal — at any thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "experiment_runner.hpp"

namespace {

using namespace experiments_test;

const std::string kBinary = "ntk-ellipses";

const Run& quick_run() {
  static const Run run = experiments_test::run(kBinary, "--quick --threads 2", "ntk_ellipses_quick");
  return run;
}

const Csv& trajectory() {
  static const Csv csv = read_csv(quick_run().out / "trajectory.csv");
  return csv;
}

}  // namespace

TEST_CASE("ntk-ellipses quick run writes every table and summary", "[experiments][ntk-ellipses]") {
  const Run& run = quick_run();
  INFO(run.err);
  REQUIRE(run.status == 0);
  for (const char* name : {"trajectory.csv", "functions.csv", "runs.csv", "per_alpha.csv", "summary.json"})
    CHECK(fs::exists(run.out / name));
  CHECK(no_partial_files(run.out));
  const auto summary = read_json(run.out / "summary.json");
  CHECK(summary["post_section"] == "Seeing the Kernel Regime");
  CHECK(summary["verdicts"].size() >= 3);
  CHECK(summary["seeds"].size() == 2);
}

TEST_CASE("ntk-ellipses tables have the expected columns and rows", "[experiments][ntk-ellipses]") {
  REQUIRE(quick_run().status == 0);
  const Csv& t = trajectory();
  for (const char* column : {"alpha", "seed", "step", "t", "y1", "y2", "linear_y1", "linear_y2", "h11", "h12", "h21",
                             "h22", "eigenvalue1", "eigenvalue2", "eigenvector1_1", "eigenvector1_2", "eigenvector2_1",
                             "eigenvector2_2"})
    CHECK_NOTHROW(t.index(column));
  // --quick: 3 alphas x 2 seeds x (800 / 20 + 1) records.
  CHECK(t.rows.size() == 3 * 2 * 41);
  const Csv per_alpha = read_csv(quick_run().out / "per_alpha.csv");
  CHECK(per_alpha.rows.size() == 3);
  for (const char* column : {"alpha", "ntk_change_median", "ntk_change_low", "ntk_change_high", "gap_flow_median"})
    CHECK_NOTHROW(per_alpha.index(column));
  const Csv runs = read_csv(quick_run().out / "runs.csv");
  CHECK(runs.rows.size() == 3 * 2);
  // The drawn seed only: 3 alphas x (800 / 40 + 1) snapshots x 51 points.
  const Csv functions = read_csv(quick_run().out / "functions.csv");
  CHECK(functions.rows.size() == 3 * 21 * 51);
  std::set<std::string> seeds;
  for (std::size_t i = 0; i < functions.rows.size(); ++i) seeds.insert(functions.text(i, "seed"));
  CHECK(seeds.size() == 1);
}

TEST_CASE("ntk-ellipses centred outputs and the linearized trajectory start at exactly 0", "[experiments][ntk-ellipses]") {
  REQUIRE(quick_run().status == 0);
  const Csv& t = trajectory();
  std::size_t starts = 0;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    if (t.number(i, "step") != 0.0) continue;
    ++starts;
    for (const char* column : {"y1", "y2", "linear_y1", "linear_y2", "linear_gd_y1", "linear_gd_y2"}) {
      INFO(column << " at row " << i);
      CHECK(t.number(i, column) == 0.0);
    }
  }
  CHECK(starts == 3 * 2);
}

TEST_CASE("ntk-ellipses NTK is symmetric and its eigenvectors orthonormal", "[experiments][ntk-ellipses]") {
  REQUIRE(quick_run().status == 0);
  const Csv& t = trajectory();
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    INFO("row " << i);
    CHECK(t.number(i, "h12") == t.number(i, "h21"));
    const double a = t.number(i, "eigenvector1_1"), b = t.number(i, "eigenvector1_2");
    const double c = t.number(i, "eigenvector2_1"), d = t.number(i, "eigenvector2_2");
    CHECK(std::fabs(a * a + b * b - 1.0) <= 1e-12);
    CHECK(std::fabs(c * c + d * d - 1.0) <= 1e-12);
    CHECK(std::fabs(a * c + b * d) <= 1e-12);
    // V Λ Vᵀ gives back Θ (to 1e-12 of its norm), eigenvalues ascending and positive.
    const double l1 = t.number(i, "eigenvalue1"), l2 = t.number(i, "eigenvalue2");
    CHECK(0.0 < l1);
    CHECK(l1 <= l2);
    const double scale = l2;
    CHECK(std::fabs(l1 * a * a + l2 * c * c - t.number(i, "h11")) <= 1e-12 * scale);
    CHECK(std::fabs(l1 * a * b + l2 * c * d - t.number(i, "h12")) <= 1e-12 * scale);
    CHECK(std::fabs(l1 * b * b + l2 * d * d - t.number(i, "h22")) <= 1e-12 * scale);
  }
}

TEST_CASE("ntk-ellipses gives bit-identical data at 1 and 2 threads", "[experiments][ntk-ellipses]") {
  REQUIRE(quick_run().status == 0);
  const Run one = run(kBinary, "--quick --threads 1", "ntk_ellipses_threads1");
  REQUIRE(one.status == 0);
  check_same_data_files(quick_run().out, one.out);
}

TEST_CASE("ntk-ellipses refuses bad command lines with exit status 2 naming the flag", "[experiments][ntk-ellipses]") {
  check_refused(kBinary, {{"--quick --alphas 0", "--alphas"},
               {"--quick --alphas 5 1", "--alphas"},
               {"--quick --steps 0", "--steps"},
               {"--quick --learning-rate -1", "--learning-rate"},
               {"--quick --seeds x", "--seeds"}});
}
