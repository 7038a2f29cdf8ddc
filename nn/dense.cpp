#include "nn/dense.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "autodiff/ops.hpp"

namespace nn {

namespace ad = autodiff;

std::string to_string(Parameterization p) { return p == Parameterization::ntk ? "ntk" : "standard"; }

Parameterization parse_parameterization(const std::string& name) {
  if (name == "standard") return Parameterization::standard;
  if (name == "ntk") return Parameterization::ntk;
  throw ad::Error(fmt::format("unknown parameterization '{}' (expected standard or ntk)", name));
}

std::string to_string(Init init) { return init == Init::lecun_normal ? "lecun_normal" : "torch_default"; }

Init parse_init(const std::string& name) {
  if (name == "torch_default") return Init::torch_default;
  if (name == "lecun_normal") return Init::lecun_normal;
  throw ad::Error(fmt::format("unknown initialization '{}' (expected torch_default or lecun_normal)", name));
}

Dense::Dense(const DenseConfig& config, std::size_t offset, const std::string& name) : config_(config) {
  if (config.in == 0 || config.out == 0)
    throw ad::Error(fmt::format("Dense {}: sizes must be positive, got {} -> {}", name, config.in, config.out));
  if (!(config.sw2 >= 0.0 && std::isfinite(config.sw2)) || !(config.sb2 >= 0.0 && std::isfinite(config.sb2)))
    throw ad::Error(fmt::format("Dense {}: sw2 and sb2 are variances σ_w², σ_b² (finite, >= 0), got {} and {}", name,
                                config.sw2, config.sb2));
  weight_ = {name + ".weight", {config.out, config.in}, offset};
  bias_ = {name + ".bias", {config.bias ? config.out : 0}, offset + weight_.size()};
}

std::vector<ParamBlock> Dense::blocks() const {
  if (config_.bias) return {weight_, bias_};
  return {weight_};
}

double Dense::weight_multiplier() const {
  return config_.parameterization == Parameterization::ntk
             ? std::sqrt(config_.sw2 / static_cast<double>(config_.in))
             : 1.0;
}

double Dense::bias_multiplier() const {
  return config_.parameterization == Parameterization::ntk ? std::sqrt(config_.sb2) : 1.0;
}

Var Dense::forward(const Var& w, const Var& h) const {
  // H Wᵀ (+ b) with W (out, in) and b read in place from w, where b follows W: one op
  if (config_.bias)
    return ad::segment_affine(h, w, weight_.offset, weight_.shape, true, weight_multiplier(), bias_multiplier());
  const Var z = ad::segment_matmul(h, w, weight_.offset, weight_.shape, true);
  return weight_multiplier() != 1.0 ? ad::scale(z, weight_multiplier()) : z;
}

void Dense::init(Tensor& w, std::uint64_t seed) const {
  const double fan_in = static_cast<double>(config_.in);
  double* W = w.data() + weight_.offset;
  double* b = w.data() + bias_.offset;
  // Each block draws from its own counter-based stream, keyed by its offset in w.
  const std::uint64_t weight_key = stream_key(seed, weight_.offset), bias_key = stream_key(seed, bias_.offset);
  if (config_.parameterization == Parameterization::ntk) {
    fill_normal(W, weight_.size(), weight_key, 1.0);
    fill_normal(b, bias_.size(), bias_key, 1.0);
  } else if (config_.init == Init::torch_default) {
    const double bound = 1.0 / std::sqrt(fan_in);
    fill_uniform(W, weight_.size(), weight_key, -bound, bound);
    fill_uniform(b, bias_.size(), bias_key, -bound, bound);
  } else {
    fill_normal(W, weight_.size(), weight_key, std::sqrt(config_.sw2 / fan_in));
    std::fill(b, b + bias_.size(), 0.0);
  }
}

}  // namespace nn
