// Helpers shared by the autodiff tests: seeded inputs and an independent error measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "autodiff/tensor.hpp"

namespace autodiff_test {

using autodiff::Shape;
using autodiff::Tensor;

// Entries uniform in [lo, hi) from a seeded generator: same seed, same tensor.
inline Tensor uniform(const Shape& shape, std::uint64_t seed, double lo = -1.5, double hi = 1.5) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor t = Tensor::empty(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.flat(i) = u(rng);
  return t;
}

// max |a - b| / max(1, |a|, |b|) over elements, written here again so that a bug in the library's
// own max_relative_difference cannot hide one; infinity when the shapes differ or on NaN.
inline double rel_error(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a.flat(i), y = b.flat(i);
    const double e = std::abs(x - y) / std::max({1.0, std::abs(x), std::abs(y)});
    if (std::isnan(e)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, e);
  }
  return worst;
}

}  // namespace autodiff_test
