// The experiments' shared library: statistics against known values, tidy CSV and atomic writes,
// parallel sweeps that give the same slots at any thread count and pass errors on.
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"
#include "experiments/common/stats.hpp"
#include "scratch_dir.hpp"

namespace ex = experiments;
namespace fs = std::filesystem;

TEST_CASE("summary statistics of small samples") {
  const std::vector<double> xs = {4.0, 1.0, 3.0, 2.0};
  CHECK(ex::mean(xs) == 2.5);
  CHECK(ex::median(xs) == 2.5);
  CHECK(ex::quantile(xs, 0.0) == 1.0);
  CHECK(ex::quantile(xs, 1.0) == 4.0);
  CHECK(ex::quantile(xs, 0.25) == 1.75);  // linear interpolation between order statistics
  CHECK(ex::standard_deviation(xs) == Approx(std::sqrt(5.0 / 3.0)).epsilon(1e-15));
  CHECK(ex::geometric_mean({1.0, 100.0}) == Approx(10.0).epsilon(1e-15));
  CHECK_THROWS_WITH(ex::geometric_mean({1.0, -1.0}), Catch::Contains("non-positive"));
  CHECK_THROWS_WITH(ex::mean({}), Catch::Contains("at least 1"));
}

TEST_CASE("Student t quantiles match tables") {
  // Two-sided 95% critical values: t(0.975; 1) = 12.7062, t(0.975; 9) = 2.26216, t(0.975; 29) = 2.04523.
  CHECK(ex::student_t_quantile(0.975, 1) == Approx(12.706204736).epsilon(1e-9));
  CHECK(ex::student_t_quantile(0.975, 9) == Approx(2.262157163).epsilon(1e-9));
  CHECK(ex::student_t_quantile(0.975, 29) == Approx(2.045229642).epsilon(1e-9));
  CHECK(ex::student_t_quantile(0.5, 5) == Approx(0.0).margin(1e-12));
  CHECK(ex::student_t_quantile(0.025, 9) == Approx(-2.262157163).epsilon(1e-9));
  CHECK_THROWS(ex::student_t_quantile(1.0, 3));
  const auto ci = ex::mean_ci({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0});
  CHECK(ci.low == Approx(5.5 - 2.262157163 * std::sqrt(55.0 / 6.0) / std::sqrt(10.0)).epsilon(1e-9));
  CHECK(ci.high == Approx(5.5 + 2.262157163 * std::sqrt(55.0 / 6.0) / std::sqrt(10.0)).epsilon(1e-9));
}

TEST_CASE("bootstrap intervals are seeded and cover the statistic") {
  std::vector<double> xs;
  for (int i = 0; i < 50; ++i) xs.push_back(std::sin(0.7 * i) + 0.01 * i);
  const auto a = ex::bootstrap_ci(xs, ex::median, 3), b = ex::bootstrap_ci(xs, ex::median, 3);
  CHECK(a.low == b.low);
  CHECK(a.high == b.high);
  CHECK(a.low <= ex::median(xs));
  CHECK(ex::median(xs) <= a.high);
  CHECK(a.low < a.high);
}

TEST_CASE("line fits recover exact lines and power laws") {
  const auto fit = ex::fit_line({1.0, 2.0, 3.0}, {5.0, 7.0, 9.0});
  CHECK(fit.slope == Approx(2.0).epsilon(1e-15));
  CHECK(fit.intercept == Approx(3.0).epsilon(1e-15));
  CHECK(fit.r2 == Approx(1.0).epsilon(1e-15));
  CHECK_THROWS_WITH(ex::fit_line({1.0, 1.0}, {1.0, 2.0}), Catch::Contains("all x are equal"));
  // y = 3 x^-0.5 with every draw exact: the slope and its whole interval are -0.5.
  std::vector<double> x = {10, 100, 1000, 10000};
  std::vector<std::vector<double>> groups;
  for (double v : x) groups.push_back(std::vector<double>(5, 3.0 / std::sqrt(v)));
  const auto power = ex::loglog_slope(x, groups, ex::median, 1);
  CHECK(power.slope == Approx(-0.5).epsilon(1e-13));
  CHECK(power.ci.low == Approx(-0.5).epsilon(1e-13));
  CHECK(power.ci.high == Approx(-0.5).epsilon(1e-13));
  CHECK(std::exp(power.intercept) == Approx(3.0).epsilon(1e-13));
}

TEST_CASE("tables are tidy CSV with shortest round-trip numbers") {
  ex::Table t({"width", "value", "name"});
  t.add({ex::cell(std::size_t{10}), ex::cell(0.1), ex::cell("relu")});
  t.add({ex::cell(-3), ex::cell(std::numeric_limits<double>::quiet_NaN()), ex::cell("a b")});
  t.add({ex::cell(7LL), ex::cell(-std::numeric_limits<double>::infinity()), ex::cell(std::string("x"))});
  CHECK(t.csv() == "width,value,name\n10,0.1,relu\n-3,nan,a b\n7,-inf,x\n");
  CHECK_THROWS_WITH(t.add({ex::cell(1)}), Catch::Contains("1 fields for 3 columns"));
  CHECK_THROWS_WITH(t.add({ex::cell(1), ex::cell(1.0), ex::cell("a,b")}), Catch::Contains("comma"));
  CHECK_THROWS(ex::Table({"a,b"}));
}

TEST_CASE("files are written atomically and a stale summary is removed") {
  const test_support::ScratchDir dir("pipeline_output");
  const fs::path folder = dir.path() / "nested" / "run";
  ex::prepare_output_folder(folder);
  CHECK(fs::is_directory(folder));
  ex::write_file_atomic(folder / "summary.json", "{}");
  ex::write_file_atomic(folder / "a.csv", "x\n1\n");
  ex::prepare_output_folder(folder);  // a rerun: the old summary goes first
  CHECK(!fs::exists(folder / "summary.json"));
  CHECK(fs::exists(folder / "a.csv"));
  CHECK(!fs::exists(folder / "a.csv.partial"));
  CHECK_THROWS_WITH(ex::write_file_atomic(dir.path() / "missing" / "b.csv", "x"), Catch::Contains("cannot open"));
  CHECK(!fs::exists(dir.path() / "missing" / "b.csv.partial"));
  std::ofstream(dir.path() / "file") << "x";
  CHECK_THROWS_WITH(ex::prepare_output_folder(dir.path() / "file"), Catch::Contains("cannot create output folder"));
}

TEST_CASE("parallel_for fills every slot once whatever the thread count") {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    std::vector<double> slots(100, 0.0);
    std::atomic<int> calls{0};
    ex::parallel_for(slots.size(), threads, [&](std::size_t i) {
      slots[i] += std::sqrt(static_cast<double>(i));
      ++calls;
    });
    CHECK(calls == 100);
    for (std::size_t i = 0; i < slots.size(); ++i) CHECK(slots[i] == std::sqrt(static_cast<double>(i)));
  }
  ex::parallel_for(0, 4, [](std::size_t) { FAIL("no task to run"); });
}

TEST_CASE("parallel_for passes the first error on and stops") {
  std::atomic<int> started{0};
  CHECK_THROWS_WITH(ex::parallel_for(1000, 2,
                                     [&](std::size_t i) {
                                       ++started;
                                       if (i == 3) throw std::runtime_error("task 3 failed");
                                       // Tasks that take a moment: an instant one let the other
                                       // worker run all 996 others before the error was seen.
                                       std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                     }),
                    "task 3 failed");
  CHECK(started < 1000);
}

TEST_CASE("progress advances from several threads and finishes once") {
  ex::Progress progress("test", 40.0);
  ex::parallel_for(40, 2, [](std::size_t) {}, &progress);
  progress.finish();
  progress.finish();
  CHECK(ex::format_duration(5.2) == "5s");
  CHECK(ex::format_duration(65) == "1:05");
  CHECK(ex::format_duration(3725) == "1:02:05");
}
