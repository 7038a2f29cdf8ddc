// Tensors (weights, data sets, kernels) to and from NumPy's .npy files, through xtensor's npy
// support: inspect weights in numpy, resume runs.
#pragma once

#include <string>

#include "autodiff/tensor.hpp"

namespace nn {

// Writes a float64 .npy; the file appears complete or not at all (written aside, then renamed).
void save_npy(const std::string& path, const autodiff::Tensor& t);
// Reads a float64 .npy; errors name the file and what is wrong with it.
autodiff::Tensor load_npy(const std::string& path);

}  // namespace nn
