// Tensors (weights, data sets, kernels) to and from NumPy's .npy files (and arrays out of .npz
// archives): inspect weights in numpy, resume runs, read the data sets users have. Written
// through xtensor's npy support; read here, checking every size against the bytes there are
// (the readers are fuzzed: fuzz/, docs/reliability.md).
#pragma once

#include <string>
#include <string_view>

#include "autodiff/tensor.hpp"

namespace nn {

// Writes a float64 .npy; the file appears complete or not at all (written aside, then renamed).
void save_npy(const std::string& path, const autodiff::Tensor& t);
// Reads an .npy of float64, float32, or signed or unsigned integers of 1 to 8 bytes (converted to
// double: integers beyond 2^53 round), little- or big-endian, C or Fortran order. Errors name
// the file and what is wrong with it; anything else (complex, strings, objects) is refused.
autodiff::Tensor load_npy(const std::string& path);
// The same from the bytes of a file already in memory; `name` is what messages call it.
autodiff::Tensor parse_npy(std::string_view bytes, const std::string& name);
// One array of an .npz (numpy.savez or savez_compressed: a zip of .npy files, stored or deflated),
// by name ("X" or "X.npy"); an empty name takes the only array, and is an error naming them all
// when there are several.
autodiff::Tensor load_npz(const std::string& path, const std::string& member);
autodiff::Tensor parse_npz(std::string_view zip, const std::string& member, const std::string& path);

}  // namespace nn
