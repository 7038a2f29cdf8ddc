// Tests of the kappa-alpha experiment ("Scaling the Output" of "Understanding the Neural Tangent
// Kernel", Rajat V D, 2019), end to end through its command line: a --quick run, the shapes of
// its tables, and what must hold exactly or to a tolerance that follows from the math:
//   the centered model outputs exactly 0 at w0 (both terms are the same floating-point computation);
//   κ_α·α is the same at every α to 1e-8 relative (κ at tolerance 1e-10: the residual and ‖∇y‖
//   scale exactly, ‖∇²y‖ is a Lanczos estimate accurate to the tolerance);
//   NTK and weight changes are ≥ 0, and exactly 0 after 0 steps;
//   --threads 1 and --threads 2 write bit-identical data;
//   a bad command line exits with status 2 naming the flag.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "experiment_runner.hpp"
#include "nn/nn.hpp"

namespace {

using namespace experiments_test;

const Run& quick_run() {
  static const Run r = run("kappa-alpha", "--quick --threads 2", "kappa_alpha_quick");
  return r;
}

// Rows of a table grouped by the seed column.
std::map<std::string, std::vector<std::size_t>> rows_by_seed(const Csv& csv) {
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < csv.rows.size(); ++i) groups[csv.text(i, "seed")].push_back(i);
  return groups;
}

}  // namespace

TEST_CASE("kappa-alpha: a quick run writes its tables and summary", "[kappa-alpha]") {
  const Run& r = quick_run();
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(fs::exists(r.out / "summary.json"));
  CHECK(no_partial_files(r.out));

  // --quick: 5 alpha values × 3 seeds.
  const Csv kappa = read_csv(r.out / "kappa.csv");
  CHECK(kappa.columns == std::vector<std::string>{"alpha", "seed", "kappa", "residual_norm", "jacobian_norm",
                                                  "hessian_norm", "ratio", "kappa_times_alpha", "output_at_w0",
                                                  "converged", "hessian_products"});
  CHECK(kappa.rows.size() == 15);
  const Csv training = read_csv(r.out / "training.csv");
  CHECK(training.columns == std::vector<std::string>{"alpha", "seed", "ntk_change", "weight_change", "initial_loss",
                                                     "final_loss", "relative_residual", "linearized_relative_residual",
                                                     "activation_flips", "stability_start", "stability_end",
                                                     "diverged", "steps_done"});
  CHECK(training.rows.size() == 15);
  const Csv per_alpha = read_csv(r.out / "per_alpha.csv");
  // ntk_change, weight_change, relative_residual, activation_flips, stability_end per alpha
  CHECK(per_alpha.rows.size() == 5 * 5);

  const auto summary = read_json(r.out / "summary.json");
  CHECK(summary["post_section"] == "Scaling the Output");
  CHECK(summary["settings"]["alphas"] == 5);
  CHECK(summary["settings"]["seeds"] == 3);
  CHECK(summary["settings"]["steps"] == 300);
  CHECK(summary["seeds"].size() == 3);
  CHECK(!summary["verdicts"].empty());
  // alpha = 10^linspace(-2, 3, 5), smallest and largest exact enough to name the post's values.
  CHECK(std::fabs(kappa.number(0, "alpha") - 0.01) < 1e-15);
  CHECK(std::fabs(kappa.number(kappa.rows.size() - 1, "alpha") - 1000.0) < 1e-9);
}

TEST_CASE("kappa-alpha: kappa_alpha times alpha is the same at every alpha to 1e-8", "[kappa-alpha]") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv kappa = read_csv(r.out / "kappa.csv");
  const auto groups = rows_by_seed(kappa);
  REQUIRE(groups.size() == 3);
  for (const auto& [seed, rows] : groups) {
    INFO("seed " << seed);
    REQUIRE(rows.size() == 5);
    const double first = kappa.number(rows.front(), "kappa_times_alpha");
    REQUIRE(first > 0.0);
    for (std::size_t i : rows) {
      CHECK(kappa.text(i, "converged") == "1");
      CHECK(std::fabs(kappa.number(i, "kappa_times_alpha") / first - 1.0) < 1e-8);
      // y(w0) = 0: the residual is ‖ȳ‖ = √10 at every alpha, and κ = residual · ratio.
      CHECK(kappa.number(i, "residual_norm") == kappa.number(rows.front(), "residual_norm"));
      CHECK(std::fabs(kappa.number(i, "residual_norm") - std::sqrt(10.0)) < 1e-14);
    }
  }
}

TEST_CASE("kappa-alpha: the centered model outputs exactly 0 at initialization", "[kappa-alpha]") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv kappa = read_csv(r.out / "kappa.csv");
  for (double v : kappa.numbers("output_at_w0")) CHECK(v == 0.0);

  // And through the library, the model the experiment builds.
  nn::MLPConfig config;
  config.hidden = {100, 100};
  const auto net = std::make_shared<const nn::MLP>(config);
  autodiff::Tensor x = autodiff::Tensor::zeros({2, 1});
  x.flat(0) = -2.0;
  x.flat(1) = 0.5;
  for (std::uint64_t seed : {0u, 1u, 7u})
    for (double alpha : {0.01, 1.0, 1000.0}) {
      const auto model = nn::scaled(nn::centered(net, seed), alpha);
      const autodiff::Tensor y = model->predict(model->init(seed), x);
      CHECK(y.flat(0) == 0.0);
      CHECK(y.flat(1) == 0.0);
    }
}

TEST_CASE("kappa-alpha: NTK and weight changes are nonnegative and the diverged flag is 0 or 1", "[kappa-alpha]") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv training = read_csv(r.out / "training.csv");
  for (std::size_t i = 0; i < training.rows.size(); ++i) {
    const std::string diverged = training.text(i, "diverged");
    REQUIRE((diverged == "0" || diverged == "1"));
    if (diverged == "1") continue;
    CHECK(training.number(i, "ntk_change") >= 0.0);
    CHECK(training.number(i, "weight_change") >= 0.0);
    CHECK(training.number(i, "final_loss") >= 0.0);
    CHECK(training.number(i, "steps_done") == 300.0);
  }
}

TEST_CASE("kappa-alpha: a 0-step run moves neither the weights nor the NTK", "[kappa-alpha]") {
  const Run r = run("kappa-alpha", "--quick --threads 2 --steps 0", "kappa_alpha_no_steps");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const Csv training = read_csv(r.out / "training.csv");
  REQUIRE(training.rows.size() == 15);
  for (std::size_t i = 0; i < training.rows.size(); ++i) {
    CHECK(training.number(i, "weight_change") == 0.0);
    CHECK(training.number(i, "ntk_change") == 0.0);
    CHECK(training.number(i, "activation_flips") == 0.0);
    CHECK(training.number(i, "final_loss") == training.number(i, "initial_loss"));
    CHECK(training.text(i, "diverged") == "0");
  }
}

TEST_CASE("kappa-alpha: --threads 1 and --threads 2 write bit-identical data", "[kappa-alpha]") {
  const Run& two = quick_run();
  REQUIRE(two.status == 0);
  const Run one = run("kappa-alpha", "--quick --threads 1", "kappa_alpha_one_thread");
  INFO(one.err);
  REQUIRE(one.status == 0);
  const auto a = data_files(one.out), b = data_files(two.out);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == a.size());
  for (const auto& [name, bytes] : a) {
    INFO(name);
    REQUIRE(b.count(name) == 1);
    CHECK(bytes == b.at(name));
  }
}

TEST_CASE("kappa-alpha: a bad command line exits with status 2 naming the flag", "[kappa-alpha]") {
  const std::pair<const char*, const char*> cases[] = {
      {"--alphas 1", "--alphas"},
      {"--lr 0", "--lr"},
      {"--seeds 0", "--seeds"},
      {"--log10-alpha-min 3 --log10-alpha-max -2", "--log10-alpha-min"},
  };
  int n = 0;
  for (const auto& [args, flag] : cases) {
    INFO(args);
    const Run r = run("kappa-alpha", std::string("--quick ") + args, "kappa_alpha_bad_" + std::to_string(n++));
    CHECK(r.status == 2);
    CHECK(r.err.find(flag) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}
