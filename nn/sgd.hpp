// Minibatch stochastic gradient descent with momentum on the squared loss of nn::train:
//   L_B(w) = ½ ‖f(X_B, w) − Y_B‖² / divisor   (Reduction::sum)   or that divided by |B| (mean),
// over minibatches B of a fixed data set, in an order shuffled at every epoch by nn::Rng(seed):
// the same seed gives the same batches and so, bit for bit, the same weights.
//
// Why: networks trained on thousands of real images (the comparison with kernel regression in
// the "Generalization" experiment of "Understanding the Neural Tangent Kernel", Rajat V D, 2019)
// cannot afford full-batch gradient descent; minibatch SGD with momentum is how they are trained.
//
// Momentum is PyTorch's torch.optim.SGD (dampening 0), heavy-ball by default:
//   v ← μ v + ∇L_B(w),   w ← w − η v                     (v starts at 0, so the first step is plain)
// and with `nesterov`:
//   v ← μ v + ∇L_B(w),   w ← w − η (∇L_B(w) + μ v).
// μ = 0 is plain SGD; with one batch of all N rows in their order it is nn::GradientDescent.
//
// Each batch size (the full one and a shorter last batch when N is not a multiple) has its loss
// recorded once on a tape of its own and replayed at every step with new rows and weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "autodiff/tape.hpp"
#include "nn/model.hpp"
#include "nn/random.hpp"
#include "nn/train.hpp"

namespace nn {

struct SgdConfig {
  double learning_rate = 0.1;  // η > 0
  double momentum = 0.9;       // μ in [0, 1)
  bool nesterov = false;       // needs μ > 0
  std::size_t batch_size = 128;  // 1..N; the last batch of an epoch is shorter when N is not a multiple
  std::size_t epochs = 10;
  std::uint64_t seed = 0;  // the shuffling stream
  bool shuffle = true;     // false: rows in their order every epoch
  LossConfig loss{.reduction = Reduction::mean, .divisor = 1.0};
};

// What the callback sees after each epoch (and once before the first, with epoch 0 and no loss).
struct EpochState {
  std::size_t epoch;  // epochs done
  std::size_t steps;  // updates made so far
  double mean_loss;   // the mean of the epoch's batch losses (each before its update); NaN at epoch 0
  const Tensor& w;
};
using EpochCallback = std::function<void(const EpochState&)>;

struct SgdResult {
  Tensor w;                          // the final weights
  std::vector<double> epoch_losses;  // mean batch loss of each epoch
  std::size_t steps = 0;
};

class Sgd {
 public:
  Sgd(const Model& model, Tensor w0, Tensor x, Tensor y, const SgdConfig& config);

  // One update on the given rows of the data set; returns the batch loss before it.
  double step(const std::vector<std::size_t>& rows);
  // One pass over the data in this epoch's order; returns the mean batch loss.
  double epoch();

  const Tensor& w() const { return w_; }
  const Tensor& velocity() const { return velocity_; }
  std::size_t epochs_done() const { return epochs_; }
  std::size_t steps_done() const { return steps_; }

 private:
  // The loss of one batch size, recorded once and replayed.
  struct Recording {
    std::unique_ptr<autodiff::Tape> tape;
    Var x, y, w, loss;
    std::size_t steady = 0;  // where the recorded loss starts (after the leaves)
  };
  Recording& recording(std::size_t rows);

  const Model& model_;
  SgdConfig config_;
  Tensor x_, y_, w_, velocity_;
  Rng rng_;
  std::vector<std::size_t> order_;
  std::map<std::size_t, Recording> recordings_;
  std::size_t epochs_ = 0, steps_ = 0;
};

// config.epochs epochs of Sgd from w0; the callback runs before the first and after each epoch.
SgdResult sgd(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const SgdConfig& config,
              const EpochCallback& callback = {});

}  // namespace nn
