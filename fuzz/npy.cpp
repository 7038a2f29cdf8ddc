// libFuzzer target: the .npy and .npz readers (nn/io.cpp) on arbitrary bytes (fuzz/inputs.hpp).
#include "fuzz/inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_inputs::npy(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
