#include "autodiff/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>

#include <fmt/format.h>
#include <xtensor/xio.hpp>

namespace autodiff {

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::size_t shape_size(const Shape& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Shape join_shapes(Shape a, const Shape& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Tensor::Tensor(const Array& array) : shape_(array.shape()), data_(array.size()) {
  std::copy(array.begin(), array.end(), data_.begin());  // row-major order, whatever its layout
}

Tensor::Tensor(const std::vector<double>& values, const Shape& shape) : shape_(shape), data_(values.size()) {
  if (values.size() != shape_size(shape))
    throw Error(fmt::format("Tensor: {} values do not fill shape {} ({} elements)", values.size(), to_string(shape),
                            shape_size(shape)));
  std::copy(values.begin(), values.end(), data_.begin());
}

Tensor Tensor::empty(const Shape& shape) {
  Tensor t;
  t.shape_ = shape;
  t.data_.resize(shape_size(shape));
  return t;
}
Tensor Tensor::zeros(const Shape& shape) {
  Tensor t = empty(shape);
  if (t.size() > 0) std::memset(t.data(), 0, t.size() * sizeof(double));  // all-zero bytes are +0.0
  return t;
}
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0); }
Tensor Tensor::full(const Shape& shape, double value) {
  Tensor t = empty(shape);
  std::fill_n(t.data(), t.size(), value);
  return t;
}
Tensor Tensor::identity(std::size_t n) {
  Tensor t = zeros({n, n});
  for (std::size_t i = 0; i < n; ++i) t.flat(i * n + i) = 1.0;
  return t;
}

Tensor Tensor::column(std::initializer_list<double> values) {
  Tensor t = zeros({values.size(), 1});
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

double Tensor::item() const {
  if (size() != 1) throw Error(fmt::format("item: tensor of shape {} has {} elements, not one", to_string(shape()), size()));
  return flat(0);
}

Tensor& Tensor::operator+=(const Tensor& other) {
  if (shape() != other.shape())
    throw Error(fmt::format("+=: shapes {} and {} differ", to_string(shape()), to_string(other.shape())));
  double* a = data();
  const double* b = other.data();
  for (std::size_t i = 0, n = size(); i < n; ++i) a[i] += b[i];
  return *this;
}

void Tensor::reshape(const Shape& shape) {
  if (shape_size(shape) != size())
    throw Error(fmt::format("reshape: cannot view shape {} as {}", to_string(shape_), to_string(shape)));
  shape_ = shape;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.xt(); }

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    // Align from the right, as NumPy does.
    const std::size_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const std::size_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(fmt::format("{}: shapes {} and {} do not broadcast", op, to_string(a), to_string(b)));
    out[k] = da == 1 ? db : da;
  }
  return out;
}

void require_rank(const char* op, const Tensor& t, std::size_t min_rank) {
  if (t.dim() < min_rank)
    throw Error(fmt::format("{}: needs at least {} axes, got shape {}", op, min_rank, to_string(t.shape())));
}

double max_relative_difference(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error(fmt::format("max_relative_difference: shapes {} and {} differ", to_string(a.shape()), to_string(b.shape())));
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a.flat(i), y = b.flat(i);
    const double err = std::abs(x - y) / std::max({1.0, std::abs(x), std::abs(y)});
    worst = std::isnan(err) ? err : std::max(worst, err);
    if (std::isnan(worst)) return worst;
  }
  return worst;
}

double norm(const Tensor& t) {
  double s = 0.0;
  for (std::size_t i = 0; i < t.size(); ++i) s += t.flat(i) * t.flat(i);
  return std::sqrt(s);
}

double relative_difference(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error(fmt::format("relative_difference: shapes {} and {} differ", to_string(a.shape()), to_string(b.shape())));
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d += (a.flat(i) - b.flat(i)) * (a.flat(i) - b.flat(i));
  const double scale = std::max(norm(a), norm(b));
  return scale == 0.0 ? 0.0 : std::sqrt(d) / scale;
}

bool all_finite(const Tensor& t) {
  return std::all_of(t.data(), t.data() + t.size(), [](double v) { return std::isfinite(v); });
}

}  // namespace autodiff
