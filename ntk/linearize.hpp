// The linearization of a model around w0 (the post's Taylor expansion):
//   f_lin(x, w) = f(x, w0) + J(x, w0) (w − w0),
// evaluated with one JVP of f at w0 (never forming J), as an nn::Model that the nn trainer can
// train: the map v ↦ J v is recorded as one linear-operator op, whose VJP is one VJP of f at w0.
#pragma once

#include "nn/model.hpp"

namespace ntk {

class Linearized : public nn::Model {
 public:
  Linearized(nn::ModelPtr model, autodiff::Tensor w0);

  std::size_t input_dim() const override { return model_->input_dim(); }
  std::size_t output_dim() const override { return model_->output_dim(); }
  std::vector<nn::ParamBlock> layout() const override { return model_->layout(); }
  // The expansion point w0, whatever the seed.
  autodiff::Tensor init(std::uint64_t seed) const override;
  // Differentiable in w (to any order); x enters as data (derivatives in x are refused).
  autodiff::Var forward(const autodiff::Var& w, const autodiff::Var& x) const override;
  std::string describe() const override;

  const autodiff::Tensor& w0() const { return w0_; }
  const nn::Model& model() const { return *model_; }

 private:
  nn::ModelPtr model_;
  autodiff::Tensor w0_;
};

std::shared_ptr<Linearized> linearize(nn::ModelPtr model, autodiff::Tensor w0);

}  // namespace ntk
