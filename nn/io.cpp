#include "nn/io.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xtensor/xnpy.hpp>

namespace nn {

namespace ad = autodiff;

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& what) {
  const std::string temporary = path + ".partial";
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + temporary);
    write(out);
    out.close();
    if (!out) throw std::runtime_error("writing " + temporary + " failed");
    std::filesystem::rename(temporary, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw ad::Error(fmt::format("{}cannot write {}: {}", what.empty() ? "" : what + ": ", path, e.what()));
  }
}

void save_npy(const std::string& path, const ad::Tensor& t) {
  write_file_atomically(
      path,
      [&](std::ostream& out) {
        // xt::dump_npy's header, then the row-major data straight from the tensor (xt::dump_npy
        // never checked its writes, and its string form copies the array twice).
        xt::detail::write_header(out, xt::detail::build_typestring<double>(), false, t.shape());
        out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.size() * sizeof(double)));
      },
      "save_npy");
}

namespace {

std::string shape_text(const std::vector<std::size_t>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

// The value of a key in the header's Python dict literal, as raw text up to the next ',' or '}'
// (or the matching ')' for the shape tuple).
std::string npy_field(const std::string& path, const std::string& header, const std::string& key) {
  const std::size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) throw ad::Error(fmt::format("load_npy: {}: header has no '{}'", path, key));
  const std::size_t colon = header.find(':', at);
  if (colon == std::string::npos) throw ad::Error(fmt::format("load_npy: {}: malformed header", path));
  const std::size_t begin = header.find_first_not_of(' ', colon + 1);
  const bool tuple = begin != std::string::npos && header[begin] == '(';
  const std::size_t end = tuple ? header.find(')', begin) : header.find_first_of(",}", begin);
  if (begin == std::string::npos || end == std::string::npos)
    throw ad::Error(fmt::format("load_npy: {}: malformed header", path));
  return header.substr(begin, end - begin + (tuple ? 1 : 0));
}

// Bytes per element from the descr, e.g. '<f8' -> 8.
std::size_t npy_item_size(const std::string& path, const std::string& header) {
  const std::string descr = npy_field(path, header, "descr");
  std::size_t digits = descr.find_first_of("0123456789");
  std::size_t size = 0;
  for (; digits < descr.size() && std::isdigit(static_cast<unsigned char>(descr[digits])); ++digits)
    if (__builtin_mul_overflow(size, std::size_t{10}, &size) || __builtin_add_overflow(size, static_cast<std::size_t>(descr[digits] - '0'), &size))
      throw ad::Error(fmt::format("load_npy: {}: bad descr {}", path, descr));
  if (size == 0) throw ad::Error(fmt::format("load_npy: {}: bad descr {}", path, descr));
  return size;
}

// The shape tuple, each extent parsed with overflow detection.
std::vector<std::size_t> npy_shape(const std::string& path, const std::string& header) {
  const std::string tuple = npy_field(path, header, "shape");
  std::vector<std::size_t> shape;
  std::size_t i = 1;
  while (i < tuple.size()) {
    while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',' || tuple[i] == ')')) ++i;
    if (i >= tuple.size()) break;
    if (!std::isdigit(static_cast<unsigned char>(tuple[i])))
      throw ad::Error(fmt::format("load_npy: {}: bad shape {}", path, tuple));
    std::size_t extent = 0;
    for (; i < tuple.size() && std::isdigit(static_cast<unsigned char>(tuple[i])); ++i)
      if (__builtin_mul_overflow(extent, std::size_t{10}, &extent) ||
          __builtin_add_overflow(extent, static_cast<std::size_t>(tuple[i] - '0'), &extent))
        throw ad::Error(fmt::format("load_npy: {}: shape {} has an extent that does not fit in 64 bits", path, tuple));
    shape.push_back(extent);
  }
  return shape;
}

}  // namespace

ad::Tensor load_npy(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw ad::Error(fmt::format("load_npy: {}: no such file", path));
  std::ifstream in(path, std::ios::binary);
  unsigned char head[12] = {};  // magic, version, header length (2 bytes in 1.0, 4 in 2.0)
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got < 6 || std::string(reinterpret_cast<const char*>(head), 6) != "\x93NUMPY")
    throw ad::Error(fmt::format("load_npy: {}: not an .npy file", path));
  // xt::load_npy does not check its reads: a file cut short gave uninitialized memory (in the
  // header or the data). Check that the header is there, and after reading that the data was.
  const std::size_t prefix = head[6] == 1 ? 10 : 12;
  const auto byte = [&](int i) { return static_cast<std::size_t>(head[i]); };
  const std::size_t header_length =
      head[6] == 1 ? byte(8) | byte(9) << 8 : byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
  const std::size_t file_size = std::filesystem::file_size(path);
  if (got < prefix || prefix + header_length > file_size)
    throw ad::Error(fmt::format("load_npy: {}: truncated header", path));
  // The shape's element count times the item size must be exactly the bytes after the header,
  // checked with overflow detection before anything is allocated: a crafted shape such as
  // (2305843009213693952, 8) wraps to a tiny count in 64 bits and would be read out of bounds.
  std::string header(header_length, '\0');
  in.seekg(static_cast<std::streamoff>(prefix));
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  const std::size_t item = npy_item_size(path, header);
  const std::vector<std::size_t> shape = npy_shape(path, header);
  std::size_t count = 1;
  for (std::size_t extent : shape)
    if (__builtin_mul_overflow(count, extent, &count))
      throw ad::Error(fmt::format("load_npy: {}: shape {} has more elements than fit in 64 bits", path, shape_text(shape)));
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, item, &bytes))
    throw ad::Error(fmt::format("load_npy: {}: shape {} needs more bytes than fit in 64 bits", path, shape_text(shape)));
  const std::size_t payload = file_size - prefix - header_length;
  if (bytes != payload)
    throw ad::Error(fmt::format("load_npy: {}: shape {} needs {} bytes of data, the file has {}", path, shape_text(shape),
                                bytes, payload));
  // Little-endian float64 in C order, the usual case: read straight into the tensor (xtensor's
  // reader goes through a string and an xarray, three copies of the data at once).
  const std::string descr = npy_field(path, header, "descr");
  if ((descr == "'<f8'" || descr == "'=f8'") && npy_field(path, header, "fortran_order") == "False") {
    ad::Shape tensor_shape(shape.begin(), shape.end());
    ad::Tensor t = ad::Tensor::empty(tensor_shape);
    in.clear();
    in.seekg(static_cast<std::streamoff>(prefix + header_length));
    in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(bytes));
    if (!in || static_cast<std::size_t>(in.gcount()) != bytes)
      throw ad::Error(fmt::format("load_npy: {}: truncated data", path));
    return t;
  }
  try {
    in.clear();
    in.seekg(0);
    ad::Tensor t(xt::load_npy<double>(in));
    if (!in) throw std::runtime_error("truncated data");
    return t;
  } catch (const std::exception& e) {
    throw ad::Error(fmt::format("load_npy: {}: {}", path, e.what()));
  }
}

}  // namespace nn
