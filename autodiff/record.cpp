#include "autodiff/record.hpp"

#include <fmt/format.h>

namespace autodiff::detail {

// A tangent of an input with fewer axes than the output gets size-1 axes after the batch axes,
// so that broadcasting in the rule aligns the op's own axes, not the batch, from the right.
Tensor lift_tangent(const Tensor& tangent, const Shape& batch, std::size_t in_rank, std::size_t out_rank) {
  if (in_rank >= out_rank) return tangent;
  const Shape& shape = tangent.shape();
  Shape lifted(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(batch.size()));
  for (std::size_t k = in_rank; k < out_rank; ++k) lifted.push_back(1);
  lifted.insert(lifted.end(), shape.begin() + static_cast<std::ptrdiff_t>(batch.size()), shape.end());
  return reshape(tangent, lifted);
}

// When only some inputs carry tangents, their sum may still be broadcast-smaller than the output.
Tensor complete_tangent(Tensor tangent, const Shape& batch, const Shape& out_shape, const char* op) {
  const Shape expected = join_shapes(batch, out_shape);
  if (tangent.shape() == expected) return tangent;
  // Without a batch, an unlifted tangent of lower rank lines up from the right (NumPy broadcasting).
  if (tangent.dim() > expected.size() || (tangent.dim() < expected.size() && !batch.empty()))
    throw Error(fmt::format("{}: internal error: tangent of shape {} for an output of shape {} (batch {})", op,
                            to_string(tangent.shape()), to_string(out_shape), to_string(batch)));
  return broadcast_to(tangent, out_shape, batch.size());
}

Tape& common_tape(const Var* inputs, std::uint32_t n, const char* op) {
  if (n == 0) throw Error(fmt::format("{}: no inputs", op));
  Tape& tape = inputs[0].tape();
  for (std::uint32_t k = 0; k < n; ++k) {
    tape.check(inputs[k], op);
    if (&inputs[k].tape() != &tape)
      throw Error(fmt::format("{}: inputs live on different tapes (a Var from one computation used in another)", op));
  }
  return tape;
}

}  // namespace autodiff::detail
