#include "nn/sgd.hpp"

#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "autodiff/backward.hpp"
#include "autodiff/ops.hpp"

namespace nn {

namespace ad = autodiff;

namespace {

void check_settings(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const SgdConfig& c) {
  model.check_inputs("sgd", w0.shape(), x.shape());
  const Shape expected{x.shape()[0], model.output_dim()};
  if (y.shape() != expected)
    throw ad::Error(fmt::format("sgd: targets have shape {}, expected {}", ad::to_string(y.shape()), ad::to_string(expected)));
  if (!ad::all_finite(w0) || !ad::all_finite(x) || !ad::all_finite(y))
    throw ad::Error("sgd: weights, inputs or targets contain non-finite values");
  if (!(c.learning_rate > 0.0) || !std::isfinite(c.learning_rate))
    throw ad::Error(fmt::format("sgd: learning rate must be positive and finite, got {}", c.learning_rate));
  if (!(c.momentum >= 0.0 && c.momentum < 1.0))
    throw ad::Error(fmt::format("sgd: momentum must be in [0, 1), got {}", c.momentum));
  if (c.nesterov && c.momentum == 0.0) throw ad::Error("sgd: Nesterov momentum needs momentum > 0");
  const std::size_t n = x.shape()[0];
  if (n == 0) throw ad::Error("sgd: no training rows");
  if (c.batch_size == 0 || c.batch_size > n)
    throw ad::Error(fmt::format("sgd: batch size must be in 1..{} (the training rows), got {}", n, c.batch_size));
  if (!(c.loss.divisor > 0.0) || !std::isfinite(c.loss.divisor))
    throw ad::Error(fmt::format("sgd: loss divisor must be positive and finite, got {}", c.loss.divisor));
}

// Rows `rows` of a matrix, in that order.
Tensor gather_rows(const Tensor& m, const std::size_t* rows, std::size_t count) {
  const std::size_t width = m.shape()[1];
  Tensor out = Tensor::empty({count, width});
  for (std::size_t i = 0; i < count; ++i)
    std::copy_n(m.data() + rows[i] * width, width, out.data() + i * width);
  return out;
}

}  // namespace

Sgd::Sgd(const Model& model, Tensor w0, Tensor x, Tensor y, const SgdConfig& config)
    : model_(model), config_(config), rng_(config.seed) {
  check_settings(model, w0, x, y, config);
  x_ = std::move(x);
  y_ = std::move(y);
  w_ = std::move(w0);
  velocity_ = Tensor::zeros(w_.shape());
  order_.resize(x_.shape()[0]);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
}

Sgd::Recording& Sgd::recording(std::size_t rows) {
  auto [it, fresh] = recordings_.try_emplace(rows);
  Recording& r = it->second;
  if (fresh) {
    r.tape = std::make_unique<ad::Tape>();
    const ad::UseTape use(*r.tape);
    r.x = r.tape->constant(Tensor::zeros({rows, x_.shape()[1]}));
    r.y = r.tape->constant(Tensor::zeros({rows, y_.shape()[1]}));
    r.w = r.tape->variable(w_);
    r.steady = r.tape->size();
    r.loss = squared_loss(model_.forward(r.w, r.x), r.y, config_.loss);
  }
  return r;
}

double Sgd::step(const std::vector<std::size_t>& rows) {
  if (rows.empty()) throw ad::Error("sgd: a step needs at least one row");
  for (const std::size_t row : rows)
    if (row >= x_.shape()[0]) throw ad::Error(fmt::format("sgd: row {} out of range (the data set has {})", row, x_.shape()[0]));
  Recording& r = recording(rows.size());
  const ad::UseTape use(*r.tape);
  r.tape->set_value(r.x, gather_rows(x_, rows.data(), rows.size()));
  r.tape->set_value(r.y, gather_rows(y_, rows.data(), rows.size()));
  r.tape->set_value(r.w, w_);
  r.tape->replay(r.steady);
  const double loss = r.loss.value().item();
  if (!std::isfinite(loss))
    throw ad::Error(fmt::format("sgd: the loss became {} at step {} (epoch {}): learning rate {} too large?", loss, steps_,
                                epochs_, config_.learning_rate));
  const Tensor g = ad::gradient(r.loss, r.w);
  const double eta = config_.learning_rate, mu = config_.momentum;
  double* w = w_.data();
  double* v = velocity_.data();
  const double* grad = g.data();
  const std::size_t p = w_.size();
  if (config_.nesterov) {
    for (std::size_t i = 0; i < p; ++i) {
      v[i] = mu * v[i] + grad[i];
      w[i] -= eta * (grad[i] + mu * v[i]);
    }
  } else {
    for (std::size_t i = 0; i < p; ++i) {
      v[i] = mu * v[i] + grad[i];
      w[i] -= eta * v[i];
    }
  }
  ++steps_;
  return loss;
}

double Sgd::epoch() {
  const std::size_t n = order_.size();
  if (config_.shuffle) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    for (std::size_t i = n - 1; i > 0; --i) {  // Fisher–Yates on this run's stream
      const auto j = std::min(i, static_cast<std::size_t>(rng_.uniform() * static_cast<double>(i + 1)));
      std::swap(order_[i], order_[j]);
    }
  }
  double total = 0.0;
  std::size_t batches = 0;
  std::vector<std::size_t> rows;
  for (std::size_t start = 0; start < n; start += config_.batch_size) {
    const std::size_t end = std::min(n, start + config_.batch_size);
    rows.assign(order_.begin() + static_cast<std::ptrdiff_t>(start), order_.begin() + static_cast<std::ptrdiff_t>(end));
    total += step(rows);
    ++batches;
  }
  ++epochs_;
  return total / static_cast<double>(batches);
}

SgdResult sgd(const Model& model, const Tensor& w0, const Tensor& x, const Tensor& y, const SgdConfig& config,
              const EpochCallback& callback) {
  Sgd optimizer(model, w0, x, y, config);
  SgdResult result;
  if (callback) callback({0, 0, std::numeric_limits<double>::quiet_NaN(), optimizer.w()});
  for (std::size_t e = 0; e < config.epochs; ++e) {
    result.epoch_losses.push_back(optimizer.epoch());
    if (callback) callback({optimizer.epochs_done(), optimizer.steps_done(), result.epoch_losses.back(), optimizer.w()});
  }
  result.w = optimizer.w();
  result.steps = optimizer.steps_done();
  return result;
}

}  // namespace nn
