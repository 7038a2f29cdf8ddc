// libFuzzer target: ntk-kernel's argument handling, in-process, one argument per line of the input,
// in a scratch folder holding small data files the arguments may name (fuzz/inputs.hpp).
#include <cstdlib>

#include "fuzz/inputs.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char dir[] = "/tmp/ntk-fuzz-cli-XXXXXX";
  if (mkdtemp(dir) == nullptr || chdir(dir) != 0) std::abort();
  fuzz_inputs::write_cli_files();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)fuzz_inputs::cli(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
