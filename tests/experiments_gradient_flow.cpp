// Tests of the gradient-flow experiment ("Gradient Flow" in "Understanding the Neural Tangent
// Kernel", Rajat V D, 2019), end to end through its command line: a --quick run writes the mode
// tables the figures are drawn from, and at t = 0 the real and the linear components are the same
// numbers, Vᵀu(0) — with V the eigenvectors written beside them — at any thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <tuple>

#include "experiment_runner.hpp"

namespace {

using namespace experiments_test;

const std::string kBinary = "gradient-flow";

const Run& quick_run() {
  static const Run run = experiments_test::run(kBinary, "--quick --threads 2", "gradient_flow_quick");
  return run;
}

const Csv& modes() {
  static const Csv csv = read_csv(quick_run().out / "modes.csv");
  return csv;
}

using DrawKey = std::tuple<std::string, std::string, std::string>;  // dataset, width, seed

}  // namespace

TEST_CASE("gradient-flow quick run writes every table and summary", "[experiments][gradient-flow]") {
  const Run& run = quick_run();
  INFO(run.err);
  REQUIRE(run.status == 0);
  for (const char* name : {"modes.csv", "eigenvectors.csv", "rates.csv", "mode_rates.csv", "nets.csv", "summary.json"})
    CHECK(fs::exists(run.out / name));
  CHECK(no_partial_files(run.out));
  const auto summary = read_json(run.out / "summary.json");
  CHECK(summary["post_section"] == "Gradient Flow");
  CHECK(summary["verdicts"].size() >= 8);
}

TEST_CASE("gradient-flow tables have the expected columns and rows", "[experiments][gradient-flow]") {
  REQUIRE(quick_run().status == 0);
  const Csv& m = modes();
  for (const char* column : {"dataset", "width", "seed", "step", "t", "mode", "eigenvalue", "real_component",
                             "linear_component"})
    CHECK_NOTHROW(m.index(column));
  // --quick: 2 widths x 2 seeds x (400 / 10 + 1) records x (8 + 2) modes over the two data sets.
  CHECK(m.rows.size() == 2 * 2 * 41 * (8 + 2));
  const Csv nets = read_csv(quick_run().out / "nets.csv");
  CHECK(nets.rows.size() == 2 * 2 * 2);
  for (std::size_t i = 0; i < nets.rows.size(); ++i) CHECK(nets.number(i, "kappa") > 0.0);
  CHECK(read_csv(quick_run().out / "rates.csv").rows.size() == 2 * 2 * (8 + 2));
  CHECK(read_csv(quick_run().out / "mode_rates.csv").rows.size() == 2 * (8 + 2));
}

TEST_CASE("gradient-flow components at t = 0 are the same for real and linear and equal V^T u0",
          "[experiments][gradient-flow]") {
  REQUIRE(quick_run().status == 0);
  const Csv& m = modes();
  // Vᵀu(0) from the eigenvectors and residuals written beside the modes.
  const Csv v = read_csv(quick_run().out / "eigenvectors.csv");
  std::map<std::pair<DrawKey, std::string>, double> projection;
  std::map<DrawKey, double> u0_norm2;
  for (std::size_t i = 0; i < v.rows.size(); ++i) {
    const DrawKey key{v.text(i, "dataset"), v.text(i, "width"), v.text(i, "seed")};
    projection[{key, v.text(i, "mode")}] += v.number(i, "eigenvector") * v.number(i, "u0");
    if (v.text(i, "mode") == "0") u0_norm2[key] += v.number(i, "u0") * v.number(i, "u0");
  }
  std::size_t checked = 0;
  std::map<DrawKey, double> components_norm2;
  for (std::size_t i = 0; i < m.rows.size(); ++i) {
    if (m.number(i, "step") != 0.0) continue;
    ++checked;
    const DrawKey key{m.text(i, "dataset"), m.text(i, "width"), m.text(i, "seed")};
    const double real = m.number(i, "real_component"), linear = m.number(i, "linear_component");
    INFO("row " << i);
    CHECK(real == linear);
    CHECK(std::fabs(real - projection.at({key, m.text(i, "mode")})) <= 1e-12 * std::sqrt(u0_norm2.at(key)));
    components_norm2[key] += real * real;
  }
  CHECK(checked == 2 * 2 * (8 + 2));
  // V is orthogonal: the components keep ‖u0‖.
  for (const auto& [key, norm2] : components_norm2) CHECK(std::fabs(norm2 - u0_norm2.at(key)) <= 1e-12 * u0_norm2.at(key));
}

TEST_CASE("gradient-flow eigenvectors are orthonormal", "[experiments][gradient-flow]") {
  REQUIRE(quick_run().status == 0);
  const Csv v = read_csv(quick_run().out / "eigenvectors.csv");
  std::map<DrawKey, std::map<int, std::map<int, double>>> vectors;  // draw -> mode -> point -> value
  for (std::size_t i = 0; i < v.rows.size(); ++i)
    vectors[{v.text(i, "dataset"), v.text(i, "width"), v.text(i, "seed")}][std::stoi(v.text(i, "mode"))]
           [std::stoi(v.text(i, "point"))] = v.number(i, "eigenvector");
  for (const auto& [key, by_mode] : vectors)
    for (const auto& [a, va] : by_mode)
      for (const auto& [b, vb] : by_mode) {
        double dot = 0.0;
        for (const auto& [p, value] : va) dot += value * vb.at(p);
        CHECK(std::fabs(dot - (a == b ? 1.0 : 0.0)) <= 1e-12);
      }
}

TEST_CASE("gradient-flow gives bit-identical data at 1 and 2 threads", "[experiments][gradient-flow]") {
  REQUIRE(quick_run().status == 0);
  const Run one = run(kBinary, "--quick --threads 1", "gradient_flow_threads1");
  REQUIRE(one.status == 0);
  check_same_data_files(quick_run().out, one.out);
}

TEST_CASE("gradient-flow refuses bad command lines with exit status 2 naming the flag", "[experiments][gradient-flow]") {
  check_refused(kBinary, {{"--quick --widths 100 10", "--widths"},
               {"--quick --datasets mnist", "--datasets"},
               {"--quick --seeds 1", "--seeds"},
               {"--quick --lr-fraction 2", "--lr-fraction"}});
}
