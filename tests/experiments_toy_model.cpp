// toy-model through its command line: the outputs' shapes, the invariants that hold exactly
// (f(x, w0) = 0, the tangent line through 0 at w0, κ_α·α constant), the loss minimizer solving
// α f(w*) = y, and bit-identical files at any thread count.
#include <cmath>

#include <catch2/catch.hpp>

#include "autodiff/autodiff.hpp"
#include "experiment_runner.hpp"

using namespace experiments_test;

namespace {

double toy(double w, double x) { return (w * x + w * w * x + std::sin(std::exp(0.1 * w))) * (w - 0.4); }

const Run& quick_run() {
  static const Run r = run("toy-model", "--quick", "toy_quick");
  return r;
}

}  // namespace

TEST_CASE("toy-model quick run writes its tables and summary") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  CHECK(no_partial_files(r.out));
  const Csv curves = read_csv(r.out / "curves.csv"), losses = read_csv(r.out / "losses.csv");
  const Csv minima = read_csv(r.out / "minima.csv");
  const auto summary = read_json(r.out / "summary.json");
  const std::size_t alphas = summary["settings"]["alphas"], points = summary["settings"]["points"];
  CHECK(alphas == 12);
  CHECK(minima.rows.size() == alphas);
  CHECK(curves.rows.size() == alphas * points);
  CHECK(losses.rows.size() == 2 * alphas * points);
  CHECK(summary["post"] == "Understanding the Neural Tangent Kernel, Rajat V D (2019)");
  CHECK(summary["quick"] == true);
  for (const auto& v : summary["verdicts"]) CHECK(v.contains("agrees"));
}

TEST_CASE("toy-model invariants hold exactly") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const auto summary = read_json(r.out / "summary.json");
  CHECK(summary["extra"]["f_w0"] == 0.0);  // the model is 0 at w0 = 0.4, exactly
  const Csv curves = read_csv(r.out / "curves.csv");
  for (std::size_t i = 0; i < curves.rows.size(); ++i) {
    const double alpha = curves.number(i, "alpha"), w = curves.number(i, "w");
    CHECK(curves.number(i, "scaled_f") == Approx(alpha * toy(w, 1.5)).epsilon(1e-13).margin(1e-300));
    if (w == 0.4) CHECK(curves.number(i, "tangent") == 0.0);
  }
  const Csv minima = read_csv(r.out / "minima.csv");
  const double kappa_times_alpha = minima.number(0, "kappa_alpha") * minima.number(0, "alpha");
  for (std::size_t i = 0; i < minima.rows.size(); ++i) {
    const double alpha = minima.number(i, "alpha"), w_star = minima.number(i, "w_star");
    CHECK(alpha * toy(w_star, 1.5) == Approx(3.0).epsilon(1e-12));  // the loss is 0 at its minimizer
    CHECK(minima.number(i, "kappa_alpha") * alpha == Approx(kappa_times_alpha).epsilon(1e-14));
  }
  // f'(w0) by hand: f = g(w)·(w − 0.4), so f'(0.4) = g(0.4) = 0.4·1.5 + 0.16·1.5 + sin(e^0.04).
  CHECK(summary["extra"]["f_prime_w0"].get<double>() == Approx(0.84 + std::sin(std::exp(0.04))).epsilon(1e-15));
}

TEST_CASE("toy-model files are the same at one and two threads") {
  const Run one = run("toy-model", "--quick --threads 1", "toy_t1");
  const Run two = run("toy-model", "--quick --threads 2", "toy_t2");
  REQUIRE(one.status == 0);
  REQUIRE(two.status == 0);
  CHECK(data_files(one.out) == data_files(two.out));
}

TEST_CASE("toy-model refuses bad command lines naming the option") {
  const Run a = run("toy-model", "--alphas 1", "toy_bad1");
  CHECK(a.status == 2);
  CHECK_THAT(a.err, Catch::Contains("--alphas"));
  const Run b = run("toy-model", "--points abc", "toy_bad2");
  CHECK(b.status == 2);
  CHECK_THAT(b.err, Catch::Contains("--points"));
  const Run c = run("toy-model", "--w0 1.0", "toy_bad3");  // the model is not 0 there: fine, but f'(w0) must not be 0
  CHECK(c.status == 0);
  const Run d = run("toy-model", "--threads 0", "toy_bad4");
  CHECK(d.status == 2);
  CHECK_THAT(d.err, Catch::Contains("--threads"));
}
