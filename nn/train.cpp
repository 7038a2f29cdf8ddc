#include "nn/train.hpp"

#include <cmath>

#include <fmt/format.h>

#include "autodiff/backward.hpp"
#include "autodiff/ops.hpp"

namespace nn {

namespace ad = autodiff;

Var squared_loss(const Var& prediction, const Var& target, const LossConfig& config) {
  if (prediction.shape() != target.shape())
    throw ad::Error(fmt::format("squared_loss: predictions have shape {}, targets {}",
                                ad::to_string(prediction.shape()), ad::to_string(target.shape())));
  double factor = 0.5 / config.divisor;
  if (config.reduction == Reduction::mean && prediction.dim() > 0)
    factor /= static_cast<double>(prediction.shape()[0]);
  return ad::scale(ad::squared_distance(prediction, target), factor);
}

namespace {

double distance(const Tensor& a, const Tensor& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a.flat(i) - b.flat(i)) * (a.flat(i) - b.flat(i));
  return std::sqrt(s);
}

void check_config(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const TrainConfig& c) {
  model.check_inputs("train", w0.shape(), x.shape());
  const Shape expected{x.shape()[0], model.output_dim()};
  if (y.shape() != expected)
    throw ad::Error(fmt::format("train: targets have shape {}, expected {}", ad::to_string(y.shape()),
                                ad::to_string(expected)));
  if (!ad::all_finite(w0) || !ad::all_finite(x) || !ad::all_finite(y))
    throw ad::Error("train: weights, inputs or targets contain non-finite values");
  if (!(c.learning_rate > 0.0) || !std::isfinite(c.learning_rate))
    throw ad::Error(fmt::format("train: learning rate must be positive and finite, got {}", c.learning_rate));
  if (!(c.loss.divisor > 0.0) || !std::isfinite(c.loss.divisor))
    throw ad::Error(fmt::format("train: loss divisor must be positive and finite, got {}", c.loss.divisor));
}

}  // namespace

GradientDescent::GradientDescent(const Model& model, Tensor w0, Tensor x, Tensor y, const TrainConfig& config)
    : model_(model), config_(config) {
  check_config(model, w0, x, y, config);
  x_ = tape_.constant(std::move(x));
  y_ = tape_.constant(std::move(y));
  w_var_ = tape_.variable(std::move(w0));
  steady_ = tape_.size();
}

double GradientDescent::evaluate() {
  const ad::UseTape use(tape_);
  if (!loss_.valid()) {  // the first time: record; later steps replay the recording at the new w
    loss_ = squared_loss(model_.forward(w_var_, x_), y_, config_.loss);
  } else {
    tape_.replay(steady_);
  }
  const double value = loss_.value().item();
  if (!std::isfinite(value))
    throw ad::Error(fmt::format("train: the loss became {} at step {} (learning rate {} too large?)", value,
                                evaluations_, config_.learning_rate));
  ++evaluations_;
  return value;
}

void GradientDescent::update() { ad::descend(loss_, w_var_, config_.learning_rate); }

TrainResult train(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const TrainConfig& config,
                  const StepCallback& callback) {
  GradientDescent descent(model, w0, x, y, config);
  TrainResult result;
  const double w0_norm = norm(w0);
  for (std::size_t step = 0;; ++step) {
    const double value = descent.evaluate();
    const double change = w0_norm > 0 ? distance(descent.w(), w0) / w0_norm : distance(descent.w(), w0);
    result.losses.push_back(value);
    result.relative_changes.push_back(change);
    result.steps = step;
    if (callback) callback({step, value, change, descent.w()});
    if (value <= config.loss_threshold) {
      result.reached_threshold = true;
      break;
    }
    if (step == config.max_steps) break;
    descent.update();
  }
  result.w = descent.w();
  return result;
}

StepCallback Snapshots::callback() {
  return [this](const TrainState& s) {
    if (every == 0 || s.step % every != 0) return;
    steps.push_back(s.step);
    weights.push_back(s.w);
  };
}

}  // namespace nn
