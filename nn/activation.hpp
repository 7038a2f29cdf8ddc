// Pointwise nonlinearities between layers.
#pragma once

#include <string>

#include "autodiff/tape.hpp"

namespace nn {

enum class Activation { identity, relu, tanh, erf, sigmoid, sin };

autodiff::Var activate(Activation activation, const autodiff::Var& x);
std::string to_string(Activation activation);
Activation parse_activation(const std::string& name);  // "relu", "tanh", ...; throws on others

}  // namespace nn
