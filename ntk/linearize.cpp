#include "ntk/linearize.hpp"

#include <functional>

#include <fmt/format.h>

#include "autodiff/autodiff.hpp"

namespace ntk {

namespace ad = autodiff;
using ad::Tensor;
using ad::Var;

namespace {

// v ↦ J(X, w0) v by a JVP and u ↦ J(X, w0)ᵀ u by a VJP of w ↦ f(X, w) at w0.
class JacobianOperator : public ad::LinearOperator {
 public:
  JacobianOperator(nn::ModelPtr model, Tensor w0, Tensor x)
      : model_(std::move(model)), w0_(std::move(w0)), x_(std::move(x)) {}
  ad::Shape in_shape() const override { return w0_.shape(); }
  ad::Shape out_shape() const override { return {x_.shape()[0], model_->output_dim()}; }
  Tensor apply(const Tensor& v) const override { return ad::jvp(outputs(), w0_, v).second; }
  Tensor apply_transpose(const Tensor& u) const override { return ad::vjp(outputs(), w0_, u).second; }

 private:
  std::function<Var(const Var&)> outputs() const {
    return [this](const Var& w) { return model_->forward(w, w.tape().constant(x_)); };
  }
  nn::ModelPtr model_;
  Tensor w0_;
  Tensor x_;
};

}  // namespace

Linearized::Linearized(nn::ModelPtr model, Tensor w0) : model_(std::move(model)), w0_(std::move(w0)) {
  if (!model_) throw ad::Error("Linearized: no model given");
  if (w0_.shape() != ad::Shape{model_->num_params()})
    throw ad::Error(fmt::format("Linearized: w0 has shape {}, the model has {} parameters", ad::to_string(w0_.shape()),
                                model_->num_params()));
}

Tensor Linearized::init(std::uint64_t) const { return w0_; }

Var Linearized::forward(const Var& w, const Var& x) const {
  check_inputs("Linearized::forward", w.shape(), x.shape());
  if (x.requires_grad())
    throw ad::Error("Linearized::forward: derivatives with respect to the inputs x are not supported");
  const Tensor f0 = model_->predict(w0_, x.value());
  const auto jacobian = std::make_shared<JacobianOperator>(model_, w0_, x.value());
  return w.tape().constant(f0) + ad::apply_linear(jacobian, w - w.tape().constant(w0_));
}

std::string Linearized::describe() const { return fmt::format("Linearized({})", model_->describe()); }

std::shared_ptr<Linearized> linearize(nn::ModelPtr model, Tensor w0) {
  return std::make_shared<Linearized>(std::move(model), std::move(w0));
}

}  // namespace ntk
