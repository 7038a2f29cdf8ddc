// Tensor: the value type of the AD core — a shape and a block of doubles in row-major order,
// viewed as an xtensor expression (xt()) wherever xtensor's math is wanted.
//
// Why a class of our own and not xt::xarray itself: every arithmetic call on a Tensor evaluates at
// once and checks shapes with an error that names the op; the AD rules (written once, generic over
// Tensor and Var) can call `cos(x)` or `matmul(a, b)` without xtensor's lazy expressions or its
// own `transpose`/`sum` being picked by argument-dependent lookup; and a tape makes and drops one
// tensor per op, so it should be small and cheap to make: a shape and one pointer (an xarray also
// keeps strides and back-strides, three times the size, computed for every result).
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xstorage.hpp>

#include "autodiff/storage.hpp"

namespace autodiff {

using Array = xt::xarray<double>;  // what xtensor functions return; a Tensor copies it in
using Shape = Array::shape_type;   // small vector of sizes: no heap allocation for rank <= 4

// Every error the library raises on bad input (shapes, dead variables, misuse of a transform).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string to_string(const Shape& shape);  // "[2, 3]"
std::size_t shape_size(const Shape& shape);
Shape join_shapes(Shape a, const Shape& b);  // [a..., b...], e.g. a batch in front of a value's shape

class Tensor {
 public:
  Tensor() : shape_({0}) {}  // no elements, shape [0]
  Tensor(double scalar) : data_(1) { data_[0] = scalar; }  // NOLINT: a 0-d tensor, so `2.0 * x` reads naturally
  Tensor(const Array& array);  // NOLINT: xtensor arrays are tensors (copied in)
  template <class E>
  Tensor(const xt::xexpression<E>& e) {  // NOLINT: evaluates an xtensor expression
    const E& expression = e.derived_cast();
    shape_.assign(expression.shape().begin(), expression.shape().end());
    data_.resize(shape_size(shape_));
    auto out = xt::adapt(data_.data(), data_.size(), xt::no_ownership(), shape_);
    xt::noalias(out) = expression;
  }
  Tensor(xt::nested_initializer_list_t<double, 1> t) : Tensor(Array(t)) {}
  Tensor(xt::nested_initializer_list_t<double, 2> t) : Tensor(Array(t)) {}
  Tensor(xt::nested_initializer_list_t<double, 3> t) : Tensor(Array(t)) {}
  // Row-major values under a shape (their count must be the shape's size), e.g. from a file or Python.
  Tensor(const std::vector<double>& values, const Shape& shape);

  static Tensor zeros(const Shape& shape);
  static Tensor empty(const Shape& shape);  // contents unspecified: for kernels that write every element
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, double value);
  static Tensor identity(std::size_t n);  // n x n
  // A column (n, 1), e.g. n one-dimensional inputs: `{{-2.0}, {0.5}}` would be ambiguous in C++.
  static Tensor column(std::initializer_list<double> values);

  const Shape& shape() const { return shape_; }
  std::size_t dim() const { return shape_.size(); }
  std::size_t size() const { return data_.size(); }
  const double* data() const { return data_.data(); }
  double* data() { return data_.data(); }
  double flat(std::size_t i) const { return data_[i]; }
  double& flat(std::size_t i) { return data_[i]; }
  // Element at an index, as xtensor indexes: fewer indices than axes address the last axes.
  template <class... I>
  double operator()(I... i) const { return data_[offset(index_of(i...))]; }
  template <class... I>
  double& operator()(I... i) { return data_[offset(index_of(i...))]; }
  double item() const;  // the value of a one-element tensor

  // The same numbers as an xtensor expression (a view: valid while this tensor lives unchanged).
  auto xt() const { return xt::adapt(data_.data(), data_.size(), xt::no_ownership(), shape_); }

  Tensor& operator+=(const Tensor& other);  // same shape, in place (adjoint accumulation)
  void reshape(const Shape& shape);         // the same numbers under a shape of the same size

 private:
  template <class... I>
  static std::array<std::size_t, sizeof...(I)> index_of(I... i) { return {static_cast<std::size_t>(i)...}; }
  template <std::size_t N>
  std::size_t offset(const std::array<std::size_t, N>& index) const {
    // As xtensor: missing leading indices are 0, extra leading ones are ignored.
    const std::size_t d = dim(), used = N < d ? N : d, first = N - used, skip = d - used;
    std::size_t flat_index = 0;
    for (std::size_t k = 0; k < used; ++k) flat_index = flat_index * shape_[skip + k] + index[first + k];
    return flat_index;
  }

  Shape shape_;
  xt::uvector<double, RecyclingAllocator<double>> data_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Shape checks shared by ops; `op` names the caller in the message.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
void require_rank(const char* op, const Tensor& t, std::size_t min_rank);

// max |a - b| / max(1, |a|, |b|) elementwise, after checking equal shapes.
double max_relative_difference(const Tensor& a, const Tensor& b);
// ‖t‖₂: the Euclidean norm of all elements (Frobenius for a matrix).
double norm(const Tensor& t);
// ‖a − b‖₂ / max(‖a‖₂, ‖b‖₂), 0 when both are 0, after checking equal shapes: how far apart two
// results are as a whole (max_relative_difference is the elementwise worst case).
double relative_difference(const Tensor& a, const Tensor& b);
bool all_finite(const Tensor& t);

}  // namespace autodiff
