// What users have, read as they have it (ntk/table_io.hpp, nn/io.hpp): .npy of float32 and of
// every integer size, big-endian; 1-D arrays as points of dimension 1; arrays of .npz archives by
// name (stored or deflated); CSV with a header or a pandas index column; and ntk-kernel's
// --skip-header, --columns, --output - and --version. The .npy and zip bytes are built here by hand
// (numpy, when /usr/bin/python3 has it, checks the same against its own files).
#include <sys/wait.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "scratch_dir.hpp"

#include "nn/io.hpp"
#include "ntk/table_io.hpp"

namespace ad = autodiff;
namespace fs = std::filesystem;
using ad::Tensor;
using Catch::Matchers::Contains;

namespace {

fs::path scratch_dir() {
  static const test_support::ScratchDir dir("ntk_readers");
  return dir.path();
}

std::string write_bytes(const std::string& name, const std::string& bytes) {
  const fs::path path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An .npy file (version 1.0) of `descr` and `shape` around the given payload.
std::string npy(const std::string& descr, const std::string& shape, const std::string& payload, bool fortran = false) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", descr,
                                   fortran ? "True" : "False", shape);
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

// The bytes of each value as type T, little- or big-endian.
template <class T>
std::string payload(std::initializer_list<T> values, bool big_endian = false) {
  std::string out;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof v);
    if (big_endian == (std::endian::native == std::endian::little)) std::reverse(b, b + sizeof b);
    out.append(b, sizeof b);
  }
  return out;
}

std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A zip archive of stored (uncompressed) members, as numpy.savez writes (without zip64).
std::string stored_zip(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string body, directory;
  for (const auto& [name, bytes] : members) {
    const std::uint64_t offset = body.size();
    const std::string common = le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(crc32(bytes), 4) +
                               le(bytes.size(), 4) + le(bytes.size(), 4) + le(name.size(), 2) + le(0, 2);
    body += le(0x04034b50, 4) + common + name + bytes;
    directory += le(0x02014b50, 4) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + name;
  }
  return body + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(members.size(), 2) + le(members.size(), 2) +
         le(directory.size(), 4) + le(body.size(), 4) + le(0, 2);
}

std::string read_error(const std::string& path, const ntk::CsvOptions& options = {}) {
  try {
    ntk::read_matrix(path, options);
  } catch (const ad::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE(".npy of float32, integers of every size and big-endian data are converted to double", "[ntk][readers]") {
  struct Case {
    std::string descr, data;
  };
  const Case cases[] = {
      {"<f4", payload<float>({1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -5.0f})},
      {">f4", payload<float>({1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -5.0f}, true)},
      {">f8", payload<double>({1.5, -2.0, 0.25, 3.0, 4.0, -5.0}, true)},
      {"|i1", payload<std::int8_t>({1, -2, 0, 3, 4, -5})},
      {"<i2", payload<std::int16_t>({1, -2, 0, 3, 4, -5})},
      {">i2", payload<std::int16_t>({1, -2, 0, 3, 4, -5}, true)},
      {"<i4", payload<std::int32_t>({1, -2, 0, 3, 4, -5})},
      {">i8", payload<std::int64_t>({1, -2, 0, 3, 4, -5}, true)},
      {"|u1", payload<std::uint8_t>({1, 254, 0, 3, 4, 255})},
      {"<u2", payload<std::uint16_t>({1, 254, 0, 3, 4, 255})},
      {">u4", payload<std::uint32_t>({1, 254, 0, 3, 4, 255}, true)},
      {"<u8", payload<std::uint64_t>({1, 254, 0, 3, 4, 255})},
  };
  for (const Case& c : cases) {
    INFO(c.descr);
    const std::string path = write_bytes("dtype.npy", npy(c.descr, "(2, 3)", c.data));
    const Tensor t = ntk::read_matrix(path);
    REQUIRE(t.shape() == ad::Shape{2, 3});
    const bool unsigned_ = c.descr[1] == 'u';
    const bool integer = c.descr[1] != 'f';
    const double expected[] = {integer ? 1.0 : 1.5, unsigned_ ? 254.0 : -2.0, integer ? 0.0 : 0.25, 3, 4, unsigned_ ? 255.0 : -5.0};
    for (std::size_t i = 0; i < 6; ++i) CHECK(t.flat(i) == expected[i]);
  }
  // Fortran order of another dtype: the same matrix.
  const Tensor f = ntk::read_matrix(write_bytes("fortran.npy", npy("<i2", "(2, 3)", payload<std::int16_t>({1, 4, 2, 5, 3, 6}), true)));
  for (std::size_t i = 0; i < 6; ++i) CHECK(f.flat(i) == static_cast<double>(i + 1));
  // Still refused: complex, strings, booleans, half floats, a bad size; each names the file.
  for (const char* descr : {"<c16", "<U8", "|b1", "<f2", "<i3", "<f16", "|O", "<V8"}) {
    INFO(descr);
    const std::string path = write_bytes("refused.npy", npy(descr, "(1, 1)", std::string(8, '\0')));
    CHECK_THAT(read_error(path), Contains(path + ": unsupported dtype"));
  }
}

TEST_CASE("A 1-D array is N points of dimension 1", "[ntk][readers]") {
  nn::save_npy((scratch_dir() / "line.npy").string(), Tensor{1.0, 2.0, 3.0});
  const Tensor t = ntk::read_matrix((scratch_dir() / "line.npy").string());
  REQUIRE(t.shape() == ad::Shape{3, 1});
  CHECK(t(2, 0) == 3.0);
  const std::string empty = write_bytes("empty1d.npy", npy("<f8", "(0,)", ""));
  CHECK(read_error(empty) == empty + ": empty array, shape [0, 1]");
}

TEST_CASE(".npz: arrays by name, stored or deflated, and errors naming the archive and its arrays", "[ntk][readers]") {
  const std::string x = npy("<f8", "(2, 2)", payload<double>({1, 2, 3, 4}));
  const std::string y = npy("<i4", "(3,)", payload<std::int32_t>({7, 8, 9}));
  const std::string zip = write_bytes("data.npz", stored_zip({{"X.npy", x}, {"y.npy", y}}));
  CHECK(ntk::read_matrix(zip + ":X")(1, 0) == 3.0);
  CHECK(ntk::read_matrix(zip + ":y.npy").shape() == ad::Shape{3, 1});
  CHECK(ntk::table_format(zip + ":X") == ntk::TableFormat::npz);
  CHECK(read_error(zip) == zip + ": holds 2 arrays (X, y): name one, as " + zip + ":NAME");
  CHECK(read_error(zip + ":Z") == zip + ": no array named 'Z' (it holds: X, y)");
  const std::string one = write_bytes("one.npz", stored_zip({{"arr_0.npy", x}}));
  CHECK(ntk::read_matrix(one).shape() == ad::Shape{2, 2});  // the only array needs no name
  // Damaged archives: a flipped data byte (CRC), cut short, not a zip at all.
  std::string flipped = read_bytes(zip);
  flipped[flipped.find("\x93NUMPY") + 130] ^= 1;
  const std::string bad_crc = write_bytes("flipped.npz", flipped);
  CHECK(read_error(bad_crc + ":X") == bad_crc + ": member X.npy: CRC mismatch (corrupt archive)");
  const std::string cut = write_bytes("cut.npz", read_bytes(zip).substr(0, 200));
  CHECK(read_error(cut + ":X") == cut + ": not a zip archive (.npz)");
  const std::string text = write_bytes("text.npz", "just text, long enough to look for a zip directory");
  CHECK(read_error(text) == text + ": not a zip archive (.npz)");
  CHECK_THROWS_WITH(ntk::write_matrix(zip, Tensor::ones({1, 1})), Contains(".npz is read only"));

  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    WARN("/usr/bin/python3 with numpy not found: numpy's own .npz files not checked");
    return;
  }
  const std::string script = write_bytes("make.py",
                                         "import sys, numpy as np\n"
                                         "d = sys.argv[1]\n"
                                         "X = np.arange(12.0).reshape(4, 3) / 7\n"
                                         "np.savez(d + '/plain.npz', X=X, labels=np.arange(4))\n"
                                         "np.savez_compressed(d + '/packed.npz', X=X.astype('>f4'), t=np.zeros(4, np.uint8))\n");
  REQUIRE(std::system(("/usr/bin/python3 " + script + " " + scratch_dir().string()).c_str()) == 0);
  const Tensor plain = ntk::read_matrix((scratch_dir() / "plain.npz").string() + ":X");
  REQUIRE(plain.shape() == ad::Shape{4, 3});
  CHECK(plain(3, 2) == 11.0 / 7.0);
  const Tensor packed = ntk::read_matrix((scratch_dir() / "packed.npz").string() + ":X");
  CHECK(packed(3, 2) == static_cast<double>(static_cast<float>(11.0 / 7.0)));
  CHECK(ntk::read_matrix((scratch_dir() / "packed.npz").string() + ":t").shape() == ad::Shape{4, 1});
}

TEST_CASE("CSV with a header row or a pandas index column: skip_header and columns", "[ntk][readers]") {
  // As pandas' DataFrame.to_csv writes: an index column with an empty name.
  const std::string pandas = write_bytes("pandas.csv", ",a,b,label\n0,1.5,2,cat\n1,3,4.5,dog\n");
  CHECK(read_error(pandas) == pandas + ":1: field 1 is empty (fields are separated by commas; is it a pandas header? use --skip-header)");
  ntk::CsvOptions options;
  options.skip_header = true;
  options.columns = ntk::parse_columns("2,3");
  const Tensor t = ntk::read_matrix(pandas, options);
  REQUIRE(t.shape() == ad::Shape{2, 2});
  CHECK(t(1, 1) == 4.5);
  // Every selected column must be numbers; the others are not read.
  options.columns = ntk::parse_columns("2-");
  CHECK(read_error(pandas, options) == pandas + ":2: field 4 'cat' is not a number");
  options.columns = ntk::parse_columns("5");
  CHECK(read_error(pandas, options) == pandas + ":2: no column 5 (the line has 4 fields)");
  // skip_header drops a numeric-looking first line too (a header "1,2" of numbered columns).
  ntk::CsvOptions skip;
  skip.skip_header = true;
  CHECK(ntk::read_matrix(write_bytes("numbered.csv", "1,2\n5,6\n"), skip).shape() == ad::Shape{1, 2});
  CHECK(ntk::parse_columns("1,3-4,6-") == std::vector<std::size_t>{0, 2, 3, 5, ntk::kOpenEnd});
  for (const char* spec : {"", "0", "a", "3-1", "1,,2", "-2", "1-2-3", "99999999999"}) {
    INFO(spec);
    CHECK_THROWS_WITH(ntk::parse_columns(spec), Contains("bad column list"));
  }
}
