// Tensors (weights, data sets, kernels) to and from NumPy's .npy files (and arrays out of .npz
// archives): inspect weights in numpy, resume runs, read the data sets users have. Written
// through xtensor's npy support; read here, checking every size against the bytes there are
// (the readers are fuzzed: fuzz/, docs/reliability.md).
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "autodiff/tensor.hpp"

namespace nn {

// Writes a float64 .npy; the file appears complete or not at all (written aside, then renamed).
// The header is xtensor's (the bytes equal xt::dump_npy's) and the data is streamed from the
// tensor's own buffer: no copy of it, no whole-file string (a 200 MB kernel used to cost two
// more 200 MB buffers and most of a run's time in memmove and page faults).
void save_npy(const std::string& path, const autodiff::Tensor& t);
// The same for a tensor the caller is done with (a kernel on its way out): written 8 MiB at a time,
// each piece's memory given back to the system once written (autodiff::release_pages), so the
// page cache takes pages that are in use already; on this project's VMs a new 200 MB file takes
// 0.03 s that way and 0.34 s in fresh pages. The tensor is consumed (empty afterwards).
void save_npy(const std::string& path, autodiff::Tensor&& t);
// The header save_npy writes for a float64 array of this shape in C order: magic, version, the
// dict, spaces up to a multiple of 64 bytes (128 for a matrix). For writers that put the data in
// place themselves (`mpirun ntk-kernel`'s ranks, distributed/kernel_file.hpp).
std::string npy_header(const std::vector<std::size_t>& shape);

// Writes a file all or nothing: `write` streams its contents into path + ".partial", which is
// renamed over path once every write has succeeded. Any failure (open, a write cut short by a full
// disk or a file size limit, the rename) removes the partial file and throws autodiff::Error
// "<what>: cannot write PATH: ...". For the writers of nn/ and ntk/.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& what);
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
