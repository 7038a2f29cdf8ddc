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
    xt::dump_npy(temporary, t.xt());
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
  char magic[6] = {};
  in.read(magic, 6);
  if (!in || std::string(magic, 6) != "\x93NUMPY") throw ad::Error(fmt::format("load_npy: {}: not an .npy file", path));
  try {
    return ad::Tensor(xt::load_npy<double>(path));
  } catch (const std::exception& e) {
    throw ad::Error(fmt::format("load_npy: {}: {}", path, e.what()));
  }
}

}  // namespace nn
