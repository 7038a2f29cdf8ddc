// A cotangent being summed during a numeric reverse sweep (backward.cpp), which ops with an
// in-place VJP (OpInfo::accumulate_vjp) write into.
//
// It is not zero-filled up front: a flat gradient is made of its layers' blocks, and zeroing
// 10k entries only to add each block onto zeros costs as much as a small layer's product. An op
// that writes a block claims it first: if nothing was written there yet it overwrites the block
// (a GEMM with β = 0, a copy), otherwise it adds. Whatever no op wrote is zeroed when the sweep
// reads the cotangent (zeroed()).
//
// A descent step (autodiff::descend) points it at the variable itself instead: contributions are
// added there times −step, so the step is taken as the sweep goes, with no gradient vector.
//
// Blocks are column ranges of the tensor seen as rows of `row_length` contiguous numbers (a
// segment of a flat vector: one row; with a batch of cotangents in front: one row per batch
// element).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "autodiff/tensor.hpp"

namespace autodiff {

class Accumulator {
 public:
  bool empty() const { return !started_; }
  // Adds a term of the full shape (the first term is moved in, not added to zeros).
  void add(Tensor term);
  // Starts an unwritten cotangent of this shape, if none was started yet.
  void start(const Shape& shape);
  // Makes contributions go into `target`, times `scale`, from now on (a descent step onto x).
  void start_onto(Tensor& target, double scale);
  // What writers multiply their contribution by: 1, or −step onto a variable.
  double scale() const { return scale_; }
  // Claims columns [first, first + count) of every row of length row_length: true if none of
  // them was written before (the caller overwrites them), false if some were (the unwritten
  // ones were zeroed now; the caller adds).
  bool claim(std::size_t first, std::size_t count, std::size_t row_length);
  // The numbers as they stand, for writing a claimed block.
  Tensor& tensor() { return target_ != nullptr ? *target_ : total_; }
  // The cotangent with every unwritten number zeroed: what the sweep reads and adds into.
  Tensor& zeroed();

 private:
  void zero_gaps(std::size_t first, std::size_t last);  // unwritten columns in [first, last), every row

  Tensor total_;
  Tensor* target_ = nullptr;  // set by start_onto
  double scale_ = 1.0;
  bool started_ = false;
  bool complete_ = false;                                  // every number written (or zeroed)
  std::size_t row_length_ = 0;                             // of the claims so far
  std::vector<std::pair<std::size_t, std::size_t>> written_;  // claimed [first, last) ranges, sorted, disjoint
};

}  // namespace autodiff
