// Tests of the lazy-weights experiment ("the weights don't even budge", "Setup" in "Understanding
// the Neural Tangent Kernel", Rajat V D, 2019), end to end through its command line.
//
// Why: the figures and verdicts are only as good as the tables under them. These tests check what
// must hold exactly: the relative change is 0 at step 0, gradient descent with the post's small
// learning rate never increases the loss, final.csv is the last row of steps.csv, the frames of
// the hidden matrix are what they say (change = value − value at step 0, first frame at step 0,
// last at the last step), and the files do not depend on --threads.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <utility>

#include "experiment_runner.hpp"

namespace {

using experiments_test::Csv;
using experiments_test::read_csv;
using experiments_test::run;

const std::string kBinary = "lazy-weights";

// The quick run (widths 10 and 100, 3 seeds, 100 steps), made once and shared by the tests.
const experiments_test::Run& quick_run() {
  static const experiments_test::Run r = run(kBinary, "--quick --threads 2", "quick");
  return r;
}

using RunKey = std::pair<std::string, std::string>;  // (width, seed) as written

// Row indices of steps.csv per run, in file order.
std::map<RunKey, std::vector<std::size_t>> rows_by_run(const Csv& csv) {
  std::map<RunKey, std::vector<std::size_t>> runs;
  for (std::size_t i = 0; i < csv.rows.size(); ++i) runs[{csv.text(i, "width"), csv.text(i, "seed")}].push_back(i);
  return runs;
}

}  // namespace

TEST_CASE("lazy-weights quick run writes its tables and summary", "[lazy-weights]") {
  const auto& r = quick_run();
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(experiments_test::no_partial_files(r.out));
  const Csv steps = read_csv(r.out / "steps.csv");
  const Csv final = read_csv(r.out / "final.csv");
  const Csv frames = read_csv(r.out / "hidden_weights.csv");
  CHECK(steps.columns == std::vector<std::string>{"width", "seed", "step", "loss", "relative_change"});
  CHECK(final.columns == std::vector<std::string>{"width", "seed", "parameters", "steps", "final_loss",
                                                  "final_relative_change", "reached_threshold", "loss_increases"});
  CHECK(frames.columns == std::vector<std::string>{"width", "seed", "frame", "step", "row", "col", "value", "change"});
  REQUIRE(final.rows.size() == 6);  // widths 10 and 100, 3 seeds each
  const auto summary = experiments_test::read_json(r.out / "summary.json");
  CHECK(summary["post_section"] == "Setup");
  CHECK(summary["seeds"].size() == 3);
  CHECK(summary["verdicts"].size() >= 4);
  for (const auto& h : summary["headlines"]) CHECK(!h["value"].is_null());
  // The parameter count of 1-m-m-1: (m + m) + (m² + m) + (m + 1).
  for (std::size_t i = 0; i < final.rows.size(); ++i) {
    const double m = final.number(i, "width");
    CHECK(final.number(i, "parameters") == m * m + 4 * m + 1);
  }
}

TEST_CASE("lazy-weights relative change is exactly 0 at step 0 in every run", "[lazy-weights]") {
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv steps = read_csv(r.out / "steps.csv");
  const auto runs = rows_by_run(steps);
  REQUIRE(runs.size() == 6);
  for (const auto& [key, rows] : runs) {
    INFO("width " << key.first << " seed " << key.second);
    CHECK(steps.text(rows.front(), "step") == "0");
    CHECK(steps.number(rows.front(), "relative_change") == 0.0);
    CHECK(steps.number(rows.back(), "relative_change") > 0.0);
  }
}

TEST_CASE("lazy-weights losses never increase at the post's learning rate", "[lazy-weights]") {
  // Gradient descent lowers the loss at every step when η < 2/λ_max of the loss's Hessian along the
  // path (the post: "with a small enough learning rate η, the loss always decreases"). lr 1e-3 is
  // small enough for these nets (no increase in any run of the default sweep either), so the check is
  // exact: L(w_{n+1}) <= L(w_n), no tolerance.
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv steps = read_csv(r.out / "steps.csv");
  for (const auto& [key, rows] : rows_by_run(steps)) {
    INFO("width " << key.first << " seed " << key.second);
    for (std::size_t k = 1; k < rows.size(); ++k) {
      INFO("step " << steps.text(rows[k], "step"));
      CHECK(steps.number(rows[k], "loss") <= steps.number(rows[k - 1], "loss"));
    }
  }
  const Csv final = read_csv(r.out / "final.csv");
  for (std::size_t i = 0; i < final.rows.size(); ++i) CHECK(final.text(i, "loss_increases") == "0");
}

TEST_CASE("lazy-weights final.csv is the last step of each run in steps.csv", "[lazy-weights]") {
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv steps = read_csv(r.out / "steps.csv");
  const Csv final = read_csv(r.out / "final.csv");
  const auto runs = rows_by_run(steps);
  REQUIRE(runs.size() == final.rows.size());
  const double threshold = experiments_test::read_json(r.out / "summary.json")["settings"]["loss_threshold"];
  for (std::size_t i = 0; i < final.rows.size(); ++i) {
    const RunKey key{final.text(i, "width"), final.text(i, "seed")};
    INFO("width " << key.first << " seed " << key.second);
    REQUIRE(runs.count(key) == 1);
    const auto& rows = runs.at(key);
    // Steps 0, 1, ..., steps: one row per visited step, in order.
    REQUIRE(rows.size() == static_cast<std::size_t>(final.number(i, "steps")) + 1);
    for (std::size_t k = 0; k < rows.size(); ++k) CHECK(steps.number(rows[k], "step") == static_cast<double>(k));
    CHECK(final.text(i, "final_loss") == steps.text(rows.back(), "loss"));
    CHECK(final.text(i, "final_relative_change") == steps.text(rows.back(), "relative_change"));
    const bool reached = final.number(i, "final_loss") <= threshold;
    CHECK(final.text(i, "reached_threshold") == (reached ? "1" : "0"));
    // A run ends at the threshold or at --steps (100 under --quick), nowhere else.
    if (!reached) CHECK(final.text(i, "steps") == "100");
  }
}

TEST_CASE("lazy-weights frames of the hidden matrix start at step 0 and end at the last step", "[lazy-weights]") {
  const auto& r = quick_run();
  REQUIRE(r.status == 0);
  const Csv frames = read_csv(r.out / "hidden_weights.csv");
  const Csv final = read_csv(r.out / "final.csv");
  std::map<std::string, std::map<std::string, std::string>> initial;  // width -> "row col" -> value at frame 0
  std::map<std::string, std::set<double>> frame_steps;
  std::map<std::string, std::size_t> cells;
  for (std::size_t i = 0; i < frames.rows.size(); ++i) {
    const std::string width = frames.text(i, "width");
    CHECK(frames.text(i, "seed") == "0");  // the first seed of the run
    frame_steps[width].insert(frames.number(i, "step"));
    const std::string where = frames.text(i, "row") + " " + frames.text(i, "col");
    if (frames.text(i, "frame") == "0") {
      CHECK(frames.text(i, "step") == "0");
      CHECK(frames.number(i, "change") == 0.0);
      initial[width][where] = frames.text(i, "value");
      ++cells[width];
    } else {
      // change was computed as value − value(step 0) from the same doubles the CSV holds exactly.
      CHECK(frames.number(i, "change") == frames.number(i, "value") - std::stod(initial[width].at(where)));
    }
  }
  CHECK(cells["10"] == 100);     // the full 10×10 matrix
  CHECK(cells["100"] == 10000);  // and the full 100×100 one (--block is 100)
  for (std::size_t i = 0; i < final.rows.size(); ++i) {
    if (final.text(i, "seed") != "0") continue;
    const auto& s = frame_steps[final.text(i, "width")];
    CHECK(s.size() <= 10);  // --frames under --quick
    CHECK(*s.rbegin() == final.number(i, "steps"));
  }
}

TEST_CASE("lazy-weights keeps a block of wide matrices and thins long runs to the frame count", "[lazy-weights]") {
  // Width 12 with --block 5: the top-left 5×5 corner only; 300 steps into 7 frames.
  const auto r = run(kBinary, "--widths 10 12 --draws 2 --steps 300 --frames 7 --block 5 --threads 2", "block");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const Csv frames = read_csv(r.out / "hidden_weights.csv");
  std::map<std::string, std::set<double>> steps;
  for (std::size_t i = 0; i < frames.rows.size(); ++i) {
    CHECK(frames.number(i, "row") < 5);
    CHECK(frames.number(i, "col") < 5);
    steps[frames.text(i, "width")].insert(frames.number(i, "step"));
  }
  CHECK(frames.rows.size() == steps["10"].size() * 25 + steps["12"].size() * 25);
  const Csv final = read_csv(r.out / "final.csv");
  for (const auto& [width, s] : steps) {
    INFO("width " << width);
    CHECK(s.size() >= 5);
    CHECK(s.size() <= 7);
    CHECK(*s.begin() == 0.0);
    for (std::size_t i = 0; i < final.rows.size(); ++i)
      if (final.text(i, "width") == width && final.text(i, "seed") == "0") CHECK(*s.rbegin() == final.number(i, "steps"));
  }
  const auto summary = experiments_test::read_json(r.out / "summary.json");
  CHECK(summary["extra"]["hidden_weights"]["windows"][1]["full_matrix"] == false);
}

TEST_CASE("lazy-weights data files are bit-identical with 1 and 2 threads", "[lazy-weights]") {
  const auto& two = quick_run();
  REQUIRE(two.status == 0);
  const auto one = run(kBinary, "--quick --threads 1", "quick-1-thread");
  REQUIRE(one.status == 0);
  const auto a = experiments_test::data_files(one.out), b = experiments_test::data_files(two.out);
  REQUIRE(a.size() == 3);
  REQUIRE(a.size() == b.size());
  for (const auto& [name, bytes] : a) {
    INFO(name);
    REQUIRE(b.count(name) == 1);
    CHECK(bytes == b.at(name));
  }
}

TEST_CASE("lazy-weights rejects bad command lines with exit status 2 naming the flag", "[lazy-weights]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--widths 0", "--widths"}, {"--lr -1", "--lr"}, {"--steps abc", "--steps"}, {"--widths 100 10", "--widths"}};
  for (const auto& [args, flag] : cases) {
    INFO(args);
    const auto r = run(kBinary, "--quick " + args, "bad");
    CHECK(r.status == 2);
    CHECK(r.err.find(flag) != std::string::npos);
  }
}
