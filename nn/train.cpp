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
  return ad::scale(ad::sum(ad::square(prediction - target)), factor);
}

namespace {

double norm(const Tensor& t) {
  double s = 0.0;
  for (std::size_t i = 0; i < t.size(); ++i) s += t.flat(i) * t.flat(i);
  return std::sqrt(s);
}

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

TrainResult train(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const TrainConfig& config,
                  const StepCallback& callback) {
  check_config(model, w0, x, y, config);
  TrainResult result;
  result.w = w0;
  const double w0_norm = norm(w0);
  ad::TapeScope scope;
  ad::Tape& tape = scope.tape();
  for (std::size_t step = 0;; ++step) {
    tape.clear();  // the storage stays: every step records into the same memory
    const Var w = tape.variable(result.w);
    const Var loss = squared_loss(model.forward(w, tape.constant(x)), tape.constant(y), config.loss);
    const double value = loss.value().item();
    if (!std::isfinite(value))
      throw ad::Error(fmt::format("train: the loss became {} at step {} (learning rate {} too large?)", value, step,
                                  config.learning_rate));
    const double change = w0_norm > 0 ? distance(result.w, w0) / w0_norm : distance(result.w, w0);
    result.losses.push_back(value);
    result.relative_changes.push_back(change);
    result.steps = step;
    if (callback) callback({step, value, change, result.w});
    if (value <= config.loss_threshold) {
      result.reached_threshold = true;
      break;
    }
    if (step == config.max_steps) break;
    const Tensor g = ad::gradient(loss, w);
    double* wp = result.w.data();
    const double* gp = g.data();
    for (std::size_t i = 0; i < result.w.size(); ++i) wp[i] -= config.learning_rate * gp[i];
  }
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
