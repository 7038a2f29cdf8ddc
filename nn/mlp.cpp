#include "nn/mlp.hpp"

#include <fmt/format.h>

#include "autodiff/huge_pages.hpp"

namespace nn {

MLP::MLP(const MLPConfig& config) : config_(config) {
  std::vector<std::size_t> sizes = {config.input_dim};
  sizes.insert(sizes.end(), config.hidden.begin(), config.hidden.end());
  sizes.push_back(config.output_dim);
  std::size_t offset = 0;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const DenseConfig dense{sizes[l],         sizes[l + 1], config.bias, config.parameterization,
                            config.init,      config.sw2, config.sb2};
    layers_.emplace_back(dense, offset, fmt::format("layer{}", l + 1));
    offset += layers_.back().num_params();
  }
}

std::vector<ParamBlock> MLP::layout() const {
  std::vector<ParamBlock> blocks;
  for (const Dense& layer : layers_)
    for (const ParamBlock& b : layer.blocks()) blocks.push_back(b);
  return blocks;
}

Tensor MLP::init(std::uint64_t seed) const {
  Tensor w = Tensor::empty({num_params()});  // every entry is written by its layer
  autodiff::advise_huge_pages(w.data(), w.size() * sizeof(double));
  for (const Dense& layer : layers_) layer.init(w, seed);
  return w;
}

Var MLP::forward(const Var& w, const Var& x) const {
  check_inputs("MLP::forward", w.shape(), x.shape());
  Var h = x;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    h = layers_[l].forward(w, h);
    if (l + 1 < layers_.size()) h = activate(config_.activation, h);
  }
  return h;
}

std::string MLP::describe() const {
  std::string widths = fmt::format("{}", config_.input_dim);
  for (std::size_t m : config_.hidden) widths += fmt::format("-{}", m);
  widths += fmt::format("-{}", config_.output_dim);
  // Every setting of MLPConfig, in its order.
  return fmt::format("MLP {} {} {} {} {} sw2={} sb2={}", widths, to_string(config_.activation),
                     to_string(config_.parameterization), to_string(config_.init), config_.bias ? "bias" : "no-bias",
                     config_.sw2, config_.sb2);
}

}  // namespace nn
