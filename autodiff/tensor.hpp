// Tensor: the value type of the AD core — a thin wrapper over xt::xarray<double>.
//
// Why a wrapper and not xt::xarray itself: every arithmetic call on a Tensor evaluates at once
// and checks shapes with an error that names the op, and the AD rules (written once, generic over
// Tensor and Var) can call `cos(x)` or `matmul(a, b)` without xtensor's lazy expressions or its own
// `transpose`/`sum` being picked by argument-dependent lookup.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <iosfwd>
#include <stdexcept>
#include <string>

#include <xtensor/xarray.hpp>

#include "autodiff/storage.hpp"

namespace autodiff {

using Array = xt::xarray<double, xt::layout_type::row_major, RecyclingAllocator<double>>;
using Shape = Array::shape_type;  // small vector of sizes: no heap allocation for rank <= 4

// Every error the library raises on bad input (shapes, dead variables, misuse of a transform).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string to_string(const Shape& shape);  // "[2, 3]"
std::size_t shape_size(const Shape& shape);
Shape join_shapes(Shape a, const Shape& b);  // [a..., b...], e.g. a batch in front of a value's shape

class Tensor {
 public:
  Tensor() : array_(Array::from_shape({0})) {}
  Tensor(double scalar) : array_(scalar) {}  // NOLINT: a 0-d tensor, so `2.0 * x` reads naturally
  Tensor(Array array) : array_(std::move(array)) {}  // NOLINT: xtensor arrays are tensors
  template <class E>
  Tensor(const xt::xexpression<E>& e) : array_(e) {}  // NOLINT: evaluates an xtensor expression
  Tensor(xt::nested_initializer_list_t<double, 1> t) : array_(t) {}
  Tensor(xt::nested_initializer_list_t<double, 2> t) : array_(t) {}
  Tensor(xt::nested_initializer_list_t<double, 3> t) : array_(t) {}

  static Tensor zeros(const Shape& shape);
  static Tensor empty(const Shape& shape);  // contents unspecified: for kernels that write every element
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, double value);
  static Tensor identity(std::size_t n);  // n x n
  // A column (n, 1), e.g. n one-dimensional inputs: `{{-2.0}, {0.5}}` would be ambiguous in C++.
  static Tensor column(std::initializer_list<double> values);

  const Shape& shape() const { return array_.shape(); }
  std::size_t dim() const { return array_.dimension(); }
  std::size_t size() const { return array_.size(); }
  const double* data() const { return array_.data(); }
  double* data() { return array_.data(); }
  double flat(std::size_t i) const { return array_.data()[i]; }
  double& flat(std::size_t i) { return array_.data()[i]; }
  template <class... I>
  double operator()(I... i) const { return array_(i...); }
  template <class... I>
  double& operator()(I... i) { return array_(i...); }
  double item() const;  // the value of a one-element tensor

  const Array& xt() const { return array_; }
  Array& xt() { return array_; }

  Tensor& operator+=(const Tensor& other);  // same shape, in place (adjoint accumulation)

 private:
  Array array_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Shape checks shared by ops; `op` names the caller in the message.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
void require_rank(const char* op, const Tensor& t, std::size_t min_rank);

// max |a - b| / max(1, |a|, |b|) elementwise, after checking equal shapes.
double max_relative_difference(const Tensor& a, const Tensor& b);
bool all_finite(const Tensor& t);

}  // namespace autodiff
