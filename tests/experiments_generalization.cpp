// The generalization experiment ("Generalization" in "Understanding the Neural Tangent Kernel",
// Rajat V D, 2019), end to end through its command line: a --quick run writes every table with
// its columns and rows; kernel regression interpolates the post's two training points exactly
// (ridge 0); accuracies are fractions; the numbers are bit-identical at any --threads; bad command
// lines and a missing data set are refused naming the flag, the file and the Debian package.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <string>

#include "experiment_runner.hpp"

namespace {

using namespace experiments_test;

const Run& quick_run() {
  static const Run run = experiments_test::run("generalization", "--quick --threads 2", "quick");
  return run;
}

// --quick: widths 32 and 128, 4 seeds, 41 grid points, 3 finite times and t = inf; Fashion-MNIST
// 100 and 200 training images, 500 test images, kernel depths 1-3, trained depth 1, 3 seeds,
// centered and plain outputs.
constexpr std::size_t kWidths = 2, kSeeds = 4, kGrid = 41, kSnapshots = 4, kSizes = 2, kDepths = 3, kNetSeeds = 3,
                      kOutputs = 2;

}  // namespace

TEST_CASE("A quick run writes every table with its columns and rows") {
  const Run& r = quick_run();
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(fs::exists(r.out / "summary.json"));
  CHECK(no_partial_files(r.out));

  const Csv curves = read_csv(r.out / "curves_1d.csv");
  CHECK(curves.columns == std::vector<std::string>{"source", "width", "seed", "time_label", "steps", "t", "x", "f", "sd"});
  CHECK(curves.rows.size() == kSnapshots * kGrid * (1 + kWidths * kSeeds));
  const Csv distance = read_csv(r.out / "distance_1d.csv");
  CHECK(distance.columns == std::vector<std::string>{"width", "seed", "time_label", "steps", "t", "rms_to_own_f0_prediction",
                                                     "rms_to_kernel_regression", "final_loss"});
  CHECK(distance.rows.size() == kWidths * kSeeds * kSnapshots);
  const Csv means = read_csv(r.out / "mean_distance_1d.csv");
  CHECK(means.rows.size() == kWidths * kSnapshots);
  for (const double floor : means.numbers("noise_floor")) CHECK(floor > 0.0);

  const Csv kernels = read_csv(r.out / "fashion_kernels.csv");
  CHECK(kernels.columns ==
        std::vector<std::string>{"kernel", "depth", "train_size", "test_size", "ridge", "test_accuracy", "kernel_bytes"});
  CHECK(kernels.rows.size() == kDepths * 2 * kSizes);
  const Csv nets = read_csv(r.out / "fashion_nets.csv");
  CHECK(nets.columns == std::vector<std::string>{"output", "depth", "width", "train_size", "seed", "epochs", "test_accuracy",
                                                 "train_accuracy", "final_epoch_loss"});
  CHECK(nets.rows.size() == kOutputs * kSizes * kNetSeeds);
  const Csv accuracy = read_csv(r.out / "fashion_accuracy.csv");
  CHECK(accuracy.rows.size() == kDepths * 2 * kSizes + kOutputs * kSizes);
  const Csv epochs = read_csv(r.out / "fashion_epochs.csv");
  CHECK(epochs.rows.size() == kOutputs * kSizes * kNetSeeds * 3);

  const auto summary = read_json(r.out / "summary.json");
  CHECK(summary["post_section"] == "Generalization");
  CHECK(summary["verdicts"].size() >= 4);
  CHECK(summary["extra"]["timings"].size() > 5);
}

TEST_CASE("Kernel regression at t = inf interpolates the post's training points with ridge 0") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv interpolation = read_csv(r.out / "interpolation_1d.csv");
  REQUIRE(interpolation.rows.size() == 2);
  CHECK(interpolation.number(0, "x") == -2.0);
  CHECK(interpolation.number(1, "y") == -1.0);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(interpolation.number(i, "relative_residual") <= 1e-8);
    CHECK(std::fabs(interpolation.number(i, "kernel_regression") - interpolation.number(i, "y")) <=
          1e-8 * std::fabs(interpolation.number(i, "y")));
  }
  // The infinite-width spread from f0 is a standard deviation; and at t = inf it vanishes at the
  // training points, which the grid of 41 points on [-4, 4] contains (x = -2 is point 10).
  const Csv curves = read_csv(r.out / "curves_1d.csv");
  for (std::size_t i = 0; i < curves.rows.size(); ++i) {
    if (curves.text(i, "source") != "infinite-width") continue;
    CHECK(curves.number(i, "sd") >= 0.0);
    if (curves.text(i, "time_label") == "inf" && curves.number(i, "x") == -2.0) {
      CHECK(std::fabs(curves.number(i, "f") - 3.0) <= 1e-8 * 3.0);
      CHECK(curves.number(i, "sd") <= 1e-6);
    }
  }
}

TEST_CASE("Accuracies are fractions of the test set") {
  const Run& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv kernels = read_csv(r.out / "fashion_kernels.csv");
  for (std::size_t i = 0; i < kernels.rows.size(); ++i) {
    const double a = kernels.number(i, "test_accuracy");
    CHECK((a >= 0.0 && a <= 1.0));
    CHECK(kernels.number(i, "test_size") == 500);
    CHECK(std::fmod(a * 500.0 + 1e-9, 1.0) < 1e-6);  // a count of 500
    CHECK(a > 0.3);  // far above chance (0.1) even with 100 images
  }
  const Csv nets = read_csv(r.out / "fashion_nets.csv");
  for (std::size_t i = 0; i < nets.rows.size(); ++i)
    for (const char* column : {"test_accuracy", "train_accuracy"}) {
      const double a = nets.number(i, column);
      CHECK((a >= 0.0 && a <= 1.0));
    }
  const Csv accuracy = read_csv(r.out / "fashion_accuracy.csv");
  for (std::size_t i = 0; i < accuracy.rows.size(); ++i) {
    CHECK(accuracy.number(i, "ci_low") <= accuracy.number(i, "mean_accuracy"));
    CHECK(accuracy.number(i, "mean_accuracy") <= accuracy.number(i, "ci_high"));
  }
}

TEST_CASE("One and two threads give bit-identical data files") {
  const Run& two = quick_run();
  REQUIRE(two.status == 0);
  const Run one = run("generalization", "--quick --threads 1", "quick-one-thread");
  INFO(one.err);
  REQUIRE(one.status == 0);
  const auto a = data_files(one.out), b = data_files(two.out);
  REQUIRE(a.size() == b.size());
  for (const auto& [name, bytes] : a) {
    INFO(name);
    CHECK(b.at(name) == bytes);
  }
}

TEST_CASE("Bad command lines exit with status 2 naming the flag") {
  const auto refused = [](const std::string& args, const std::string& flag) {
    const Run r = run("generalization", "--quick " + args, "bad");
    INFO(args << " -> " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(flag) != std::string::npos);
  };
  refused("--widths 1", "--widths");
  refused("--train-sizes 200 100", "--train-sizes");
  refused("--momentum 1.5", "--momentum");
  refused("--net-outputs sideways", "--net-outputs");
  refused("--batch-size 500", "--batch-size");
}

TEST_CASE("A missing data folder exits with status 1 naming the file and the Debian package") {
  const Run r = run("generalization", "--quick --data-dir /nonexistent", "no-data");
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(r.err.find("/nonexistent/train-labels-idx1-ubyte.gz") != std::string::npos);
  CHECK(r.err.find("dataset-fashion-mnist") != std::string::npos);
  CHECK(!fs::exists(r.out / "summary.json"));
}
