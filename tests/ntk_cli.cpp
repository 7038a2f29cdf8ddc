// The ntk-kernel command-line tool, run as a process on temporary files: results equal to the
// library's, settings stated on stderr, and every failure one line on stderr naming the file and
// line (or the flag), a nonzero exit status and no output file.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "program_runner.hpp"
#include "scratch_dir.hpp"
#include <fmt/format.h>

#include "nn/io.hpp"
#include "nn/mlp.hpp"
#include "nn/random.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/table_io.hpp"

namespace ad = autodiff;
namespace fs = std::filesystem;
using ad::Tensor;
using ntk::InfiniteMlp;
using ntk::KernelKind;

namespace {

// The tool sits next to the test program: build/bin/ntk-kernel.
fs::path tool() { return test_support::bin_dir() / "ntk-kernel"; }

fs::path scratch_dir() {
  static const test_support::ScratchDir dir("ntk_cli");
  return dir.path();
}

std::string file(const std::string& name) { return (scratch_dir() / name).string(); }

std::string write_text(const std::string& name, const std::string& text) {
  return test_support::write_bytes(file(name), text);
}

using test_support::read_bytes;
using Result = test_support::ProgramResult;

// Runs ntk-kernel with `args` (already quoted where needed), stdout and stderr to files.
Result run(const std::string& args) {
  REQUIRE(fs::exists(tool()));  // built by the ntk-kernel target, into the same bin/ folder
  return test_support::run_program(tool(), args, scratch_dir());
}

Tensor random_inputs(std::size_t n, std::size_t d, std::uint64_t seed) {
  nn::Rng rng(seed);
  Tensor x = Tensor::zeros({n, d});
  for (std::size_t i = 0; i < x.size(); ++i) x.flat(i) = rng.normal();
  return x;
}

// A failing run: status 1 or 2, one line on stderr that contains `expected`, no output file and
// no temporary left.
void check_failure(const std::string& args, const std::string& output, const std::string& expected) {
  const Result r = run(args + " --output '" + output + "'");
  INFO("ntk-kernel " << args << "\nstderr: " << r.err);
  CHECK((r.status == 1 || r.status == 2));
  CHECK(r.err_lines() == 1);
  CHECK(r.err.find("ntk-kernel: error: ") == 0);
  CHECK(r.err.find(expected) != std::string::npos);
  CHECK_FALSE(fs::exists(output));
  CHECK_FALSE(fs::exists(output + ".partial"));
}

}  // namespace

TEST_CASE("ntk-kernel writes the library's infinite-width kernels, CSV and npy", "[ntk][cli]") {
  const Tensor x = random_inputs(12, 3, 1), z = random_inputs(5, 3, 2);
  ntk::write_matrix(file("x.csv"), x);
  ntk::write_matrix(file("x.npy"), x);
  ntk::write_matrix(file("z.npy"), z);

  const InfiniteMlp relu{.depth = 3, .activation = nn::Activation::relu, .sw2 = 2.0, .sb2 = 0.1};
  Result r = run("--input '" + file("x.csv") + "' --depth 3 --activation relu --sw2 2 --sb2 0.1 --kind ntk --output '" +
                 file("k.csv") + "'");
  INFO(r.err);
  REQUIRE(r.status == 0);
  // The settings are stated (stderr): kind, net and where the result went.
  CHECK(r.err.find("infinite-width ntk") != std::string::npos);
  CHECK(r.err.find("depth 3 relu sw2=2 sb2=0.1 bias ntk parameterization") != std::string::npos);
  CHECK(r.err.find("wrote " + file("k.csv") + " (12 x 12)") != std::string::npos);
  // CSV carries shortest round-trip decimals: equal to the library's kernel bit for bit.
  CHECK(ad::max_relative_difference(ntk::read_matrix(file("k.csv")), ntk::infinite_width_kernel(x, relu, KernelKind::ntk)) == 0.0);

  // npy in, npy out, the NNGP, a second input set, tanh by quadrature, no bias.
  const InfiniteMlp tanh{.depth = 2, .activation = nn::Activation::tanh, .sw2 = 1.5, .sb2 = 0.0, .bias = false};
  r = run("--input '" + file("x.npy") + "' --input2 '" + file("z.npy") +
          "' --depth 2 --activation tanh --sw2 1.5 --no-bias --kind nngp --output '" + file("k.npy") + "'");
  REQUIRE(r.status == 0);
  CHECK(r.err.find("trapezoid quadrature") != std::string::npos);
  const Tensor k = nn::load_npy(file("k.npy"));
  CHECK(k.shape() == ad::Shape{12, 5});
  CHECK(ad::max_relative_difference(k, ntk::infinite_width_kernel(x, z, tanh, KernelKind::nngp)) == 0.0);

  // The defaults: depth 1, relu, σ_w² = 1, σ_b² = 0, the NTK.
  r = run("--input '" + file("x.npy") + "' --output '" + file("default.csv") + "'");
  REQUIRE(r.status == 0);
  CHECK(ad::max_relative_difference(ntk::read_matrix(file("default.csv")),
                                    ntk::infinite_width_kernel(x, InfiniteMlp{}, KernelKind::ntk)) == 0.0);
}

TEST_CASE("ntk-kernel --empirical writes the empirical NTK of the seeded net", "[ntk][cli]") {
  const Tensor x = random_inputs(6, 4, 3);
  ntk::write_matrix(file("x.csv"), x);
  const Result r = run("--input '" + file("x.csv") + "' --depth 2 --activation erf --sw2 1.5 --sb2 0.2 --empirical "
                       "--width 64 --seed 17 --output '" + file("k.csv") + "'");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("seed 17") != std::string::npos);
  CHECK(r.err.find("MLP 4-64-64-1 erf ntk") != std::string::npos);
  const InfiniteMlp mlp{.depth = 2, .activation = nn::Activation::erf, .sw2 = 1.5, .sb2 = 0.2};
  const nn::MLP model(ntk::mlp_config(mlp, 4, 64));
  const Tensor expected = ntk::empirical_ntk(model, model.init(17), x);
  CHECK(ad::max_relative_difference(ntk::read_matrix(file("k.csv")), expected) == 0.0);
}

TEST_CASE("ntk-kernel: bad files fail naming file and line, leaving no output", "[ntk][cli]") {
  const std::string out = file("failed_out.csv");
  const std::string bad = write_text("bad.csv", "a,b,c\n1,2,3\n4,5,x7\n");
  check_failure("--input '" + bad + "'", out, bad + ":3: field 3 'x7' is not a number");
  const std::string ragged = write_text("ragged.csv", "1,2,3\n\n4,5\n");
  check_failure("--input '" + ragged + "'", out, ragged + ":3: 2 fields, expected 3 as on line 1");
  const std::string nan = write_text("nan.csv", "1,2\nNaN,3\n");
  check_failure("--input '" + nan + "'", out, nan + ":2: field 1 'NaN' is not a finite number");
  const std::string empty = write_text("empty.csv", "");
  check_failure("--input '" + empty + "'", out, empty + ": no data rows");
  check_failure("--input '" + file("missing.csv") + "'", out, file("missing.csv") + ": cannot open");
  const std::string garbage = write_text("garbage.npy", "not numpy at all");
  check_failure("--input '" + garbage + "'", out, garbage + ": not an .npy file");
  nn::save_npy(file("cube.npy"), Tensor::ones({2, 2, 2}));  // (a 1-D array is N points of dimension 1)
  check_failure("--input '" + file("cube.npy") + "'", out, file("cube.npy") + ": expected a 2-D array");
  const std::string good = write_text("good.csv", "1,2\n3,4\n");
  const std::string three = write_text("three.csv", "1,2,3\n");
  check_failure("--input '" + good + "' --input2 '" + three + "'", out, "has 2 columns but " + three + " has 3");
  // A failing run leaves an existing output as it was.
  write_text("k_old.csv", "old\n");
  check_failure("--input '" + bad + "'", file("k_missing.csv"), "bad.csv:3:");
  const Result r = run("--input '" + bad + "' --output '" + file("k_old.csv") + "'");
  CHECK(r.status == 1);
  CHECK(read_bytes(file("k_old.csv")) == "old\n");
}

TEST_CASE("ntk-kernel: bad flag values fail with a one-line message naming the flag", "[ntk][cli]") {
  const std::string out = file("flag_out.npy");
  const std::string x = write_text("x.csv", "1,2\n3,4\n");
  const std::string in = "--input '" + x + "'";
  check_failure(in + " --depth -1", out, "--depth must be >= 0");
  check_failure(in + " --activation softmax", out, "--activation: unknown activation 'softmax'");
  check_failure(in + " --kind gram", out, "--kind: unknown kernel kind 'gram'");
  check_failure(in + " --sw2 -2", out, "--sw2 must be a finite variance >= 0");
  check_failure(in + " --sw2 two", out, "--sw2");
  check_failure(in + " --sb2 0.1 --no-bias", out, "--sb2 0.1 given with --no-bias");
  check_failure(in + " --empirical", out, "--empirical needs --width");
  check_failure(in + " --empirical --width 8 --kind nngp", out, "--empirical computes the NTK");
  check_failure(in + " --parameterization standard", out, "needs --width");
  check_failure(in + " --parameterization mean-field", out, "--parameterization: unknown parameterization");
  check_failure(in + " --activation tanh --nodes 100000", out, "--nodes must be <= 400");
  check_failure(in + " --method closed --activation tanh", out, "--method closed: tanh has no closed form");
  check_failure(in + " --frobnicate", out, "--frobnicate");
  check_failure(in, file("k.txt"), "unknown format '.txt'");
  const Result same = run(in + " --output '" + x + "'");
  CHECK(same.status == 1);
  CHECK(same.err.find("would overwrite an input file") != std::string::npos);
  CHECK(read_bytes(x) == "1,2\n3,4\n");
  const Result r = run("--output '" + out + "'");  // no --input
  CHECK(r.status == 2);
  CHECK(r.err.find("--input is required") != std::string::npos);
  CHECK(run("--help").status == 0);
}
