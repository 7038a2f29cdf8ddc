// Why: the post's data sets are lists of scalar inputs and targets, and models take a batch as an
// (N, input_dim) matrix; every 1-D experiment makes that column the same way.
#pragma once

#include <vector>

#include "autodiff/tensor.hpp"

namespace experiments {

// values as an (N, 1) matrix: N points of dimension 1.
inline autodiff::Tensor as_column(const std::vector<double>& values) {
  return autodiff::Tensor(values, {values.size(), 1});
}

}  // namespace experiments
