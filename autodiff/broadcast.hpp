// NumPy broadcasting as a plain strided loop (the kernels of elementwise binary ops and
// broadcast_to): each source is read with stride 0 along the axes it repeats; the innermost axis
// runs as a contiguous loop, specialized for the stride patterns the compiler can vectorize.
#pragma once

#include <cstddef>

#include "autodiff/tensor.hpp"

namespace autodiff::detail {

// Strides (in elements) for reading a source of shape `in` as the right-aligned broadcast `out`.
inline xt::svector<std::size_t, 8> broadcast_strides(const Shape& in, const Shape& out) {
  xt::svector<std::size_t, 8> strides(out.size(), 0);
  std::size_t stride = 1;
  for (std::size_t k = in.size(); k-- > 0;) {
    const std::size_t axis = out.size() - in.size() + k;
    strides[axis] = in[k] == 1 ? 0 : stride;
    stride *= in[k];
  }
  return strides;
}

// o[i] = f(x[...], y[...]) over the broadcast shape `out` (shapes already checked compatible).
template <class F>
void broadcast_loop(const Shape& out, const double* x, const Shape& xs, const double* y, const Shape& ys, double* o,
                    F f) {
  const std::size_t rank = out.size();
  if (rank == 0) {
    o[0] = f(x[0], y[0]);
    return;
  }
  const auto sx = broadcast_strides(xs, out), sy = broadcast_strides(ys, out);
  const std::size_t inner = out[rank - 1], ix = sx[rank - 1], iy = sy[rank - 1];
  std::size_t outer = 1;
  for (std::size_t k = 0; k + 1 < rank; ++k) outer *= out[k];
  xt::svector<std::size_t, 8> index(rank, 0);
  std::size_t ox = 0, oy = 0;
  for (std::size_t row = 0; row < outer; ++row, o += inner) {
    const double* a = x + ox;
    const double* b = y + oy;
    if (ix == 1 && iy == 1) {
      for (std::size_t j = 0; j < inner; ++j) o[j] = f(a[j], b[j]);
    } else if (ix == 1) {
      for (std::size_t j = 0; j < inner; ++j) o[j] = f(a[j], b[0]);
    } else if (iy == 1) {
      for (std::size_t j = 0; j < inner; ++j) o[j] = f(a[0], b[j]);
    } else {
      for (std::size_t j = 0; j < inner; ++j) o[j] = f(a[0], b[0]);
    }
    // Next row: an odometer over the outer axes, keeping both offsets.
    for (std::size_t k = rank - 1; k-- > 0;) {
      ox += sx[k];
      oy += sy[k];
      if (++index[k] < out[k]) break;
      ox -= sx[k] * out[k];
      oy -= sy[k] * out[k];
      index[k] = 0;
    }
  }
}

}  // namespace autodiff::detail
