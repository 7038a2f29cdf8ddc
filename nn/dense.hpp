// A fully connected layer y = W h + b, as a view into the flat weight vector, in either
// parameterization:
//   standard: y = W h + b, initialized like PyTorch's nn.Linear (W, b ~ U(±1/√fan_in)) or LeCun
//             normal (W ~ N(0, σ_w²/fan_in), b = 0);
//   ntk:      W, b ~ N(0, 1) and y = (σ_w/√fan_in) W h + σ_b b — neural-tangents'
//             stax.Dense(W_std=σ_w, b_std=σ_b, parameterization='ntk').
// σ_w and σ_b are given by their squares, sw2 = σ_w² and sb2 = σ_b² (default 1 and 0), as
// everywhere in the project (ntk::InfiniteMlp, ntk-kernel --sw2/--sb2, the Python module).
// Batches are rows: H (N, in) -> H Wᵀ + b (N, out), with W stored (out, in) as PyTorch does.
#pragma once

#include <string>
#include <vector>

#include "nn/model.hpp"
#include "nn/random.hpp"

namespace nn {

enum class Parameterization { standard, ntk };
enum class Init { torch_default, lecun_normal };  // for the standard parameterization

std::string to_string(Parameterization p);
Parameterization parse_parameterization(const std::string& name);
std::string to_string(Init init);
Init parse_init(const std::string& name);

struct DenseConfig {
  std::size_t in = 1;
  std::size_t out = 1;
  bool bias = true;
  Parameterization parameterization = Parameterization::standard;
  Init init = Init::torch_default;
  double sw2 = 1.0;  // σ_w²: ntk weight scale σ_w/√fan_in; LeCun normal's variance is σ_w²/fan_in
  double sb2 = 0.0;  // σ_b²: ntk bias scale σ_b (the standard parameterization ignores it)
};

class Dense {
 public:
  Dense(const DenseConfig& config, std::size_t offset, const std::string& name);

  const DenseConfig& config() const { return config_; }
  const ParamBlock& weight() const { return weight_; }
  const ParamBlock& bias() const { return bias_; }  // size 0 without bias
  std::vector<ParamBlock> blocks() const;
  std::size_t num_params() const { return weight_.size() + bias_.size(); }

  // The constants in front of W h and b: σ_w/√fan_in and σ_b for ntk, 1 and 1 for standard.
  double weight_multiplier() const;
  double bias_multiplier() const;

  Var forward(const Var& w, const Var& h) const;
  // Fills this layer's blocks of w. Each block (weights, bias) draws from the counter-based stream
  // stream_key(seed, its offset in w) (nn/random.hpp), in parallel for large blocks: the same
  // seed gives the same weights on any thread count. Distributions as above, exactly.
  void init(Tensor& w, std::uint64_t seed) const;

 private:
  DenseConfig config_;
  ParamBlock weight_;
  ParamBlock bias_;
};

}  // namespace nn
