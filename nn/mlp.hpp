// A fully connected network: Dense, activation, ..., Dense (no activation after the last).
#pragma once

#include <vector>

#include "nn/activation.hpp"
#include "nn/dense.hpp"
#include "nn/model.hpp"

namespace nn {

struct MLPConfig {
  std::size_t input_dim = 1;
  std::vector<std::size_t> hidden = {100, 100};  // widths of the hidden layers
  std::size_t output_dim = 1;
  Activation activation = Activation::relu;
  Parameterization parameterization = Parameterization::standard;
  Init init = Init::torch_default;
  bool bias = true;
  double sw2 = 1.0;  // σ_w², a variance (see DenseConfig)
  double sb2 = 0.0;  // σ_b², a variance
};

class MLP : public Model {
 public:
  explicit MLP(const MLPConfig& config);

  std::size_t input_dim() const override { return config_.input_dim; }
  std::size_t output_dim() const override { return config_.output_dim; }
  std::vector<ParamBlock> layout() const override;
  Tensor init(std::uint64_t seed) const override;
  Var forward(const Var& w, const Var& x) const override;
  std::string describe() const override;

  const MLPConfig& config() const { return config_; }
  const std::vector<Dense>& layers() const { return layers_; }

 private:
  MLPConfig config_;
  std::vector<Dense> layers_;
};

}  // namespace nn
