// .npy files: bitwise round trips, numpy interoperability (when numpy is installed), errors that
// name the file, and saves that leave no partial file behind.
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <sstream>
#include <string>

#include "nn/nn.hpp"
#include "nn_helpers.hpp"

namespace {

namespace ad = autodiff;
namespace fs = std::filesystem;
using ad::Shape;
using ad::Tensor;
using nn_test::bitwise_equal;
using nn_test::random_tensor;

// A fresh directory, removed with its contents at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / fmt::format("nn_io_test_{}_{}", ::getpid(), counter++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool numpy_available() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

std::string hex(const Tensor& t) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
  for (std::size_t i = 0; i < t.size() * sizeof(double); ++i) s += digits[bytes[i] >> 4], s += digits[bytes[i] & 15];
  return s;
}

}  // namespace

TEST_CASE("save_npy then load_npy gives the same tensor bitwise, any rank", "[nn][io]") {
  TempDir dir;
  Tensor special = Tensor::zeros({10});
  const double values[] = {-0.0,
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::lowest(),
                           INFINITY,
                           -INFINITY,
                           std::numeric_limits<double>::quiet_NaN(),
                           1.0 / 3.0,
                           std::numbers::pi,
                           -1e-300};
  for (std::size_t i = 0; i < 10; ++i) special.flat(i) = values[i];
  const std::vector<Tensor> tensors = {
      special,
      Tensor(2.5),  // 0-d
      Tensor::zeros({0}),
      random_tensor({3, 4}, 1),
      random_tensor({2, 3, 4}, 2),
      random_tensor({1, 1, 1, 1}, 3),
      random_tensor({10401}, 4),
  };
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    INFO("tensor " << k << " of shape " << ad::to_string(tensors[k].shape()));
    const std::string path = dir.file(fmt::format("t{}.npy", k));
    nn::save_npy(path, tensors[k]);
    CHECK_FALSE(fs::exists(path + ".partial"));
    CHECK(bitwise_equal(nn::load_npy(path), tensors[k]));
  }
  // Weights of a model: saved, loaded, and the predictions are the same numbers.
  const nn::MLP net({.input_dim = 1, .hidden = {100, 100}, .output_dim = 1});
  const Tensor w = net.init(0), x = Tensor::column({-2.0, 0.5});
  nn::save_npy(dir.file("w.npy"), w);
  CHECK(bitwise_equal(net.predict(nn::load_npy(dir.file("w.npy")), x), net.predict(w, x)));
  // Saving again over an existing file replaces it.
  nn::save_npy(dir.file("w.npy"), special);
  CHECK(bitwise_equal(nn::load_npy(dir.file("w.npy")), special));
}

TEST_CASE("save_npy of a tensor the caller is done with writes the same bytes and consumes it", "[nn][io]") {
  // 1100 × 1000 doubles: 8.8 MB, more than one of the 8 MiB pieces whose memory goes back as they
  // are written; an odd offset inside pages. The file must equal the one from a const tensor.
  TempDir dir;
  const Tensor t = random_tensor({1100, 1000}, 41);
  nn::save_npy(dir.file("kept.npy"), t);
  Tensor consumed = t;
  nn::save_npy(dir.file("consumed.npy"), std::move(consumed));
  CHECK(consumed.size() == 0);  // NOLINT(bugprone-use-after-move): moved from by contract
  CHECK(read_bytes(dir.file("consumed.npy")) == read_bytes(dir.file("kept.npy")));
  CHECK(bitwise_equal(nn::load_npy(dir.file("consumed.npy")), t));
  // A failed save consumes it too, and leaves no file.
  Tensor again = t;
  CHECK_THROWS_AS(nn::save_npy(dir.file("no-such-folder/x.npy"), std::move(again)), ad::Error);
  CHECK_FALSE(fs::exists(dir.file("no-such-folder/x.npy.partial")));
}

TEST_CASE("Empty tensors round-trip and compare without memcmp on a null pointer", "[nn][io]") {
  // Regression (UBSan, ./test.sh --sanitize): bitwise_equal called memcmp(nullptr, nullptr, 0) for
  // empty tensors, whose data() is null; that is undefined behaviour even for 0 bytes.
  TempDir dir;
  const Tensor empty = Tensor::zeros({0, 3});
  nn::save_npy(dir.file("empty.npy"), empty);
  const Tensor back = nn::load_npy(dir.file("empty.npy"));
  CHECK(back.shape() == empty.shape());
  CHECK(bitwise_equal(back, empty));
  CHECK_FALSE(bitwise_equal(back, Tensor::zeros({0, 2})));
}

TEST_CASE("The files are NumPy's format: numpy reads ours and we read numpy's", "[nn][io][numpy]") {
  if (!numpy_available()) {
    WARN("/usr/bin/python3 with numpy not found: numpy interoperability not checked");
    return;
  }
  TempDir dir;
  const Tensor t = random_tensor({3, 4}, 5, -10.0, 10.0);
  nn::save_npy(dir.file("ours.npy"), t);
  write_bytes(dir.file("check.py"),
              "import sys, numpy as np\n"
              "d = sys.argv[1]\n"
              "a = np.load(d + '/ours.npy')\n"
              "assert a.dtype == np.float64 and a.shape == (3, 4), (a.dtype, a.shape)\n"
              "open(d + '/ours.hex', 'w').write(np.ascontiguousarray(a).tobytes().hex())\n"
              "b = np.arange(6.0).reshape(2, 3) / 7.0\n"
              "np.save(d + '/c_order.npy', b)\n"
              "np.save(d + '/fortran.npy', np.asfortranarray(b))\n"
              "np.save(d + '/scalar.npy', np.float64(-0.5))\n"
              "np.save(d + '/float32.npy', b.astype(np.float32))\n"
              "np.save(d + '/int64.npy', np.arange(6).reshape(2, 3))\n");
  REQUIRE(std::system(("/usr/bin/python3 " + dir.file("check.py") + " " + dir.path.string()).c_str()) == 0);
  CHECK(read_bytes(dir.file("ours.hex")) == hex(t));  // numpy saw our exact bytes

  for (const char* name : {"c_order.npy", "fortran.npy"}) {
    INFO(name);
    const Tensor b = nn::load_npy(dir.file(name));
    REQUIRE(b.shape() == Shape{2, 3});
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 3; ++j) CHECK(b(i, j) == static_cast<double>(3 * i + j) / 7.0);  // same division
  }
  const Tensor s = nn::load_npy(dir.file("scalar.npy"));
  CHECK(s.dim() == 0);
  CHECK(s.item() == -0.5);
  // float32 and integers are converted (tests/ntk_readers.cpp checks every dtype).
  CHECK(nn::load_npy(dir.file("float32.npy"))(1, 2) == static_cast<double>(static_cast<float>(5.0 / 7.0)));
  CHECK(nn::load_npy(dir.file("int64.npy"))(1, 2) == 5.0);
}

TEST_CASE("load_npy: a missing, foreign or damaged file is an error naming the file", "[nn][io][errors]") {
  TempDir dir;
  const std::string missing = dir.file("missing.npy");
  CHECK_THROWS_WITH(nn::load_npy(missing), Catch::Contains(missing));
  CHECK_THROWS_AS(nn::load_npy(missing), ad::Error);
  CHECK_THROWS_WITH(nn::load_npy(dir.path.string()), Catch::Contains(dir.path.string()));  // a directory

  const std::string text = dir.file("notes.npy");
  write_bytes(text, "just some text, not numpy\n");
  CHECK_THROWS_WITH(nn::load_npy(text), Catch::Contains(text) && Catch::Contains("not an .npy"));
  const std::string empty = dir.file("empty.npy");
  write_bytes(empty, "");
  CHECK_THROWS_WITH(nn::load_npy(empty), Catch::Contains(empty));

  // Truncated copies of a valid file, cut in the data, at its start, in the header, in the magic.
  const std::string good = dir.file("good.npy");
  nn::save_npy(good, Tensor::ones({100}));
  const std::string bytes = read_bytes(good);
  const std::size_t header = bytes.size() - 800;  // 100 doubles of data at the end
  REQUIRE(bytes.substr(0, 6) == "\x93NUMPY");
  for (std::size_t cut : {bytes.size() - 1, header + 400, header + 8, header, header - 10, std::size_t{9},
                          std::size_t{8}, std::size_t{6}, std::size_t{3}}) {
    INFO("cut to " << cut << " of " << bytes.size() << " bytes");
    const std::string path = dir.file(fmt::format("cut{}.npy", cut));
    write_bytes(path, bytes.substr(0, cut));
    // Regression: cuts in the data used to load (uninitialized memory for the missing part).
    CHECK_THROWS_WITH(nn::load_npy(path), Catch::Contains(path));
    CHECK_THROWS_AS(nn::load_npy(path), ad::Error);
  }
  CHECK(bitwise_equal(nn::load_npy(good), Tensor::ones({100})));  // the intact file loads

  // A header that says another dtype than the data.
  std::string f4 = bytes;
  const std::size_t at = f4.find("<f8");
  REQUIRE(at != std::string::npos);
  f4.replace(at, 3, "<f4");
  write_bytes(dir.file("f4.npy"), f4);
  CHECK_THROWS_WITH(nn::load_npy(dir.file("f4.npy")), Catch::Contains(dir.file("f4.npy")));
}

TEST_CASE("load_npy: a crafted shape whose element count overflows is refused before allocating", "[nn][io][errors]") {
  // Regression: shapes like (2305843009213693952, 8) wrap to a small count in 64 bits; the file
  // loaded as a tiny buffer that was then read as a huge matrix (heap over-read in ntk-kernel).
  TempDir dir;
  const std::string good = dir.file("good.npy");
  nn::save_npy(good, Tensor::ones({3, 8}));
  const std::string bytes = read_bytes(good);
  const std::size_t at = bytes.find("(3, 8)");
  REQUIRE(at != std::string::npos);
  const auto crafted = [&](const std::string& shape, const std::string& name) {
    std::string header = bytes.substr(0, bytes.size() - 24 * 8);
    header.replace(at, 6, shape);
    // keep the header length field and the 64-byte alignment honest: pad or trim the spaces before '\n'
    const std::size_t newline = header.rfind('\n');
    const long delta = static_cast<long>(shape.size()) - 6;
    if (delta > 0) header.erase(newline - static_cast<std::size_t>(delta), static_cast<std::size_t>(delta));
    else header.insert(newline, static_cast<std::size_t>(-delta), ' ');
    const std::string path = dir.file(name);
    write_bytes(path, header + bytes.substr(bytes.size() - 24 * 8));
    return path;
  };
  for (const std::string& shape : {std::string("(2305843009213693952, 8)"), std::string("(3, 6148914691236517206)"),
                                   std::string("(99999999999999999999, 1)")}) {
    INFO(shape);
    const std::string path = crafted(shape, "crafted.npy");
    CHECK_THROWS_WITH(nn::load_npy(path), Catch::Contains(path) && (Catch::Contains("64 bits") || Catch::Contains("bytes of data")));
  }
  // A shape that fits but does not match the data: refused, naming both sizes.
  const std::string path = crafted("(4, 8)", "mismatch.npy");
  CHECK_THROWS_WITH(nn::load_npy(path), Catch::Contains("needs 256 bytes of data, the file has 192"));
  CHECK(bitwise_equal(nn::load_npy(good), Tensor::ones({3, 8})));
}

TEST_CASE("save_npy: a failed save is an error naming the file and leaves no partial file", "[nn][io][errors]") {
  TempDir dir;
  const Tensor t = random_tensor({50}, 9);
  // Into a directory that does not exist.
  const std::string nowhere = dir.file("no/such/dir/w.npy");
  CHECK_THROWS_WITH(nn::save_npy(nowhere, t), Catch::Contains(nowhere));
  CHECK_FALSE(fs::exists(nowhere));
  CHECK_FALSE(fs::exists(nowhere + ".partial"));
  // Onto a path that is a directory: the write succeeds, the rename fails, the partial file goes.
  const std::string occupied = dir.file("occupied");
  fs::create_directory(occupied);
  CHECK_THROWS_WITH(nn::save_npy(occupied, t), Catch::Contains(occupied));
  CHECK(fs::is_directory(occupied));
  CHECK_FALSE(fs::exists(occupied + ".partial"));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 1);  // only `occupied`
}

TEST_CASE("save_npy: a write cut short (file size limit) fails and keeps the previous file", "[nn][io][errors]") {
  // Regression: xt::dump_npy did not check its writes, so a full disk left a truncated file that
  // was renamed into place. A file size limit (RLIMIT_FSIZE) makes the write fail the same way;
  // nothing else writes while it is in force.
  TempDir dir;
  const std::string path = dir.file("w.npy");
  const Tensor before = random_tensor({10}, 1);
  nn::save_npy(path, before);
  const Tensor big = random_tensor({100000}, 2);  // 800 kB against a 64 kB limit

  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  rlimit limited = old;
  limited.rlim_cur = 64 * 1024;
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // a failed write, not a signal
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string message;
  try {
    nn::save_npy(path, big);
  } catch (const ad::Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  CHECK_THAT(message, Catch::Contains(path));
  CHECK_FALSE(fs::exists(path + ".partial"));
  CHECK(bitwise_equal(nn::load_npy(path), before));  // the old file is intact
  nn::save_npy(path, big);                           // and without the limit the save works
  CHECK(bitwise_equal(nn::load_npy(path), big));
}
