// Tests of the infinite-width experiment (the remark "An additional point" in "Seeing the Kernel
// Regime", "Understanding the Neural Tangent Kernel", Rajat V D, 2019): a --quick run end to end
// through the command line. Checked: the files and their shapes, errors positive and finite and
// smaller at the largest quick width than at the smallest, the identities that hold exactly (the
// analytic kernels are symmetric, the per-width norms are the plain ones divided by a power of
// two, the references do not depend on the seed), the analytic relu NTK of the post's two inputs
// against the arc-cosine formula worked by hand, the same numbers at any thread count, and bad
// command lines.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <set>
#include <string>
#include <tuple>

#include "experiment_runner.hpp"

namespace {

using namespace experiments_test;

const Run& quick_run() {
  static const Run run = experiments_test::run("infinite-width", "--quick --threads 2", "infinite_width_quick");
  return run;
}

// The --quick settings (see experiments/infinite_width.cpp).
constexpr std::size_t kQuickWidths = 5;  // 2^4 .. 2^8, both depths
constexpr std::size_t kQuickSeeds = 3;
constexpr std::size_t kGridPoints = 16, kPostPoints = 2;

// (depth, activation, parameterization, inputs, reference) -> width -> errors over seeds.
using Curve = std::map<double, std::vector<double>>;
std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, Curve> curves(const Csv& errors) {
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, Curve> out;
  for (std::size_t r = 0; r < errors.rows.size(); ++r)
    out[{errors.text(r, "depth"), errors.text(r, "activation"), errors.text(r, "parameterization"),
         errors.text(r, "inputs"), errors.text(r, "reference")}][errors.number(r, "width")]
        .push_back(errors.number(r, "rel_error"));
  return out;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const std::size_t n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
}

}  // namespace

TEST_CASE("infinite-width quick run writes every file", "[experiments][infinite-width]") {
  const Run& run = quick_run();
  INFO(run.err);
  REQUIRE(run.status == 0);
  for (const char* file : {"errors.csv", "slopes.csv", "kernels.csv", "summary.json"})
    CHECK(fs::exists(run.out / file));
  CHECK(no_partial_files(run.out));
  const auto summary = read_json(run.out / "summary.json");
  CHECK(summary["post_section"] == "Seeing the Kernel Regime");
  CHECK(summary["verdicts"].size() > 0);
  CHECK(summary["headlines"].size() > 0);
}

TEST_CASE("infinite-width tables have the expected columns and rows", "[experiments][infinite-width]") {
  const Run& run = quick_run();
  REQUIRE(run.status == 0);
  const Csv errors = read_csv(run.out / "errors.csv");
  CHECK(errors.columns == std::vector<std::string>{"depth", "activation", "parameterization", "inputs", "width", "seed",
                                                   "net_seed", "reference", "rel_error", "empirical_norm",
                                                   "reference_norm"});
  // Per depth, width, seed and activation: the 1-D net gives the post's pair and the grid, the
  // 10-D net the Gaussian points; the NTK parameterization one reference each, the standard two.
  const std::size_t per_net_rows = (2 + 1) * (1 + 2);
  CHECK(errors.rows.size() == 2 * kQuickWidths * kQuickSeeds * 2 * per_net_rows);
  for (const auto& [key, curve] : curves(errors)) {
    CHECK(curve.size() == kQuickWidths);
    for (const auto& [width, values] : curve) CHECK(values.size() == kQuickSeeds);
  }

  const Csv kernels = read_csv(run.out / "kernels.csv");
  CHECK(kernels.columns == std::vector<std::string>{"depth", "activation", "parameterization", "inputs", "kernel", "width",
                                                    "seed", "normalization", "i", "j", "x_i", "x_j", "value"});
  // 2 depths x 2 activations x 2 parameterizations x (the limit + seed 0 at 2 widths) x (2² + 16²).
  CHECK(kernels.rows.size() == 8 * 3 * (kPostPoints * kPostPoints + kGridPoints * kGridPoints));

  const Csv slopes = read_csv(run.out / "slopes.csv");
  CHECK(slopes.columns == std::vector<std::string>{"depth", "activation", "parameterization", "inputs", "reference",
                                                   "quantity", "statistic", "fit_range", "width_min", "width_max",
                                                   "slope", "ci_low", "ci_high", "expected_low", "expected_high",
                                                   "agrees"});
  // 36 curves (2 depths x 2 activations x 3 input sets x 3 references: ntk, standard, per-width),
  // 3 statistics x 2 fit ranges each, and a norm-growth fit for the 24 that are not per-width.
  CHECK(slopes.rows.size() == 36 * 6 + 24);
  for (std::size_t r = 0; r < slopes.rows.size(); ++r) {
    CHECK(std::isfinite(slopes.number(r, "slope")));
    CHECK(slopes.number(r, "ci_low") <= slopes.number(r, "slope"));
    CHECK(slopes.number(r, "slope") <= slopes.number(r, "ci_high"));
  }
}

TEST_CASE("infinite-width errors are positive and finite and fall with width", "[experiments][infinite-width]") {
  const Run& run = quick_run();
  REQUIRE(run.status == 0);
  const Csv errors = read_csv(run.out / "errors.csv");
  for (std::size_t r = 0; r < errors.rows.size(); ++r) {
    for (const char* column : {"rel_error", "empirical_norm", "reference_norm"}) {
      INFO("row " << r << " " << column);
      CHECK(std::isfinite(errors.number(r, column)));
      CHECK(errors.number(r, column) > 0.0);
    }
  }
  for (const auto& [key, curve] : curves(errors)) {
    const auto& [depth, activation, parameterization, inputs, reference] = key;
    INFO("depth " << depth << " " << activation << " " << parameterization << " " << inputs << " " << reference);
    CHECK(median(curve.rbegin()->second) < median(curve.begin()->second));
  }
}

TEST_CASE("infinite-width exact identities between the columns", "[experiments][infinite-width]") {
  const Run& run = quick_run();
  REQUIRE(run.status == 0);
  const Csv errors = read_csv(run.out / "errors.csv");
  // The NTK-parameterization reference is the width-independent limit, and the per-width limit
  // of the standard one too: one norm for each curve, whatever the width or seed. The standard
  // reference at width n is a different kernel for every n (it grows with n).
  std::map<std::string, std::set<std::string>> reference_norms;  // key -> distinct norms (as written)
  std::map<std::string, std::string> at_width_norm;              // key + width + seed -> empirical norm
  for (std::size_t r = 0; r < errors.rows.size(); ++r) {
    const std::string curve = errors.text(r, "depth") + " " + errors.text(r, "activation") + " " +
                              errors.text(r, "parameterization") + " " + errors.text(r, "inputs");
    const std::string reference = errors.text(r, "reference");
    if (reference != "standard-at-width") reference_norms[curve + " " + reference].insert(errors.text(r, "reference_norm"));
    else reference_norms[curve + " " + reference + " " + errors.text(r, "width")].insert(errors.text(r, "reference_norm"));
    if (reference == "standard-at-width")
      at_width_norm[curve + " " + errors.text(r, "width") + " " + errors.text(r, "seed")] = errors.text(r, "empirical_norm");
  }
  for (const auto& [key, norms] : reference_norms) {
    INFO(key);
    CHECK(norms.size() == 1);
  }
  // Per-width rows hold ‖Θ_emp‖/n: with n a power of two, exactly the plain norm divided by n.
  std::size_t checked = 0;
  for (std::size_t r = 0; r < errors.rows.size(); ++r) {
    if (errors.text(r, "reference") != "per-width-limit") continue;
    const std::string curve = errors.text(r, "depth") + " " + errors.text(r, "activation") + " " +
                              errors.text(r, "parameterization") + " " + errors.text(r, "inputs");
    const double plain = std::stod(at_width_norm.at(curve + " " + errors.text(r, "width") + " " + errors.text(r, "seed")));
    CHECK(errors.number(r, "empirical_norm") * errors.number(r, "width") == plain);
    ++checked;
  }
  CHECK(checked == 2 * kQuickWidths * kQuickSeeds * 2 * 3);
}

TEST_CASE("infinite-width analytic kernels are exactly symmetric", "[experiments][infinite-width]") {
  const Run& run = quick_run();
  REQUIRE(run.status == 0);
  const Csv kernels = read_csv(run.out / "kernels.csv");
  std::map<std::string, std::string> value;  // "<kernel key> i j" -> value as written
  const auto key_of = [&](std::size_t r) {
    return kernels.text(r, "depth") + " " + kernels.text(r, "activation") + " " + kernels.text(r, "parameterization") +
           " " + kernels.text(r, "inputs") + " " + kernels.text(r, "kernel") + " " + kernels.text(r, "width");
  };
  for (std::size_t r = 0; r < kernels.rows.size(); ++r)
    value[key_of(r) + " " + kernels.text(r, "i") + " " + kernels.text(r, "j")] = kernels.text(r, "value");
  std::size_t checked = 0;
  for (std::size_t r = 0; r < kernels.rows.size(); ++r) {
    if (kernels.text(r, "kernel") != "infinite") continue;
    const std::string mirrored = key_of(r) + " " + kernels.text(r, "j") + " " + kernels.text(r, "i");
    INFO(mirrored);
    CHECK(value.at(mirrored) == kernels.text(r, "value"));  // the same decimal: the same double
    ++checked;
  }
  CHECK(checked == 8 * (kPostPoints * kPostPoints + kGridPoints * kGridPoints));
}

TEST_CASE("infinite-width relu NTK of the post's two inputs matches the arc-cosine formula by hand",
          "[experiments][infinite-width]") {
  const Run& run = quick_run();
  REQUIRE(run.status == 0);
  // One hidden relu layer, NTK parameterization, the experiment's defaults σ_w² = 2, σ_b² = 0.1,
  // d = 1, x = −2, x′ = 0.5 (the post's two training inputs).
  //   first Dense:  K1(x, x′) = σ_w² x x′ + σ_b²:  q = K1(x, x) = 2·4 + 0.1 = 8.1,
  //                 q′ = K1(x′, x′) = 2·0.25 + 0.1 = 0.6,  c = K1(x, x′) = 2·(−1) + 0.1 = −1.9;
  //                 Θ1 = K1 (the input NTK is 0).
  //   relu:         ρ = c/√(q q′), θ = arccos ρ;
  //                 E[relu(u) relu(v)] = √(q q′)/(2π)·(sin θ + (π − θ) cos θ),  E[step(u) step(v)] = (π − θ)/(2π);
  //                 on the diagonal θ = 0: q/2 and 1/2.
  //   readout:      K2 = σ_w² E[relu relu] + σ_b²,  Θ2 = σ_w² Θ1 E[step step] + K2.
  // Off the diagonal: √(q q′) = 2.20454, ρ = −0.86186, θ = 2.60972, sin θ = 0.50715, so
  // E[relu relu] = 0.0171045, E[step step] = 0.0846506, K2 = 0.134209 and
  // Θ2(x, x′) = 2·(−1.9)·0.0846506 + 0.134209 = −0.18746.
  // Diagonal: Θ2(x, x) = σ_w² q/2 + σ_w² q/2 + σ_b² = σ_w² q + σ_b² = 16.3, and Θ2(x′, x′) = 1.3.
  const double pi = std::numbers::pi, sw2 = 2.0, sb2 = 0.1;
  const double q = 8.1, q_prime = 0.6, c = -1.9;
  const double rho = c / std::sqrt(q * q_prime);  // −0.86186
  const double theta = std::acos(rho);            // 2.60972 rad
  const double relu_relu = std::sqrt(q * q_prime) / (2 * pi) * (std::sin(theta) + (pi - theta) * std::cos(theta));
  const double step_step = (pi - theta) / (2 * pi);
  const double k2 = sw2 * relu_relu + sb2;
  const double off_diagonal = sw2 * c * step_step + k2;  // −0.18746
  CHECK(std::abs(off_diagonal + 0.18746) < 1e-5);         // the hand arithmetic above, to 5 places

  const Csv kernels = read_csv(run.out / "kernels.csv");
  std::map<std::pair<int, int>, double> ntk;
  for (std::size_t r = 0; r < kernels.rows.size(); ++r)
    if (kernels.text(r, "depth") == "1" && kernels.text(r, "activation") == "relu" &&
        kernels.text(r, "parameterization") == "ntk" && kernels.text(r, "inputs") == "post" &&
        kernels.text(r, "kernel") == "infinite") {
      CHECK(kernels.number(r, "x_i") == (kernels.text(r, "i") == "0" ? -2.0 : 0.5));
      ntk[{std::stoi(kernels.text(r, "i")), std::stoi(kernels.text(r, "j"))}] = kernels.number(r, "value");
    }
  REQUIRE(ntk.size() == 4);
  // A handful of roundings (arccos, sin, cos, √) separate the two computations: 1e-12 relative.
  CHECK(std::abs(ntk.at({0, 0}) - 16.3) <= 1e-12 * 16.3);
  CHECK(std::abs(ntk.at({1, 1}) - 1.3) <= 1e-12 * 1.3);
  CHECK(std::abs(ntk.at({0, 1}) - off_diagonal) <= 1e-12 * std::abs(off_diagonal));
}

TEST_CASE("infinite-width gives the same numbers with 1 and 2 threads", "[experiments][infinite-width]") {
  const Run one = run("infinite-width", "--quick --threads 1", "infinite_width_threads1");
  const Run two = run("infinite-width", "--quick --threads 2", "infinite_width_threads2");
  REQUIRE(one.status == 0);
  REQUIRE(two.status == 0);
  const auto a = data_files(one.out), b = data_files(two.out);
  REQUIRE(a.size() == 3);
  CHECK(a == b);
}

TEST_CASE("infinite-width bad command lines exit 2 naming the flag", "[experiments][infinite-width]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--quick --widths-depth1 64 32", "--widths-depth1"},
      {"--quick --widths-depth2 64", "--widths-depth2"},
      {"--quick --seeds 1", "--seeds"},
      {"--quick --activations softmax", "--activations"},
      {"--quick --parameterizations mup", "--parameterizations"},
      {"--quick --sw2 -1", "--sw2"},
      {"--quick --depths 3", "--depths"},
      {"--quick --no-such-flag", "--no-such-flag"},
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto& [args, flag] = cases[k];
    const Run r = run("infinite-width", args, "infinite_width_bad" + std::to_string(k));
    INFO(args << " -> " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(flag) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}
