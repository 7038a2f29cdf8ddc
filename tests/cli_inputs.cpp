// Bad input, end to end: every command-line program (ntk-kernel and the experiments' CLIs, run as
// processes from bin/) and the library's readers refuse each case below with a message that says
// what is wrong and where, and a nonzero exit status; none crashes. Together with the cases of
// tests/ntk_cli.cpp (24), tests/ntk_table_io.cpp (20), tests/nn_io.cpp (15) and the experiments'
// tests (11), this makes the catalogue of docs/reliability.md. Also ntk-kernel's new inputs and
// outputs (--skip-header, --columns, .npz members, --output -, --version), end to end.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "program_runner.hpp"
#include "scratch_dir.hpp"

#include "nn/io.hpp"
#include "ntk/table_io.hpp"

namespace ad = autodiff;
namespace fs = std::filesystem;
using ad::Tensor;
using Catch::Matchers::Contains;

namespace {

using test_support::bin_dir;
using test_support::read_bytes;
using Result = test_support::ProgramResult;

fs::path scratch() {
  static const test_support::ScratchDir dir("cli_inputs");
  return dir.path();
}

std::string file(const std::string& name) { return (scratch() / name).string(); }

std::string write_bytes(const std::string& name, const std::string& bytes) {
  return test_support::write_bytes(file(name), bytes);
}

// bin/<program> <args>, stdout and stderr captured.
Result run(const std::string& program, const std::string& args) {
  return test_support::run_program(bin_dir() / program, args, scratch());
}

// A failure: the expected status, one line on stderr "<program>: error: ..." containing `message`.
void check_refused(const std::string& program, const std::string& args, int status, const std::string& message) {
  const Result r = run(program, args);
  INFO(program << " " << args << "\nstderr: " << r.err);
  CHECK(r.status == status);
  CHECK(r.err.rfind(program + ": error: ", 0) == 0);
  CHECK_THAT(r.err, Contains(message));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

// The message of the autodiff::Error that f throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ad::Error& e) {
    return e.what();
  }
  return "";
}

std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A one-member zip with the given method and bytes (and a CRC of 0: methods other than stored
// and deflated, and corrupt deflate streams, are refused before the CRC is looked at).
std::string zip_one(const std::string& name, int method, const std::string& bytes, std::uint64_t size) {
  const std::string common = le(20, 2) + le(0, 2) + le(static_cast<std::uint64_t>(method), 2) + le(0, 2) + le(0, 2) +
                             le(0, 4) + le(bytes.size(), 4) + le(size, 4) + le(name.size(), 2) + le(0, 2);
  const std::string body = le(0x04034b50, 4) + common + name + bytes;
  const std::string directory = le(0x02014b50, 4) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) +
                                le(0, 4) + name;
  return body + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(directory.size(), 4) +
         le(body.size(), 4) + le(0, 2);
}

std::string npy_v1(const std::string& header_dict, const std::string& payload, char version = 1) {
  std::string header = header_dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  return std::string("\x93NUMPY", 6) + version + '\0' + static_cast<char>(header.size() & 0xff) +
         static_cast<char>(header.size() >> 8) + header + payload;
}

}  // namespace

TEST_CASE("ntk-kernel: CSV with a pandas index column, .npz members, --output -, --version", "[cli][inputs]") {
  const std::string pandas = write_bytes("pandas.csv", ",x1,x2,label\n0,1,0,a\n1,0,1,b\n2,1,1,c\n");
  const Result r = run("ntk-kernel", "--input '" + pandas + "' --skip-header --columns 2-3 --kind nngp --output -");
  INFO(r.err);
  REQUIRE(r.status == 0);
  nn::save_npy(file("x.npy"), Tensor{{1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}});
  const Result same = run("ntk-kernel", "--input '" + file("x.npy") + "' --kind nngp --output -");
  REQUIRE(same.status == 0);
  CHECK(r.out == same.out);  // the same 3x3 kernel, as CSV on stdout
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);
  CHECK_THAT(r.err, Contains("wrote standard output (3 x 3)"));
  const Result version = run("ntk-kernel", "--version");
  CHECK(version.status == 0);
  CHECK(version.out.rfind("ntk-kernel 0.", 0) == 0);
}

TEST_CASE("ntk-kernel refuses bad inputs with a message naming the file or flag", "[cli][errors]") {
  const std::string csv = write_bytes("two.csv", "1,2\n3,4\n");
  const std::string in = "--input '" + csv + "' --output '" + file("k.csv") + "'";
  check_refused("ntk-kernel", in + " --columns 0", 1, "--columns: bad column list '0'");
  check_refused("ntk-kernel", in + " --columns 5", 1, csv + ":1: no column 5 (the line has 2 fields)");
  check_refused("ntk-kernel", "--input '" + csv + "' --output '" + file("k.npz") + "'", 1, ".npz is read only");
  const std::string pandas = write_bytes("index.csv", ",a\n0,1\n");
  check_refused("ntk-kernel", "--input '" + pandas + "' --output -", 1, "is it a pandas header? use --skip-header");
  const std::string zip = write_bytes("empty.npz", "");
  check_refused("ntk-kernel", "--input '" + zip + ":X' --output -", 1, zip + ": not a zip archive (.npz)");
  const std::string complex = write_bytes(
      "complex.npy", npy_v1("{'descr': '<c16', 'fortran_order': False, 'shape': (1, 1), }", std::string(16, '\0')));
  check_refused("ntk-kernel", "--input '" + complex + "' --output -", 1, complex + ": unsupported dtype '<c16'");
  check_refused("ntk-kernel", "--input '" + csv + ":X' --output -", 1, "unknown format '.csv:x'");
  check_refused("ntk-kernel", in + " --width abc", 2, "--width");
  check_refused("ntk-kernel", in + " --depth 1.5", 2, "--depth");
  check_refused("ntk-kernel", in + " --sw2 nan", 1, "--sw2 must be a finite variance >= 0, got nan");
  check_refused("ntk-kernel", "--output -", 2, "--input is required");
  CHECK_FALSE(fs::exists(file("k.csv")));
}

TEST_CASE("The experiments' command lines refuse bad settings with the flag and the reason", "[cli][errors]") {
  const std::string out = " --quick --out '" + file("run") + "'";
  check_refused("toy-model", out + " --x nan", 2, "--x/--w0/--target: must be finite");
  check_refused("toy-model", out + " --frobnicate", 2, "--frobnicate");
  check_refused("toy-model", " --quick --out /dev/null/run", 1, "cannot create output folder /dev/null/run");
  check_refused("lazy-weights", out + " --inputs 1 2 --targets 1", 2,
                "--inputs/--targets: need one target per input, got 2 inputs and 1 targets");
  check_refused("lazy-weights", out + " --lr 0", 2, "--lr: must be positive and finite, got 0");
  check_refused("lazy-weights", out + " --threshold -1", 2, "--threshold: must be non-negative and finite, got -1");
  check_refused("lazy-weights", out + " --widths 20 10", 2, "--widths: must be strictly increasing");
  check_refused("lazy-weights", out + " --inputs nan --targets 1", 2, "--inputs/--targets: must be finite");
  check_refused("lazy-weights", out + " --threads 0", 2, "--threads");
}

TEST_CASE("The readers refuse damaged .npy and .npz bytes, naming what is wrong", "[cli][errors]") {
  CHECK(error_of([] { nn::load_npz(file("missing.npz"), "X"); }) == "load_npz: " + file("missing.npz") + ": no such file");
  CHECK_THAT(error_of([] { nn::parse_npy(npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'), 9), "v.npy"); }),
             Contains("v.npy: unknown .npy version 9"));
  CHECK_THAT(error_of([] { nn::parse_npy(npy_v1("{'descr': '<f8', 'fortran_order': maybe, 'shape': (1,), }", std::string(8, '\0')), "f.npy"); }),
             Contains("f.npy: bad fortran_order maybe"));
  CHECK_THAT(error_of([] { nn::parse_npy(npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': [1], }", std::string(8, '\0')), "s.npy"); }),
             Contains("s.npy: bad shape"));
  CHECK_THAT(error_of([] { nn::parse_npz(zip_one("X.npy", 12, "BZh9", 100), "X", "b.npz"); }),
             Contains("b.npz: member X.npy: compression method 12 (stored or deflated are read)"));
  CHECK_THAT(error_of([] { nn::parse_npz(zip_one("X.npy", 8, "\xff\xff\xff\xff", 100), "X", "d.npz"); }),
             Contains("d.npz: member X.npy: corrupt deflated data"));
  CHECK_THAT(error_of([] { nn::parse_npz(zip_one("X.npy", 8, "ab", std::uint64_t{1} << 31), "X", "z.npz"); }),
             Contains("z.npz: member X.npy: corrupt sizes"));  // a zip bomb's claim, refused before allocating
  CHECK_THAT(error_of([] { nn::parse_npz(zip_one("X.npy", 0, "abc", 4), "X", "s.npz"); }),
             Contains("s.npz: member X.npy: stored sizes differ"));
  std::istringstream ragged("a,b,c\n1,2,3\n4,5\n");
  ntk::CsvOptions columns;
  columns.columns = {0, 1};
  CHECK(error_of([&] { ntk::parse_csv(ragged, "r.csv", columns); }) == "r.csv:3: 2 fields, expected 3 as on line 1");
}
