// Full-batch gradient descent on the squared loss, as in the post:
//   L(w) = ½ ‖y(w) − ȳ‖²           (Reduction::sum)   or   ½ (1/N) ‖y(w) − ȳ‖²   (Reduction::mean),
// optionally divided by a constant (the post divides by α² so losses of α-scaled models compare).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "nn/model.hpp"

namespace nn {

enum class Reduction { sum, mean };

struct LossConfig {
  Reduction reduction = Reduction::sum;
  double divisor = 1.0;  // α² for the post's scaled models
};

// The loss of predictions (N, k) against targets (N, k), on the tape.
Var squared_loss(const Var& prediction, const Var& target, const LossConfig& config = {});

struct TrainConfig {
  double learning_rate = 1e-3;
  std::size_t max_steps = 1000;
  double loss_threshold = 0.0;  // stop as soon as the loss is at most this
  LossConfig loss{};
};

// What the callback sees before each update (and once at the end).
struct TrainState {
  std::size_t step;        // updates made so far
  double loss;             // L(w) at this step
  double relative_change;  // ‖w − w0‖ / ‖w0‖ (‖w − w0‖ when w0 = 0)
  const Tensor& w;
};
using StepCallback = std::function<void(const TrainState&)>;

struct TrainResult {
  Tensor w;                              // the final weights
  std::vector<double> losses;            // one per visited step, the first at w0
  std::vector<double> relative_changes;  // likewise
  std::size_t steps = 0;                 // updates made
  bool reached_threshold = false;
};

TrainResult train(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const TrainConfig& config,
                  const StepCallback& callback = {});

// Gradient descent one step at a time on a fixed data set: what train() runs, and what a
// benchmark times. Inputs are checked once; the loss is recorded once on this object's own tape
// and replayed at each new w (Tape::replay), and update() steps w in place during the backward
// sweep (autodiff::descend).
class GradientDescent {
 public:
  GradientDescent(const Model& model, Tensor w0, Tensor x, Tensor y, const TrainConfig& config);

  double evaluate();  // L(w) at the current w (recorded, ready for update())
  void update();      // w ← w − η ∇L(w), from the last evaluate()
  double step() {     // both; returns the loss before the update
    const double loss = evaluate();
    update();
    return loss;
  }
  const Tensor& w() const { return tape_.node(w_var_.index()).value; }

 private:
  const Model& model_;
  TrainConfig config_;
  autodiff::Tape tape_;
  // The leaves: the data and w itself, which update() changes in place; the loss recorded from
  // them is replayed by the next evaluate(), so nothing goes stale.
  Var x_, y_, w_var_, loss_;
  std::size_t steady_ = 0;  // the tape size after x, y and w: where the recorded loss starts
  std::size_t evaluations_ = 0;
};

// A callback that keeps a copy of w every `every` steps (and at step 0).
struct Snapshots {
  std::size_t every = 1;
  std::vector<std::size_t> steps{};  // {}: `Snapshots{.every = k}` is warning-free under -Wextra
  std::vector<Tensor> weights{};
  StepCallback callback();
};

}  // namespace nn
