#include "nn/activation.hpp"

#include <fmt/format.h>

#include "autodiff/ops.hpp"

namespace nn {

namespace ad = autodiff;

ad::Var activate(Activation activation, const ad::Var& x) {
  switch (activation) {
    case Activation::identity: return x;
    case Activation::relu: return ad::relu(x);
    case Activation::tanh: return ad::tanh(x);
    case Activation::erf: return ad::erf(x);
    case Activation::sigmoid: return ad::sigmoid(x);
    case Activation::sin: return ad::sin(x);
  }
  throw ad::Error("activate: unknown activation");
}

namespace {
constexpr Activation kAll[] = {Activation::identity, Activation::relu,    Activation::tanh,
                               Activation::erf,      Activation::sigmoid, Activation::sin};
}

std::string to_string(Activation activation) {
  switch (activation) {
    case Activation::identity: return "identity";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::erf: return "erf";
    case Activation::sigmoid: return "sigmoid";
    case Activation::sin: return "sin";
  }
  return "unknown";
}

Activation parse_activation(const std::string& name) {
  for (Activation a : kAll)
    if (to_string(a) == name) return a;
  throw ad::Error(fmt::format("unknown activation '{}' (expected identity, relu, tanh, erf, sigmoid or sin)", name));
}

}  // namespace nn
