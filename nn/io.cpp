#include "nn/io.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <xtensor/xnpy.hpp>

namespace nn {

namespace ad = autodiff;

void save_npy(const std::string& path, const ad::Tensor& t) {
  const std::string temporary = path + ".partial";
  try {
    // xt::dump_npy(filename, ...) never checks that its writes succeeded (a full disk or a file
    // size limit left a truncated file that was then renamed into place): write and check here.
    const std::string bytes = xt::dump_npy(t.xt());
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + temporary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error("writing " + temporary + " failed");
    std::filesystem::rename(temporary, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw ad::Error(fmt::format("save_npy: cannot write {}: {}", path, e.what()));
  }
}

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
  if (got < prefix || prefix + header_length > std::filesystem::file_size(path))
    throw ad::Error(fmt::format("load_npy: {}: truncated header", path));
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
