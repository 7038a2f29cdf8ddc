// Tensors (weights, data sets, kernels) to and from NumPy's .npy files, through xtensor's npy
// support: inspect weights in numpy, resume runs.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "autodiff/tensor.hpp"

namespace nn {

// Writes a float64 .npy; the file appears complete or not at all (written aside, then renamed).
// The header is xtensor's (the bytes equal xt::dump_npy's) and the data is streamed from the
// tensor's own buffer: no copy of it, no whole-file string (a 200 MB kernel used to cost two
// more 200 MB buffers and most of a run's time in memmove and page faults).
void save_npy(const std::string& path, const autodiff::Tensor& t);

// Writes a file all or nothing: `write` streams its contents into path + ".partial", which is
// renamed over path once every write has succeeded. Any failure (open, a write cut short by a full
// disk or a file size limit, the rename) removes the partial file and throws autodiff::Error
// "<what>: cannot write PATH: ...". For the writers of nn/ and ntk/.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& what);
// Reads a float64 .npy; errors name the file and what is wrong with it.
autodiff::Tensor load_npy(const std::string& path);

}  // namespace nn
