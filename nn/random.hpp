// A seeded random stream with its own uniform and normal transforms, so the same seed gives the
// same numbers with any standard library, on any thread count.
#pragma once

#include <cstdint>
#include <random>

#include "autodiff/tensor.hpp"

namespace nn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  double uniform();                      // [0, 1), 53 random bits
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1), Box–Muller

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// A tensor of independent N(0, 1) draws from Rng(seed): random inputs, targets and directions.
autodiff::Tensor standard_normal(const autodiff::Shape& shape, std::uint64_t seed);

}  // namespace nn
