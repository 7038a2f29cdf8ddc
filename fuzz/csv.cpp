// libFuzzer target: the CSV reader (ntk/table_io.cpp) with its options (fuzz/inputs.hpp).
#include "fuzz/inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_inputs::csv(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
