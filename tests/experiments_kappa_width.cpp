// Tests of the kappa-width experiment ("When is the Approximation Accurate?" in "Understanding the
// Neural Tangent Kernel", Rajat V D, 2019): a --quick run end to end through the command line. What
// must hold exactly is checked exactly: κ and the ratio are products of the reported factors (to
// rounding), the notebook's ‖∇y‖ equals its closed form (J Jᵀ is formed exactly for one output), the
// notebook's small widths (dense mode) match the closed-form ‖∇²y‖ to rounding, and the numbers do
// not depend on --threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>

#include "experiment_runner.hpp"

namespace {

using experiments_test::read_csv;
using experiments_test::run;

const experiments_test::Run& quick_run() {
  static const experiments_test::Run r = run("kappa-width", "--quick --threads 2", "kappa_width_quick");
  return r;
}

double relative_difference(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)); }

}  // namespace

TEST_CASE("kappa-width quick run succeeds and writes its files", "[kappa-width]") {
  const auto& r = quick_run();
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(std::filesystem::exists(r.out / "summary.json"));
  CHECK(experiments_test::no_partial_files(r.out));
  const auto summary = experiments_test::read_json(r.out / "summary.json");
  CHECK(summary["quick"] == true);
  CHECK(summary["settings"]["draws"] == 5);
  CHECK(summary["post_section"] == "When is the Approximation Accurate?");
  CHECK(summary["verdicts"].size() >= 15);
  CHECK(summary["extra"]["not_converged_draws"] == 0);
}

TEST_CASE("kappa-width draws table has the expected columns and rows", "[kappa-width]") {
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const auto draws = read_csv(r.out / "draws.csv");
  for (const char* column : {"setting", "parameterization", "depth", "width", "draw", "seed", "residual_norm",
                             "jacobian_norm", "hessian_norm", "kappa", "ratio", "converged", "hessian_products"})
    CHECK_NOTHROW(draws.index(column));
  // Five series (one- and two-hidden in both parameterizations, the notebook), widths <= 300, 5 draws each.
  std::set<std::string> series;
  for (std::size_t i = 0; i < draws.rows.size(); ++i) {
    series.insert(draws.text(i, "setting") + "/" + draws.text(i, "parameterization"));
    CHECK(draws.number(i, "width") <= 300);
    CHECK(draws.number(i, "draw") < 5);
    CHECK(draws.number(i, "seed") == draws.number(i, "draw"));  // --seed 0: draw k uses seed k
  }
  CHECK(series == std::set<std::string>{"notebook/standard", "one-hidden/ntk", "one-hidden/standard", "two-hidden/ntk",
                                        "two-hidden/standard"});
  CHECK(draws.rows.size() % 5 == 0);

  const auto slopes = read_csv(r.out / "slopes.csv");
  for (const char* column : {"setting", "parameterization", "quantity", "statistic", "slope", "ci_low", "ci_high"})
    CHECK_NOTHROW(slopes.index(column));
  CHECK(slopes.rows.size() == 5 * 5 * 2);  // series × quantities × {median, geometric mean}
  for (std::size_t i = 0; i < slopes.rows.size(); ++i) {
    CHECK(slopes.number(i, "ci_low") <= slopes.number(i, "slope") + 1e-12);
    CHECK(slopes.number(i, "slope") <= slopes.number(i, "ci_high") + 1e-12);
  }
}

TEST_CASE("kappa-width kappa and ratio are the products of the reported factors", "[kappa-width]") {
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const auto draws = read_csv(r.out / "draws.csv");
  for (std::size_t i = 0; i < draws.rows.size(); ++i) {
    const double residual = draws.number(i, "residual_norm"), jacobian = draws.number(i, "jacobian_norm");
    const double hessian = draws.number(i, "hessian_norm");
    INFO("row " << i);
    // κ = residual · hessian / jacobian²: a few roundings apart, and the CSV keeps every bit.
    CHECK(relative_difference(draws.number(i, "kappa"), residual * hessian / (jacobian * jacobian)) <= 1e-12);
    CHECK(relative_difference(draws.number(i, "ratio"), hessian / (jacobian * jacobian)) <= 1e-12);
    CHECK(draws.number(i, "converged") == 1);
  }
}

TEST_CASE("kappa-width notebook and one-hidden factors match their closed forms", "[kappa-width]") {
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const auto draws = read_csv(r.out / "draws.csv");
  std::size_t notebook_rows = 0, one_hidden_rows = 0;
  for (std::size_t i = 0; i < draws.rows.size(); ++i) {
    INFO("row " << i << " width " << draws.text(i, "width"));
    const double hessian = draws.number(i, "hessian_norm"), exact_hessian = draws.number(i, "hessian_norm_closed_form");
    if (draws.text(i, "setting") == "notebook") {
      ++notebook_rows;
      // One output: J Jᵀ is a 1×1 matrix formed exactly, so ‖∇y‖ = √Σⱼ(tanh²(aⱼx) + bⱼ²x²sech⁴(aⱼx)) to rounding.
      CHECK(relative_difference(draws.number(i, "jacobian_norm"), draws.number(i, "jacobian_norm_closed_form")) <= 1e-12);
      // Dense mode decomposes the Hessian exactly (LAPACK): the largest |λ| of the 2×2 blocks to rounding.
      if (draws.text(i, "kappa_mode") == "dense") CHECK(relative_difference(hessian, exact_hessian) <= 1e-10);
      // Matrix-free: a value attained by a unit vector, so never above the supremum (to rounding).
      CHECK(hessian <= exact_hessian * (1.0 + 1e-12));
    } else if (draws.text(i, "setting") == "one-hidden") {
      ++one_hidden_rows;
      // ReLU: ‖∇²y‖ = s_v √(max activation-pattern σmax²); the Lanczos value is a lower bound within its tolerance.
      CHECK(hessian <= exact_hessian * (1.0 + 1e-12));
      CHECK(relative_difference(hessian, exact_hessian) <= 1e-4);
    }
  }
  CHECK(notebook_rows > 0);
  CHECK(one_hidden_rows > 0);
}

TEST_CASE("kappa-width data files do not depend on the thread count", "[kappa-width]") {
  const auto one = run("kappa-width", "--quick --threads 1", "kappa_width_threads_1");
  const auto two = run("kappa-width", "--quick --threads 2", "kappa_width_threads_2");
  REQUIRE(one.status == 0);
  REQUIRE(two.status == 0);
  const auto a = experiments_test::data_files(one.out), b = experiments_test::data_files(two.out);
  CHECK(a.size() == 2);
  CHECK(a == b);
}

TEST_CASE("kappa-width rejects bad command lines naming the flag", "[kappa-width]") {
  struct Bad {
    const char* args;
    const char* flag;
  };
  for (const Bad& bad : {Bad{"--draws 1", "--draws"}, Bad{"--tolerance 0.5", "--tolerance"},
                         Bad{"--settings three-hidden", "--settings"},
                         Bad{"--min-width 500 --one-hidden-max 300", "--one-hidden-max"}}) {
    const auto r = run("kappa-width", std::string("--quick ") + bad.args, "kappa_width_bad");
    INFO(bad.args << ": " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(bad.flag) != std::string::npos);
  }
}
