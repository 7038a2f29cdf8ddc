// A linear map given by functions instead of a matrix, recorded on the tape as one op:
// y = A x, whose VJP is Aᵀ g and whose JVP is A d — both again this op, so derivatives of any
// order compose. Use it for maps that are cheap to apply but expensive to form, e.g. a Jacobian
// J(w0) applied through one JVP (ntk::Linearized does exactly that).
#pragma once

#include <memory>

#include "autodiff/tape.hpp"

namespace autodiff {

class LinearOperator {
 public:
  virtual ~LinearOperator() = default;
  virtual Shape in_shape() const = 0;
  virtual Shape out_shape() const = 0;
  virtual Tensor apply(const Tensor& x) const = 0;            // in_shape -> out_shape
  virtual Tensor apply_transpose(const Tensor& y) const = 0;  // out_shape -> in_shape
};

// A x (or Aᵀ x). Leading axes of x beyond in_shape are a batch: A applies to each entry.
Tensor apply_linear(const std::shared_ptr<const LinearOperator>& a, const Tensor& x, bool transposed = false);
Var apply_linear(const std::shared_ptr<const LinearOperator>& a, const Var& x, bool transposed = false);

}  // namespace autodiff
