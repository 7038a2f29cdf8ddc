// Model wrappers for the lazy-training experiments (Chizat, Oyallon & Bach):
//   Centered: f(x, w) − f(x, w0) with a frozen copy at w0, so the output at w0 is exactly 0;
//   Scaled:   α f(x, w).
// They compose: the post's α-experiments use Scaled(Centered(net)), whose κ is κ(net)/α.
#pragma once

#include "nn/model.hpp"

namespace nn {

class Centered : public Model {
 public:
  Centered(ModelPtr inner, Tensor w0);

  std::size_t input_dim() const override { return inner_->input_dim(); }
  std::size_t output_dim() const override { return inner_->output_dim(); }
  std::vector<ParamBlock> layout() const override { return inner_->layout(); }
  // The frozen point w0 for any seed: the copy fixes the initialization.
  Tensor init(std::uint64_t seed) const override;
  Var forward(const Var& w, const Var& x) const override;
  std::string describe() const override;

  const Tensor& w0() const { return w0_; }
  const Model& inner() const { return *inner_; }

 private:
  ModelPtr inner_;
  Tensor w0_;
};

class Scaled : public Model {
 public:
  Scaled(ModelPtr inner, double alpha);

  std::size_t input_dim() const override { return inner_->input_dim(); }
  std::size_t output_dim() const override { return inner_->output_dim(); }
  std::vector<ParamBlock> layout() const override { return inner_->layout(); }
  Tensor init(std::uint64_t seed) const override { return inner_->init(seed); }
  Var forward(const Var& w, const Var& x) const override;
  std::string describe() const override;

  double alpha() const { return alpha_; }
  const Model& inner() const { return *inner_; }

 private:
  ModelPtr inner_;
  double alpha_;
};

// Centered at the inner model's initialization for `seed`.
std::shared_ptr<Centered> centered(ModelPtr inner, std::uint64_t seed);
std::shared_ptr<Scaled> scaled(ModelPtr inner, double alpha);

}  // namespace nn
