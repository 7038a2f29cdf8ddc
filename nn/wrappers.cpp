#include "nn/wrappers.hpp"

#include <cmath>

#include <fmt/format.h>

#include "autodiff/ops.hpp"

namespace nn {

namespace ad = autodiff;

Centered::Centered(ModelPtr inner, Tensor w0) : inner_(std::move(inner)), w0_(std::move(w0)) {
  if (!inner_) throw ad::Error("Centered: no model given");
  if (w0_.shape() != Shape{inner_->num_params()})
    throw ad::Error(fmt::format("Centered: w0 has shape {}, the model has {} parameters", ad::to_string(w0_.shape()),
                                inner_->num_params()));
}

Tensor Centered::init(std::uint64_t) const { return w0_; }

Var Centered::forward(const Var& w, const Var& x) const {
  // Same inputs, same op sequence: at w = w0 both terms are bitwise equal, so the output is 0.
  const Var frozen = w.tape().constant(w0_);
  return inner_->forward(w, x) - inner_->forward(frozen, x);
}

std::string Centered::describe() const { return fmt::format("Centered({})", inner_->describe()); }

Scaled::Scaled(ModelPtr inner, double alpha) : inner_(std::move(inner)), alpha_(alpha) {
  if (!inner_) throw ad::Error("Scaled: no model given");
  if (!std::isfinite(alpha)) throw ad::Error(fmt::format("Scaled: alpha must be finite, got {}", alpha));
}

Var Scaled::forward(const Var& w, const Var& x) const { return ad::scale(inner_->forward(w, x), alpha_); }

std::string Scaled::describe() const { return fmt::format("Scaled(alpha={}, {})", alpha_, inner_->describe()); }

std::shared_ptr<Centered> centered(ModelPtr inner, std::uint64_t seed) {
  Tensor w0 = inner->init(seed);
  return std::make_shared<Centered>(std::move(inner), std::move(w0));
}

std::shared_ptr<Scaled> scaled(ModelPtr inner, double alpha) {
  return std::make_shared<Scaled>(std::move(inner), alpha);
}

}  // namespace nn
