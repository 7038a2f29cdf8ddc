// Axis and shape helpers shared by the shape ops (ops_shape.cpp) and the slicing ops
// (ops_slice.cpp): internal to the library.
#pragma once

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "autodiff/tensor.hpp"

namespace autodiff::detail {

inline Shape head(const Shape& s, std::size_t k) { return Shape(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k)); }
inline Shape tail(const Shape& s, std::size_t k) { return Shape(s.begin() + static_cast<std::ptrdiff_t>(k), s.end()); }

// An axis given by the user (negative counts from the end) as a negative axis, checked.
inline std::int64_t negative_axis(const char* op, std::int64_t axis, std::size_t rank) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) throw Error(fmt::format("{}: axis {} is out of range for {} axes", op, axis, rank));
  return axis < 0 ? axis : axis - r;
}
inline std::size_t position(std::int64_t negative_axis, std::size_t rank) {
  return static_cast<std::size_t>(static_cast<std::int64_t>(rank) + negative_axis);
}
inline void require_lead(const char* op, const Tensor& x, std::size_t lead) {
  if (lead > x.dim())
    throw Error(fmt::format("{}: {} leading axes asked of shape {}", op, lead, to_string(x.shape())));
}

// A tensor seen as (outer, length, inner) around one axis: slicing, embedding and concatenation
// copy runs of `inner` contiguous elements.
struct AxisView {
  std::size_t outer = 1, length = 1, inner = 1;
  AxisView(const Shape& shape, std::size_t axis) : length(shape[axis]) {
    for (std::size_t k = 0; k < axis; ++k) outer *= shape[k];
    for (std::size_t k = axis + 1; k < shape.size(); ++k) inner *= shape[k];
  }
};

// Copies `count` positions along the axis: from [from, from + count) of src to [to, to + count) of dst.
inline void copy_along(const Tensor& src, std::size_t from, Tensor& dst, std::size_t to, std::size_t count, std::size_t axis) {
  const AxisView s(src.shape(), axis), d(dst.shape(), axis);
  for (std::size_t o = 0; o < s.outer; ++o) {
    const double* in = src.data() + (o * s.length + from) * s.inner;
    double* out = dst.data() + (o * d.length + to) * d.inner;
    std::copy(in, in + count * s.inner, out);
  }
}

// Copies `rows` runs of `length` numbers, times `scale`, into rows of `to` spaced `to_stride`
// apart, or adds them there when `accumulate`.
inline void write_rows(const double* from, std::size_t length, std::size_t rows, double* to, std::size_t to_stride,
                       bool accumulate, double scale = 1.0) {
  for (std::size_t o = 0; o < rows; ++o) {
    const double* src = from + o * length;
    double* dst = to + o * to_stride;
    if (accumulate && scale == 1.0) {
      for (std::size_t k = 0; k < length; ++k) dst[k] += src[k];
    } else if (accumulate) {
      for (std::size_t k = 0; k < length; ++k) dst[k] += scale * src[k];
    } else if (scale == 1.0) {
      std::copy(src, src + length, dst);
    } else {
      for (std::size_t k = 0; k < length; ++k) dst[k] = scale * src[k];
    }
  }
}
inline void add_rows(const double* from, std::size_t length, std::size_t rows, double* to, std::size_t to_stride) {
  write_rows(from, length, rows, to, to_stride, true);
}

}  // namespace autodiff::detail
