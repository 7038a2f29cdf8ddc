// Shared by the tests/nn_*.cpp files: independent reference computations and small utilities.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"
#include "autodiff_helpers.hpp"
#include "nn/nn.hpp"

namespace nn_test {

using autodiff::Shape;
using autodiff::Tensor;

// Uniform [lo, hi) entries from the test's own generator (not nn::Rng).
inline Tensor random_tensor(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return autodiff_test::uniform(shape, seed, lo, hi);
}

// Same shape and the same bytes (so -0.0 != 0.0 and NaN == NaN with the same payload). An empty
// tensor's data() is null, and memcmp(nullptr, ..., 0) is undefined behaviour: not called then.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// Same shape and elementwise == (so -0.0 == 0.0): exact equality of values.
inline bool exactly_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a.flat(i) == b.flat(i))) return false;
  return true;
}

// max|a − b| / max|b|: the error relative to the largest entry (norm-wise, so entries that
// cancel to near zero do not need a few-ulp accuracy of their own).
inline double normwise_difference(const Tensor& a, const Tensor& b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a.flat(i) - b.flat(i)));
    scale = std::max(scale, std::abs(b.flat(i)));
  }
  return scale > 0.0 ? diff / scale : diff;
}

inline double activate_scalar(nn::Activation a, double x) {
  switch (a) {
    case nn::Activation::identity:
      return x;
    case nn::Activation::relu:
      return x > 0.0 ? x : 0.0;
    case nn::Activation::tanh:
      return std::tanh(x);
    case nn::Activation::erf:
      return std::erf(x);
    case nn::Activation::sigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case nn::Activation::sin:
      return std::sin(x);
  }
  return NAN;
}

inline constexpr nn::Activation kActivations[] = {nn::Activation::identity, nn::Activation::relu,
                                                  nn::Activation::tanh,     nn::Activation::erf,
                                                  nn::Activation::sigmoid,  nn::Activation::sin};

// f(X, w) of an MLP with plain loops over the unflattened W (out, in) and b, written from the
// documented formulas: z_i = m_w Σ_j W_ij h_j + m_b b_i with (m_w, m_b) = (1, 1) for standard
// and (σ_w/√fan_in, σ_b) for ntk; the activation between layers, none after the last.
inline Tensor hand_forward(const nn::MLP& net, const Tensor& w, const Tensor& x) {
  const nn::MLPConfig& c = net.config();
  const std::vector<Tensor> blocks = nn::unflatten(net.layout(), w);
  std::vector<std::size_t> sizes = {c.input_dim};
  sizes.insert(sizes.end(), c.hidden.begin(), c.hidden.end());
  sizes.push_back(c.output_dim);
  const std::size_t n = x.shape()[0];
  std::vector<std::vector<double>> h(n);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < c.input_dim; ++j) h[r].push_back(x(r, j));
  std::size_t block = 0;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const std::size_t in = sizes[l], out = sizes[l + 1];
    const Tensor& W = blocks[block++];
    const Tensor* b = c.bias ? &blocks[block++] : nullptr;
    const bool ntk = c.parameterization == nn::Parameterization::ntk;
    const double mw = ntk ? std::sqrt(c.sw2 / static_cast<double>(in)) : 1.0;
    const double mb = ntk ? std::sqrt(c.sb2) : 1.0;
    const bool last = l + 2 == sizes.size();
    for (std::size_t r = 0; r < n; ++r) {
      std::vector<double> z(out);
      for (std::size_t i = 0; i < out; ++i) {
        double s = 0.0;
        for (std::size_t j = 0; j < in; ++j) s += W(i, j) * h[r][j];
        z[i] = mw * s + (b ? mb * (*b)(i) : 0.0);
        if (!last) z[i] = activate_scalar(c.activation, z[i]);
      }
      h[r] = z;
    }
  }
  Tensor y = Tensor::zeros({n, c.output_dim});
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t i = 0; i < c.output_dim; ++i) y(r, i) = h[r][i];
  return y;
}

}  // namespace nn_test
