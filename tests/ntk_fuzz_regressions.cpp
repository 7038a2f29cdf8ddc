// Every input the fuzzers (fuzz/) ever found a crash with, kept in fuzz/regressions/<target>/ and
// replayed here in every build through the same code as the fuzz targets (fuzz/inputs.hpp): each
// must end in a result or an error. Under ./test.sh --sanitize the replay runs with ASan + UBSan,
// as the fuzzer did. Also a few hand-made seeds that exercise each reader's paths.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "fuzz/inputs.hpp"
#include "scratch_dir.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The files of fuzz/regressions/<target> (sorted, for a stable order).
std::vector<fs::path> kept(const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(NTK_FUZZ_REGRESSIONS) / target;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("Fuzz regressions: the .npy/.npz reader", "[ntk][fuzz]") {
  for (const fs::path& input : kept("npy")) {
    INFO(input.string());
    CHECK_NOTHROW(fuzz_inputs::npy(read_bytes(input)));
  }
}

TEST_CASE("Fuzz regressions: the CSV reader", "[ntk][fuzz]") {
  for (const fs::path& input : kept("csv")) {
    INFO(input.string());
    CHECK_NOTHROW(fuzz_inputs::csv(read_bytes(input)));
  }
}

TEST_CASE("Fuzz regressions: ntk-kernel's command line, in-process", "[ntk][fuzz]") {
  const test_support::ScratchDir dir("ntk_fuzz_cli");
  const fs::path before = fs::current_path();
  fs::current_path(dir.path());
  fuzz_inputs::write_cli_files();
  for (const fs::path& input : kept("cli")) {
    INFO(input.string());
    const int status = fuzz_inputs::cli(read_bytes(input));
    CHECK((status == -1 || status == 0 || status == 1 || status == 2));
  }
  // and a well-formed command line works the same way in-process
  CHECK(fuzz_inputs::cli("--input\na.csv\n--output\nk.csv\n--kind\nnngp") == 0);
  CHECK(fs::exists("k.csv"));
  fs::current_path(before);
}
