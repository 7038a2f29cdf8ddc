// lazy-weights: "the weights don't even budge" — how far gradient descent moves the weights of
// a 2-hidden-layer ReLU net as its width grows ("Setup" in "Understanding the Neural Tangent
// Kernel", Rajat V D, 2019: the animation of the hidden weight matrix during training and the plot
// of loss and relative weight change against the step).
//
// Why: the post's whole argument starts from this observation — wide nets fit the data while
// their weights stay where they were initialized, so a first-order Taylor expansion around w0
// describes training. The post showed one network per width; here every width gets many seeds,
// so the claim "the change falls with width" comes with confidence intervals and a fitted slope.
//
//   net      MLP 1 → m → m → 1, ReLU, PyTorch-default init (U(±1/√fan_in)), m ∈ {10, 100, 1000}
//   data     x = (−2, 0.5), y = (3, −1)
//   training full-batch gradient descent on L = ½‖y(w) − ȳ‖², lr 1e-3, at most 1000 steps, stop
//            as soon as L ≤ 1e-10
//   measured ‖w(n) − w0‖/‖w0‖ with all parameters stacked (the post's definition) at every step.
//
// Outputs:
//   steps.csv           width, seed, step, loss, relative change: every step of every run;
//   final.csv           per width and seed: steps taken, final loss and relative change, whether
//                       the loss threshold was reached, how often the loss went up;
//   hidden_weights.csv  the m×m matrix between the two hidden layers for the first seed of each
//                       width at ~40 frames spread over its training (value and value − initial);
//                       for widths above --block only its top-left block×block corner;
//   summary.json        mean and median final change per width with CIs, the log-log slope of the
//                       change against width with a bootstrap CI, and verdicts against the post.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "experiments/common/options.hpp"
#include "experiments/common/points.hpp"
#include "experiments/common/output.hpp"
#include "experiments/common/parallel.hpp"
#include "experiments/common/progress.hpp"
#include "experiments/common/stats.hpp"
#include "nn/nn.hpp"

namespace {

using experiments::cell;
using nn::Tensor;

struct Settings {
  std::vector<std::size_t> widths = {10, 100, 1000};
  std::size_t draws = 20;  // seeds per width; draw k uses --seed + k
  std::vector<double> inputs = {-2.0, 0.5};
  std::vector<double> targets = {3.0, -1.0};
  double learning_rate = 1e-3;
  std::size_t max_steps = 1000;
  double loss_threshold = 1e-10;
  std::size_t frames = 40;   // frames of the hidden weight matrix per width
  std::size_t block = 100;   // store at most block×block of it (the top-left corner)
};

// The post's relative changes at the end of training, read off its "Loss curves and how much the
// weights budge" figure (one network per width).
struct PostValue {
  std::size_t width;
  double final_change;
};
constexpr PostValue kPostFinalChanges[] = {{10, 0.43}, {100, 0.047}, {1000, 0.006}};

// The corner of the weight matrix between the two hidden layers (layer 2, stored (out, in)) that
// the frames keep.
struct MatrixWindow {
  std::size_t offset = 0;  // of the matrix in the flat w
  std::size_t width = 0;   // m: the matrix is m × m
  std::size_t side = 0;    // rows and columns 0..side−1 are kept

  std::vector<double> read(const Tensor& w) const {
    std::vector<double> values(side * side);
    for (std::size_t r = 0; r < side; ++r)
      for (std::size_t c = 0; c < side; ++c) values[r * side + c] = w.flat(offset + r * width + c);
    return values;
  }
};

// Keeps the matrix at about `frames` steps spread evenly over a training run whose length is not
// known in advance: snapshots every `stride` steps, and when more than 2·frames are kept, every
// other one is dropped and the stride doubles. The last step is always kept. Memory stays at
// O(frames · side²) however long the run.
class FrameRecorder {
 public:
  FrameRecorder(MatrixWindow window, std::size_t frames) : window_(window), frames_(frames) {}

  void offer(std::size_t step, const Tensor& w) {
    last_step_ = step;
    last_ = window_.read(w);
    if (step % stride_ != 0) return;
    steps_.push_back(step);
    values_.push_back(last_);
    if (steps_.size() > 2 * frames_) {
      std::size_t kept = 0;
      for (std::size_t i = 0; i < steps_.size(); i += 2, ++kept) {
        if (kept == i) continue;  // a vector moved onto itself would come out empty
        steps_[kept] = steps_[i];
        values_[kept] = std::move(values_[i]);
      }
      steps_.resize(kept);
      values_.resize(kept);
      stride_ *= 2;
    }
  }

  // The kept snapshots thinned to at most `frames`, evenly by index, first and last step included.
  void finish() {
    if (steps_.empty() || steps_.back() != last_step_) {
      steps_.push_back(last_step_);
      values_.push_back(last_);
    }
    const std::size_t n = steps_.size();
    if (n <= frames_) return;
    std::vector<std::size_t> steps;
    std::vector<std::vector<double>> values;
    for (std::size_t k = 0; k < frames_; ++k) {
      const std::size_t i = (k * (n - 1) + (frames_ - 1) / 2) / (frames_ - 1);  // rounded k(n−1)/(frames−1)
      if (!steps.empty() && steps.back() == steps_[i]) continue;
      steps.push_back(steps_[i]);
      values.push_back(values_[i]);
    }
    steps_ = std::move(steps);
    values_ = std::move(values);
  }

  const MatrixWindow& window() const { return window_; }
  const std::vector<std::size_t>& steps() const { return steps_; }
  const std::vector<std::vector<double>>& values() const { return values_; }

 private:
  MatrixWindow window_;
  std::size_t frames_;
  std::size_t stride_ = 1;
  std::vector<std::size_t> steps_;
  std::vector<std::vector<double>> values_;
  std::size_t last_step_ = 0;
  std::vector<double> last_;
};

struct RunResult {
  std::size_t parameters = 0;
  double w0_norm = 0.0;
  nn::TrainResult training;
  std::size_t loss_increases = 0;  // steps n with L(w_{n+1}) > L(w_n)
  std::vector<std::size_t> frame_steps;
  std::vector<std::vector<double>> frame_values;
  MatrixWindow window;
};

// One network of width m drawn with `seed`, trained; frames of its hidden matrix if asked.
RunResult train_one(const Settings& s, std::size_t width, std::uint64_t seed, bool record_frames) {
  const nn::MLP net(nn::MLPConfig{.input_dim = 1, .hidden = {width, width}, .output_dim = 1,
                                  .activation = nn::Activation::relu});
  const Tensor w0 = net.init(seed);
  const nn::TrainConfig config{.learning_rate = s.learning_rate, .max_steps = s.max_steps,
                               .loss_threshold = s.loss_threshold, .loss = {.reduction = nn::Reduction::sum}};
  RunResult r;
  r.parameters = net.num_params();
  for (std::size_t i = 0; i < w0.size(); ++i) r.w0_norm += w0.flat(i) * w0.flat(i);
  r.w0_norm = std::sqrt(r.w0_norm);
  r.window = {net.layers()[1].weight().offset, width, std::min(width, s.block)};
  FrameRecorder recorder(r.window, s.frames);
  nn::StepCallback callback;
  if (record_frames) callback = [&recorder](const nn::TrainState& state) { recorder.offer(state.step, state.w); };
  r.training = nn::train(net, w0, experiments::as_column(s.inputs), experiments::as_column(s.targets), config, callback);
  r.training.w = Tensor();  // the final weights are not needed: 8 MB per width-1000 run
  const auto& losses = r.training.losses;
  for (std::size_t n = 1; n < losses.size(); ++n) r.loss_increases += losses[n] > losses[n - 1] ? 1 : 0;
  if (record_frames) {
    recorder.finish();
    r.frame_steps = recorder.steps();
    r.frame_values = recorder.values();
  }
  return r;
}

// The frames of one run as tidy rows: value and change from the first frame (step 0).
void add_frames(experiments::Table& table, std::size_t width, std::uint64_t seed, const RunResult& r) {
  const std::size_t side = r.window.side;
  for (std::size_t f = 0; f < r.frame_steps.size(); ++f)
    for (std::size_t i = 0; i < side * side; ++i) {
      const double value = r.frame_values[f][i];
      table.add({cell(width), cell(static_cast<long long>(seed)), cell(f), cell(r.frame_steps[f]), cell(i / side),
                 cell(i % side), cell(value), cell(value - r.frame_values[0][i])});
    }
}

std::string format_list(const std::vector<double>& values, int digits = 3) {
  std::string text;
  for (double v : values) text += (text.empty() ? "" : ", ") + fmt::format("{:.{}g}", v, digits);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment(
      "lazy-weights", "How far gradient descent moves the weights of 2-hidden-layer ReLU nets of growing width: "
                      "relative weight change, loss per step and the hidden weight matrix during training");
  auto& app = experiment.app();
  app.add_option("--widths", s.widths, "hidden widths m (net 1-m-m-1)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{20000}))->capture_default_str();
  experiment.quick(s.widths, std::vector<std::size_t>{10, 100});
  app.add_option("--draws", s.draws, "networks (seeds) per width; draw k uses --seed + k")
      ->check(CLI::Range(std::size_t{2}, std::size_t{100000}))->capture_default_str();
  experiment.quick(s.draws, std::size_t{3});
  app.add_option("--inputs", s.inputs, "the data's inputs x")->capture_default_str();
  app.add_option("--targets", s.targets, "the data's targets y (one per input)")->capture_default_str();
  app.add_option("--lr", s.learning_rate, "gradient descent's learning rate (> 0)")->capture_default_str();
  app.add_option("--steps", s.max_steps, "at most this many gradient steps")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}))->capture_default_str();
  experiment.quick(s.max_steps, std::size_t{100});
  app.add_option("--threshold", s.loss_threshold, "stop as soon as the loss is at most this (>= 0)")
      ->capture_default_str();
  app.add_option("--frames", s.frames, "frames of the hidden weight matrix kept per width")
      ->check(CLI::Range(std::size_t{2}, std::size_t{1000}))->capture_default_str();
  experiment.quick(s.frames, std::size_t{10});
  app.add_option("--block", s.block, "keep at most the top-left block x block corner of the hidden matrix")
      ->check(CLI::Range(std::size_t{1}, std::size_t{2000}))->capture_default_str();

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    experiments::require(!s.inputs.empty() && s.inputs.size() == s.targets.size(), "--inputs/--targets",
                         fmt::format("need one target per input, got {} inputs and {} targets", s.inputs.size(),
                                     s.targets.size()));
    for (const auto& values : {s.inputs, s.targets})
      for (double v : values) experiments::require(std::isfinite(v), "--inputs/--targets", "must be finite");
    experiments::require(s.loss_threshold >= 0.0 && std::isfinite(s.loss_threshold), "--threshold",
                         fmt::format("must be non-negative and finite, got {:g}", s.loss_threshold));
    experiments::require(s.learning_rate > 0.0 && std::isfinite(s.learning_rate), "--lr",
                         fmt::format("must be positive and finite, got {:g}", s.learning_rate));
    for (std::size_t i = 1; i < s.widths.size(); ++i)
      experiments::require(s.widths[i] > s.widths[i - 1], "--widths", "must be strictly increasing");

    // Tasks: (width, draw), the widest first so that the slowest runs start early; every result
    // goes to its own slot, so the files do not depend on --threads.
    const std::size_t n_widths = s.widths.size(), n_tasks = n_widths * s.draws;
    const auto width_of = [&](std::size_t task) { return n_widths - 1 - task / s.draws; };
    const auto draw_of = [&](std::size_t task) { return task % s.draws; };
    std::vector<RunResult> results(n_tasks);  // slot width_index * draws + draw
    const auto slot = [&](std::size_t w, std::size_t d) { return w * s.draws + d; };
    const auto cost = [&](std::size_t task) {
      const auto m = static_cast<double>(s.widths[width_of(task)]);
      return m * m + 10.0 * m;  // a step costs about the parameter count
    };
    double total_cost = 0.0;
    for (std::size_t t = 0; t < n_tasks; ++t) total_cost += cost(t);
    {
      experiments::Progress progress("training nets", total_cost);
      experiments::parallel_for(
          n_tasks, ctx.threads,
          [&](std::size_t task) {
            const std::size_t w = width_of(task), d = draw_of(task);
            results[slot(w, d)] = train_one(s, s.widths[w], ctx.seed + d, d == 0);
          },
          &progress, cost);
    }

    experiments::Table steps({"width", "seed", "step", "loss", "relative_change"});
    experiments::Table final({"width", "seed", "parameters", "steps", "final_loss", "final_relative_change",
                              "reached_threshold", "loss_increases"});
    std::vector<std::vector<double>> final_changes(n_widths), steps_taken(n_widths), final_losses(n_widths);
    std::vector<std::size_t> reached_per_width(n_widths, 0);
    std::size_t runs_reached = 0, total_increases = 0, runs_with_increase = 0;
    for (std::size_t w = 0; w < n_widths; ++w) {
      const auto width = static_cast<long long>(s.widths[w]);
      for (std::size_t d = 0; d < s.draws; ++d) {
        const RunResult& r = results[slot(w, d)];
        const auto seed = static_cast<long long>(ctx.seed + d);
        const auto& losses = r.training.losses;
        const auto& changes = r.training.relative_changes;
        for (std::size_t n = 0; n < losses.size(); ++n)
          steps.add({cell(width), cell(seed), cell(n), cell(losses[n]), cell(changes[n])});
        final.add({cell(width), cell(seed), cell(r.parameters), cell(r.training.steps), cell(losses.back()),
                   cell(changes.back()), cell(r.training.reached_threshold ? 1 : 0), cell(r.loss_increases)});
        final_changes[w].push_back(changes.back());
        steps_taken[w].push_back(static_cast<double>(r.training.steps));
        final_losses[w].push_back(losses.back());
        reached_per_width[w] += r.training.reached_threshold ? 1 : 0;
        runs_reached += r.training.reached_threshold ? 1 : 0;
        total_increases += r.loss_increases;
        runs_with_increase += r.loss_increases > 0 ? 1 : 0;
      }
    }
    steps.write(ctx.file("steps.csv"));
    final.write(ctx.file("final.csv"));
    {
      experiments::Table frames({"width", "seed", "frame", "step", "row", "col", "value", "change"});
      for (std::size_t w = 0; w < n_widths; ++w) add_frames(frames, s.widths[w], ctx.seed, results[slot(w, 0)]);
      frames.write(ctx.file("hidden_weights.csv"));  // ~800k rows: the table is freed right after
    }

    experiments::Summary summary(ctx, "How far the weights move during training, against width", "Setup");
    summary.settings = {{"widths", s.widths},
                        {"draws", s.draws},
                        {"inputs", s.inputs},
                        {"targets", s.targets},
                        {"net", "MLP 1-m-m-1 relu, standard parameterization, PyTorch-default init"},
                        {"loss", "0.5 * ||y(w) - y_bar||^2 (sum over the data)"},
                        {"learning_rate", s.learning_rate},
                        {"max_steps", s.max_steps},
                        {"loss_threshold", s.loss_threshold},
                        {"frames", s.frames},
                        {"block", s.block}};
    for (std::size_t d = 0; d < s.draws; ++d) summary.seeds.push_back(ctx.seed + d);
    summary.expectation =
        "The post trains one network per width and finds that the weights barely move for wide nets: final relative "
        "changes ||w(n) - w0||/||w0|| of about 0.43, 0.047 and 0.006 for widths 10, 100 and 1000 (read off its "
        "figure), the hidden weight matrix visibly changing only at width 10. So the change should fall with width "
        "(negative log-log slope, about -1 by those three values), and every run should fit the two points.";
    nlohmann::json windows = nlohmann::json::array();
    for (std::size_t w = 0; w < n_widths; ++w) {
      const RunResult& r = results[slot(w, 0)];
      windows.push_back({{"width", s.widths[w]},
                         {"seed", ctx.seed},
                         {"rows", fmt::format("0-{}", r.window.side - 1)},
                         {"cols", fmt::format("0-{}", r.window.side - 1)},
                         {"full_matrix", r.window.side == s.widths[w]},
                         {"frames", r.frame_steps.size()}});
    }
    summary.extra["hidden_weights"] = {
        {"matrix", "layer 2 weight (between the two hidden layers), stored (out, in): row = output unit, col = input"},
        {"windows", windows}};

    for (std::size_t w = 0; w < n_widths; ++w) {
      const std::size_t m = s.widths[w];
      const auto& changes = final_changes[w];
      const double mean = experiments::mean(changes), median = experiments::median(changes);
      const auto ci = experiments::mean_ci(changes);
      const auto median_ci = experiments::bootstrap_ci(
          changes, [](const std::vector<double>& xs) { return experiments::median(xs); }, ctx.seed + 1000 + w);
      summary.headline(fmt::format("mean final relative change, width {}", m), mean, ci,
                       fmt::format("||w - w0||/||w0|| at the end of training over {} seeds (Student-t CI); range "
                                   "[{:.3g}, {:.3g}]",
                                   changes.size(), experiments::minimum(changes), experiments::maximum(changes)));
      summary.headline(fmt::format("median final relative change, width {}", m), median, median_ci,
                       "bootstrap CI of the median");
      const auto& taken = steps_taken[w];
      summary.headline(fmt::format("steps taken, width {}", m), experiments::mean(taken), experiments::mean_ci(taken),
                       fmt::format("gradient steps until loss <= {:g} (or --steps); median {:g}, range [{:g}, {:g}]",
                                   s.loss_threshold, experiments::median(taken), experiments::minimum(taken),
                                   experiments::maximum(taken)));
      const auto& losses = final_losses[w];
      summary.headline(fmt::format("median final loss, width {}", m), experiments::median(losses),
                       experiments::bootstrap_ci(
                           losses, [](const std::vector<double>& xs) { return experiments::median(xs); },
                           ctx.seed + 3000 + w),
                       fmt::format("bootstrap CI of the median; range [{:.3g}, {:.3g}]; {} of {} runs reached {:g}",
                                   experiments::minimum(losses), experiments::maximum(losses), reached_per_width[w],
                                   losses.size(), s.loss_threshold));
      for (const auto& post : kPostFinalChanges) {
        if (post.width != m) continue;
        const bool inside = ci.low <= post.final_change && post.final_change <= ci.high;
        const bool in_range = experiments::minimum(changes) <= post.final_change &&
                              post.final_change <= experiments::maximum(changes);
        // The post drew one network, so its value is one draw: it agrees when it lies among our
        // single networks; the 95% CI of our mean (which narrows with more seeds) is reported too.
        summary.verdict(fmt::format("the post's final relative change at width {} (one network)", m),
                        fmt::format("{:g} within the range of our {} single networks", post.final_change,
                                    changes.size()),
                        fmt::format("range [{:.3g}, {:.3g}], mean {}", experiments::minimum(changes),
                                    experiments::maximum(changes), experiments::with_ci(mean, ci)),
                        in_range,
                        fmt::format("post / our mean = {:.3g}; the post's value is {} the range of our single "
                                    "networks and {} the 95% CI of our mean",
                                    post.final_change / mean, in_range ? "inside" : "outside",
                                    inside ? "inside" : "outside"));
      }
    }

    if (n_widths >= 2) {
      std::vector<double> widths(s.widths.begin(), s.widths.end());
      const auto fit = experiments::loglog_slope(
          widths, final_changes, [](const std::vector<double>& xs) { return experiments::mean(xs); }, ctx.seed + 2000);
      summary.headline("log-log slope of mean final relative change vs width", fit.slope, fit.ci,
                       fmt::format("fit of log(mean change) against log(width) over widths {}; intercept {:.4g}",
                                   format_list(widths, 6), fit.intercept));
      summary.extra["slope_fit"] = {{"slope", fit.slope}, {"intercept", fit.intercept},
                                    {"ci_low", fit.ci.low}, {"ci_high", fit.ci.high}};
      std::vector<double> post_widths, post_changes;
      for (const auto& post : kPostFinalChanges) {
        post_widths.push_back(std::log(static_cast<double>(post.width)));
        post_changes.push_back(std::log(post.final_change));
      }
      const double post_slope = experiments::fit_line(post_widths, post_changes).slope;
      summary.headline("log-log slope of the post's three values", post_slope,
                       "0.43, 0.047, 0.006 at widths 10, 100, 1000 (one network each)");
      summary.verdict("the weights move less the wider the net", "slope < 0 (upper end of the 95% CI below 0)",
                      experiments::with_ci(fit.slope, fit.ci), fit.ci.high < 0.0,
                      fmt::format("slope {:.3f}, the post's three values give {:.3f}; {} the CI", fit.slope, post_slope,
                                  fit.ci.low <= post_slope && post_slope <= fit.ci.high ? "inside" : "outside"));
    }

    summary.headline("runs that reached the loss threshold", static_cast<double>(runs_reached),
                     fmt::format("of {} runs, loss <= {:g} within {} steps", n_tasks, s.loss_threshold, s.max_steps));
    summary.verdict("every net fits the two points", fmt::format("loss <= {:g} within {} steps in every run",
                                                                 s.loss_threshold, s.max_steps),
                    fmt::format("{} of {} runs", runs_reached, n_tasks), runs_reached == n_tasks,
                    [&] {
                      std::string detail;
                      for (std::size_t w = 0; w < n_widths; ++w)
                        detail += fmt::format("{}width {}: {} of {}", w ? "; " : "", s.widths[w],
                                              reached_per_width[w], s.draws);
                      return detail + " reached it";
                    }());
    summary.headline("loss increases", static_cast<double>(total_increases),
                     fmt::format("steps with L(w_n+1) > L(w_n), summed over all runs ({} runs had any)",
                                 runs_with_increase));
    summary.verdict("with a small learning rate the loss decreases at every step", "no step increases the loss",
                    fmt::format("{} increases in {} runs", total_increases, runs_with_increase), total_increases == 0,
                    total_increases == 0 ? "monotone in every run" : "gradient descent overshot at some step");
    summary.write();
    std::fprintf(stderr, "lazy-weights: mean final relative change %s; results in %s\n",
                 format_list([&] {
                   std::vector<double> means;
                   for (const auto& c : final_changes) means.push_back(experiments::mean(c));
                   return means;
                 }()).c_str(),
                 ctx.out.c_str());
  });
}
