// train-100: the post's "Training 100 ReLU nets using gradient descent on square loss" (section
// "Setup" of "Understanding the Neural Tangent Kernel", Rajat V D, 2019): the same 100 nets as the
// post's first figure (1 -> 100 -> 100 -> 1, relu, PyTorch's default initialization, net k drawn
// from seed + k, as in random-functions) trained by full-batch gradient descent on the post's two
// data points with L(w) = ½‖y(w) − ȳ‖² (nn::GradientDescent: the loss recorded once, replayed).
//
//   snapshots.csv  f(x) of every net on a grid of x at the animation's frames (evenly spaced steps,
//                  the first at initialization, the last after the final update);
//   losses.csv     L(w) of every net at every step (step 0 = the initial net).
//
// The post's GIF shows every net bending to pass through both points; the numbers here say how
// close they get: the final loss of each net, its median with a bootstrap interval, the fraction
// of nets below a threshold, and whether any step raised a net's loss.
#include <algorithm>
#include <cmath>
#include <cstdio>
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

using autodiff::Tensor;
using experiments::cell;

struct Settings {
  std::size_t width = 100;
  std::size_t nets = 100;
  std::vector<double> x = {-3.0, 0.5};  // the post's two data points
  std::vector<double> y = {2.0, -1.0};
  double learning_rate = 1e-3;
  std::size_t steps = 500;
  std::size_t frames = 41;   // animation frames (snapshots), evenly spaced in steps
  std::size_t points = 200;  // x grid of the snapshots
  double x_min = -4.0, x_max = 4.0;
  double small_loss = 1e-3;  // "fitted": final loss below this
};

// The steps at which snapshots are taken: round(i·steps/(frames − 1)), distinct, 0 and steps included.
std::vector<std::size_t> frame_steps(std::size_t steps, std::size_t frames) {
  std::vector<std::size_t> v;
  for (std::size_t i = 0; i < frames; ++i) {
    const auto step = static_cast<std::size_t>(
        std::llround(static_cast<double>(i) * static_cast<double>(steps) / static_cast<double>(frames - 1)));
    if (v.empty() || v.back() != step) v.push_back(step);
  }
  return v;
}

struct NetRun {
  std::vector<double> losses;      // steps + 1
  std::vector<Tensor> snapshots;   // one per frame, (points, 1)
  std::size_t increases = 0;       // steps where the loss went up
  double largest_increase = 0.0;   // relative: (L_{t+1} − L_t)/L_t
};

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  experiments::Experiment experiment("train-100", "The post's 100 random relu nets trained by full-batch gradient descent "
                                                  "on two points: functions over training and final losses");
  auto& app = experiment.app();
  app.add_option("--width", s.width, "hidden width")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--nets", s.nets, "number of nets (seeds seed..seed+nets-1)")->check(CLI::Range(1, 100000))->capture_default_str();
  experiment.quick(s.nets, std::size_t{10});
  app.add_option("--x", s.x, "inputs of the data points")->capture_default_str();
  app.add_option("--y", s.y, "targets of the data points")->capture_default_str();
  app.add_option("--lr", s.learning_rate, "learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--steps", s.steps, "gradient-descent steps")->check(CLI::Range(1, 10000000))->capture_default_str();
  experiment.quick(s.steps, std::size_t{100});
  app.add_option("--frames", s.frames, "snapshots (animation frames), evenly spaced in steps")
      ->check(CLI::Range(2, 1000))->capture_default_str();
  experiment.quick(s.frames, std::size_t{11});
  app.add_option("--points", s.points, "x points per snapshot")->check(CLI::Range(2, 100000))->capture_default_str();
  experiment.quick(s.points, std::size_t{41});
  app.add_option("--x-min", s.x_min, "left end of the snapshot grid")->capture_default_str();
  app.add_option("--x-max", s.x_max, "right end of the snapshot grid")->capture_default_str();
  app.add_option("--small-loss", s.small_loss, "a net counts as fitted below this final loss")
      ->check(CLI::PositiveNumber)->capture_default_str();

  return experiment.main(argc, argv, [&](const experiments::Context& ctx) {
    experiments::require(!s.x.empty() && s.x.size() == s.y.size(), "--x/--y", "need the same positive number of inputs and targets");
    for (double v : s.x) experiments::require(std::isfinite(v), "--x", "must be finite");
    for (double v : s.y) experiments::require(std::isfinite(v), "--y", "must be finite");
    experiments::require(std::isfinite(s.learning_rate), "--lr", "must be finite");
    experiments::require(std::isfinite(s.x_min) && std::isfinite(s.x_max) && s.x_min < s.x_max, "--x-min/--x-max",
                         "need finite x-min < x-max");
    experiments::require(s.frames <= s.steps + 1, "--frames", fmt::format("at most --steps + 1 = {}", s.steps + 1));

    nn::MLPConfig config;  // relu, standard parameterization, PyTorch's default initialization
    config.hidden = {s.width, s.width};
    const nn::MLP model(config);
    const Tensor x = experiments::as_column(s.x), y = experiments::as_column(s.y);
    std::vector<double> grid(s.points);
    for (std::size_t i = 0; i < s.points; ++i)
      grid[i] = s.x_min + (s.x_max - s.x_min) * static_cast<double>(i) / static_cast<double>(s.points - 1);
    const Tensor x_grid = experiments::as_column(grid);
    const std::vector<std::size_t> frames = frame_steps(s.steps, s.frames);
    nn::TrainConfig train;
    train.learning_rate = s.learning_rate;
    train.max_steps = s.steps;
    train.loss = {nn::Reduction::sum, 1.0};  // ½‖y(w) − ȳ‖², the post's loss

    std::vector<NetRun> runs(s.nets);
    {
      experiments::Progress progress("training", static_cast<double>(s.nets));
      experiments::parallel_for(s.nets, ctx.threads, [&](std::size_t k) {
        NetRun& run = runs[k];
        nn::GradientDescent gd(model, model.init(ctx.seed + k), x, y, train);
        std::size_t next_frame = 0;
        for (std::size_t step = 0; step <= s.steps; ++step) {
          run.losses.push_back(gd.evaluate());
          if (next_frame < frames.size() && frames[next_frame] == step) {
            run.snapshots.push_back(model.predict(gd.w(), x_grid));
            ++next_frame;
          }
          if (step > 0 && run.losses[step] > run.losses[step - 1]) {
            ++run.increases;
            run.largest_increase = std::max(run.largest_increase, (run.losses[step] - run.losses[step - 1]) / run.losses[step - 1]);
          }
          if (step < s.steps) gd.update();
        }
      }, &progress);
    }

    experiments::Table snapshots({"net", "step", "x", "f"});
    for (std::size_t k = 0; k < s.nets; ++k)
      for (std::size_t f = 0; f < frames.size(); ++f)
        for (std::size_t i = 0; i < s.points; ++i)
          snapshots.add({cell(k), cell(frames[f]), cell(grid[i]), cell(runs[k].snapshots[f].flat(i))});
    snapshots.write(ctx.file("snapshots.csv"));
    experiments::Table losses({"net", "step", "loss"});
    for (std::size_t k = 0; k < s.nets; ++k)
      for (std::size_t step = 0; step <= s.steps; ++step) losses.add({cell(k), cell(step), cell(runs[k].losses[step])});
    losses.write(ctx.file("losses.csv"));

    // ---- summary -------------------------------------------------------------------------------
    std::vector<double> initial, final, fitted;
    std::size_t nets_with_increase = 0;
    double largest_increase = 0.0;
    for (const NetRun& run : runs) {
      initial.push_back(run.losses.front());
      final.push_back(run.losses.back());
      fitted.push_back(run.losses.back() < s.small_loss ? 1.0 : 0.0);
      nets_with_increase += run.increases > 0 ? 1 : 0;
      largest_increase = std::max(largest_increase, run.largest_increase);
    }
    const double median_final = experiments::median(final);
    const auto median_ci = experiments::bootstrap_ci(final, experiments::median, ctx.seed + 101);
    const double fraction = experiments::mean(fitted);
    const auto fraction_ci = experiments::bootstrap_ci(fitted, experiments::mean, ctx.seed + 102);
    const double geometric = experiments::geometric_mean(final);
    const auto geometric_ci = experiments::bootstrap_ci(final, experiments::geometric_mean, ctx.seed + 103);
    const double median_initial = experiments::median(initial);
    const auto initial_ci = experiments::bootstrap_ci(initial, experiments::median, ctx.seed + 104);

    experiments::Summary summary(ctx, "100 random relu nets trained by gradient descent on two points", "Setup");
    summary.settings = {{"width", s.width}, {"depth", 2},          {"nets", s.nets},   {"x", s.x},
                        {"y", s.y},         {"lr", s.learning_rate}, {"steps", s.steps}, {"frames", frames.size()},
                        {"points", s.points}, {"x_min", s.x_min},  {"x_max", s.x_max}, {"small_loss", s.small_loss},
                        {"loss", "0.5 * ||y(w) - y_bar||^2 (sum over the data points)"},
                        {"init", "torch_default: W, b ~ U(+-1/sqrt(fan_in))"}};
    for (std::size_t k = 0; k < s.nets; ++k) summary.seeds.push_back(ctx.seed + k);
    summary.extra = {{"frame_steps", frames}, {"final_losses", final}};
    summary.expectation =
        "The post's animation shows every net bending through both data points under gradient descent: the loss of "
        "every net should fall to near 0 and (at this small learning rate) never rise.";
    summary.headline("median final loss", median_final, median_ci, fmt::format("over {} nets after {} steps", s.nets, s.steps));
    summary.headline("geometric mean final loss", geometric, geometric_ci, "over the nets");
    summary.headline(fmt::format("fraction of nets with final loss < {:g}", s.small_loss), fraction, fraction_ci,
                     "bootstrap over nets");
    summary.headline("largest final loss", experiments::maximum(final), "the worst net");
    summary.headline("median initial loss", median_initial, initial_ci, "at initialization");
    summary.headline("nets whose loss rose at some step", static_cast<double>(nets_with_increase),
                     fmt::format("largest relative rise {:.3g}", largest_increase));
    summary.verdict("gradient descent brings every net's loss below the threshold within the steps run (the post's "
                    "animation shows all nets passing through both points)",
                    fmt::format("every final loss < {:g}", s.small_loss),
                    fmt::format("{} of {} nets; median {}", static_cast<std::size_t>(std::lround(fraction * static_cast<double>(s.nets))),
                                s.nets, experiments::with_ci(median_final, median_ci)),
                    fraction == 1.0,
                    fmt::format("largest final loss {:.3g} (residuals at most sqrt(2L) = {:.3g}: on the points to the "
                                "eye); loss fell by a factor {:.3g} (median)",
                                experiments::maximum(final), std::sqrt(2.0 * experiments::maximum(final)),
                                median_initial / median_final));
    summary.verdict("the loss never rises at this learning rate", "L(w_{t+1}) <= L(w_t) for every net and step",
                    fmt::format("{} nets with a rise", nets_with_increase), nets_with_increase == 0,
                    nets_with_increase == 0 ? "monotone for every net"
                                            : fmt::format("largest relative rise {:.3g}", largest_increase));
    summary.write();
    std::fprintf(stderr, "train-100: median final loss %s, %.0f%% of nets below %g; results in %s\n",
                 experiments::with_ci(median_final, median_ci).c_str(), 100.0 * fraction, s.small_loss, ctx.out.c_str());
  });
}
