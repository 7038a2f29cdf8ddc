// CSV and .npy matrices for the command-line tools (ntk/table_io.hpp): formats, exact round trips,
// and errors that name the file and the line.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <xtensor/xnpy.hpp>

#include "scratch_dir.hpp"

#include "nn/io.hpp"
#include "ntk/table_io.hpp"

namespace ad = autodiff;
namespace fs = std::filesystem;
using ad::Tensor;

namespace {

fs::path scratch_dir() {
  static const test_support::ScratchDir dir("ntk_table_io");
  return dir.path();
}

std::string write_text(const std::string& name, const std::string& text) {
  const fs::path path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

// The message of the autodiff::Error that reading `path` throws ("" if none).
std::string read_error(const std::string& path) {
  try {
    ntk::read_matrix(path);
  } catch (const ad::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("CSV reading: header, comments, blank lines, CRLF, BOM, signs and exponents", "[ntk][table_io]") {
  const std::string path = write_text("good.csv",
                                      "\xEF\xBB\xBF# a comment line\r\n"
                                      "x1, x2 ,x3\r\n"
                                      "\r\n"
                                      "1, -2.5, 3e-4\r\n"
                                      "  # another comment\n"
                                      "+0.5,.25,\t-1E2\n"
                                      "1e-999,0,7\n");  // no newline needed at the end either
  const Tensor m = ntk::read_csv(path);
  REQUIRE(m.shape() == ad::Shape{3, 3});
  const double expected[] = {1, -2.5, 3e-4, 0.5, 0.25, -100, 0, 0, 7};
  for (std::size_t i = 0; i < 9; ++i) CHECK(m.flat(i) == expected[i]);
  // No header: the first line is data.
  CHECK(ntk::read_csv(write_text("plain.csv", "1,2\n3,4")).shape() == ad::Shape{2, 2});
}

TEST_CASE("CSV and npy round trips are exact", "[ntk][table_io]") {
  Tensor m = Tensor::zeros({3, 4});
  const double values[] = {0.1, -1.0 / 3.0, 1e-300, 6.02214076e23, 4.9e-324, -0.0, 1.0, 2.0 / 7.0, 1e308, -7.5, 123456789.123, 1e-5};
  for (std::size_t i = 0; i < 12; ++i) m.flat(i) = values[i];
  for (const std::string name : {"round.csv", "round.npy", "ROUND.CSV"}) {
    const std::string path = (scratch_dir() / name).string();
    ntk::write_matrix(path, m);
    const Tensor back = ntk::read_matrix(path);
    REQUIRE(back.shape() == m.shape());
    for (std::size_t i = 0; i < 12; ++i) CHECK(back.flat(i) == m.flat(i));  // bit for bit
    CHECK_FALSE(fs::exists(path + ".partial"));
  }
}

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("the streaming writers write the bytes the whole-file writers did", "[ntk][table_io]") {
  // The writers used to build the whole file in a string: CSV with fmt's shortest decimals joined
  // by ',' and '\n', .npy as xt::dump_npy. The streaming ones must give the same bytes, also past
  // the CSV writer's 1 MiB flush (400 × 300 entries of ~20 characters: ~2.4 MB).
  for (const ad::Shape& shape : {ad::Shape{1, 1}, ad::Shape{3, 4}, ad::Shape{400, 300}, ad::Shape{0, 5}}) {
    Tensor m = Tensor::empty(shape);
    std::uint64_t state = 12345;
    for (std::size_t i = 0; i < m.size(); ++i) {  // a mix of magnitudes and signs, some exact integers
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const double u = static_cast<double>(state >> 11) * 0x1.0p-53;
      m.flat(i) = i % 7 == 0 ? static_cast<double>(i % 13) - 6.0 : (u - 0.5) * std::pow(10.0, static_cast<double>(i % 41) - 20.0);
    }
    INFO(ad::to_string(shape));
    std::string old_csv;
    for (std::size_t i = 0; i < shape[0]; ++i) {
      for (std::size_t j = 0; j < shape[1]; ++j) {
        if (j > 0) old_csv += ',';
        fmt::format_to(std::back_inserter(old_csv), "{}", m.flat(i * shape[1] + j));
      }
      old_csv += '\n';
    }
    const std::string csv = (scratch_dir() / "stream.csv").string(), npy = (scratch_dir() / "stream.npy").string();
    if (shape[0] > 0) {  // an empty matrix is not a data set, but the writers take it
      ntk::write_matrix(csv, m);
      CHECK(file_bytes(csv) == old_csv);
    }
    ntk::write_matrix(npy, m);
    CHECK(file_bytes(npy) == xt::dump_npy(m.xt()));
    // A matrix handed over (its memory given back as it is written): the same bytes, consumed.
    Tensor handed = m;
    ntk::write_matrix(npy, std::move(handed));
    CHECK(file_bytes(npy) == xt::dump_npy(m.xt()));
    CHECK(handed.size() == 0);  // NOLINT(bugprone-use-after-move): consumed by contract
    if (shape[0] > 0) {
      Tensor handed_csv = m;
      ntk::write_matrix(csv, std::move(handed_csv));
      CHECK(file_bytes(csv) == old_csv);
    }
  }
}

TEST_CASE("malformed CSV is reported with file and line", "[ntk][table_io]") {
  struct Case {
    std::string name, text, message;
  };
  const Case cases[] = {
      {"word.csv", "a,b\n1,2\n3,abc\n", "word.csv:3: field 2 'abc' is not a number"},
      {"ragged.csv", "# c\n1,2,3\n4,5,6\n7,8\n", "ragged.csv:4: 2 fields, expected 3 as on line 2"},
      {"long.csv", "1,2\n3,4,5\n", "long.csv:2: 3 fields, expected 2 as on line 1"},
      {"empty_field.csv", "1,,3\n", "empty_field.csv:1: field 2 is empty (fields are separated by commas)"},
      {"trailing.csv", "1,2,\n", "trailing.csv:1: field 3 is empty (fields are separated by commas)"},
      {"nan.csv", "1,2\nnan,4\n", "nan.csv:2: field 1 'nan' is not a finite number"},
      {"inf.csv", "1,2\n3,-inf\n", "inf.csv:2: field 2 '-inf' is not a finite number"},
      {"huge.csv", "1,2\n3,1e999\n", "huge.csv:2: field 2 '1e999' is not a finite number"},
      {"spaces.csv", "1 2 3\n", "spaces.csv:1: field 1 '1 2 3' is not a number"},
      {"mixed_header.csv", "x,2\n1,2\n", "mixed_header.csv:1: field 1 'x' is not a number"},
      {"two_headers.csv", "a,b\nc,d\n", "two_headers.csv:2: field 1 'c' is not a number"},
      {"plusminus.csv", "+-1\n", "plusminus.csv:1: field 1 '+-1' is not a number"},
      {"blank.csv", "\n\n# only comments\n", "blank.csv: no data rows"},
      {"header_only.csv", "a,b,c\n", "header_only.csv: no data rows"},
      {"nothing.csv", "", "nothing.csv: no data rows"},
  };
  for (const Case& c : cases) {
    const std::string path = write_text(c.name, c.text);
    const std::string message = read_error(path);
    INFO(c.name << ": " << message);
    CHECK(message == (scratch_dir() / c.message).string());
  }
  CHECK(read_error((scratch_dir() / "missing.csv").string()).find("missing.csv: cannot open") != std::string::npos);
  fs::create_directories(scratch_dir() / "a_dir.csv");
  CHECK(read_error((scratch_dir() / "a_dir.csv").string()).find("is a directory") != std::string::npos);
}

TEST_CASE("bad npy files and unknown formats are reported with the file", "[ntk][table_io]") {
  const std::string cube = (scratch_dir() / "cube.npy").string();
  nn::save_npy(cube, Tensor::ones({2, 1, 3}));
  CHECK(read_error(cube) == cube + ": expected a 2-D array (one point per row), got shape [2, 1, 3]");
  const std::string nan = (scratch_dir() / "nan.npy").string();
  nn::save_npy(nan, Tensor{{1.0, 2.0}, {std::nan(""), 4.0}});
  CHECK(read_error(nan) == nan + ": entry (1, 0) is nan, not a finite number");
  const std::string text = write_text("text.npy", "1,2\n");
  CHECK(read_error(text) == text + ": not an .npy file");
  const std::string other = write_text("data.txt", "1,2\n");
  CHECK(read_error(other) == other + ": unknown format '.txt' (expected a .csv, .npy or .npz extension)");
  CHECK_THROWS_AS(ntk::write_matrix((scratch_dir() / "k.json").string(), Tensor::ones({1, 1})), ad::Error);
  CHECK_THROWS_AS(ntk::write_matrix((scratch_dir() / "k.csv").string(), Tensor{1.0, 2.0}), ad::Error);
  CHECK_FALSE(fs::exists(scratch_dir() / "k.csv"));
  // Writing where no file can go fails cleanly, leaving nothing behind.
  CHECK_THROWS_AS(ntk::write_matrix((scratch_dir() / "no_such_dir" / "k.csv").string(), Tensor::ones({1, 1})), ad::Error);
}
