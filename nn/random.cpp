#include "nn/random.hpp"

#include <cmath>
#include <numbers>

namespace nn {

double Rng::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

autodiff::Tensor standard_normal(const autodiff::Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  autodiff::Tensor t = autodiff::Tensor::empty(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.flat(i) = rng.normal();
  return t;
}

}  // namespace nn
