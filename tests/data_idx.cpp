// The IDX reader over zlib and the Fashion-MNIST loader: small IDX .gz files written here with
// zlib and read back; every malformed file (missing, truncated, corrupted, wrong magic, wrong or
// overflowing dimensions) refused with a message naming it; and, where the Debian package
// `dataset-fashion-mnist` is installed, the real files.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "scratch_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

const fs::path& scratch() {
  static const test_support::ScratchDir dir("data_idx_test");
  return dir.path();
}

// Any bytes, gzip-compressed, with zlib directly (not through the reader's own writer).
void write_gz(const fs::path& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// An IDX header: 00 00 08 rank, then big-endian 32-bit dimensions.
Bytes header(const std::vector<std::uint32_t>& dims) {
  Bytes h = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (const std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<std::uint8_t>((d >> shift) & 0xff));
  return h;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes counting(std::size_t n) {
  Bytes v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 7 + 3) % 256);
  return v;
}

// The reader's message for a file, or "" when it reads.
std::string error_of(const fs::path& path, std::size_t rank, std::size_t max_items = data::kAllItems) {
  try {
    data::read_idx(path, rank, max_items);
  } catch (const data::Error& e) {
    return e.what();
  }
  return "";
}

using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("IDX files written with zlib read back with their dimensions and bytes") {
  const fs::path path = scratch() / "round.idx3.gz";
  const Bytes values = counting(5 * 3 * 4);
  write_gz(path, concat(header({5, 3, 4}), values));
  const data::IdxArray a = data::read_idx(path, 3);
  CHECK(a.dims == std::vector<std::size_t>{5, 3, 4});
  CHECK(a.values == values);

  SECTION("the first items only") {
    const data::IdxArray b = data::read_idx(path, 3, 2);
    CHECK(b.dims == std::vector<std::size_t>{2, 3, 4});
    CHECK(b.values == Bytes(values.begin(), values.begin() + 24));
    CHECK(data::read_idx(path, 3, 100).dims[0] == 5);
  }
  SECTION("the reader's own writer gives the same file contents") {
    const fs::path own = scratch() / "own.idx3.gz";
    data::write_idx_gz(own, {5, 3, 4}, values);
    CHECK(data::read_idx(own, 3).values == values);
    CHECK_THROWS_WITH(data::write_idx_gz(own, {5, 3, 5}, values), Contains("60 values for dimensions 5 x 3 x 5"));
  }
  SECTION("an uncompressed IDX file reads too (zlib passes it through)") {
    const fs::path plain = scratch() / "plain.idx3";
    write_bytes(plain, concat(header({5, 3, 4}), values));
    CHECK(data::read_idx(plain, 3).values == values);
  }
}

TEST_CASE("A missing file is refused naming it") {
  const fs::path path = scratch() / "nothing-here.gz";
  CHECK_THAT(error_of(path, 1), Contains(path.string()) && Contains("not found"));
  CHECK_THAT(error_of(scratch(), 1), Contains("folder"));
}

TEST_CASE("Truncated files are refused naming the file") {
  const fs::path path = scratch() / "short.idx1.gz";
  SECTION("less data than the header announces") {
    write_gz(path, concat(header({10}), counting(7)));
    CHECK_THAT(error_of(path, 1), Contains(path.string()) && Contains("truncated") && Contains("10 bytes of data") &&
                                      Contains("holds 7 bytes"));
    CHECK_THAT(error_of(path, 1, 3), Contains("truncated"));  // even when only the first items are kept
  }
  SECTION("cut inside the header") {
    write_gz(path, Bytes{0, 0, 8, 3, 0, 0});
    CHECK_THAT(error_of(path, 3), Contains(path.string()) && Contains("truncated in the header"));
    write_gz(path, Bytes{0, 0});
    CHECK_THAT(error_of(path, 3), Contains("truncated"));
  }
  SECTION("a gzip stream cut short") {
    write_gz(path, concat(header({4000}), counting(4000)));
    Bytes gz = read_bytes(path);
    gz.resize(gz.size() / 2);
    write_bytes(path, gz);
    const std::string message = error_of(path, 1);
    CHECK_THAT(message, Contains(path.string()));
    CHECK(!message.empty());
  }
}

TEST_CASE("A corrupted gzip stream is refused naming the file") {
  const fs::path path = scratch() / "corrupt.idx1.gz";
  write_gz(path, concat(header({4000}), counting(4000)));
  Bytes gz = read_bytes(path);
  for (std::size_t i = gz.size() / 2; i < gz.size() / 2 + 8; ++i) gz[i] ^= 0x5a;
  write_bytes(path, gz);
  const std::string message = error_of(path, 1);
  CHECK_THAT(message, Contains(path.string()));
  CHECK(!message.empty());

  SECTION("a wrong checksum alone (last bytes of the gzip trailer)") {
    Bytes bad = read_bytes(path);
    write_gz(path, concat(header({4000}), counting(4000)));
    bad = read_bytes(path);
    bad[bad.size() - 6] ^= 0xff;  // inside the CRC-32
    write_bytes(path, bad);
    CHECK_THAT(error_of(path, 1), Contains(path.string()) && Contains("corrupted"));
  }
}

TEST_CASE("Wrong magic numbers are refused") {
  const fs::path path = scratch() / "magic.gz";
  write_gz(path, Bytes{'P', 'K', 3, 4, 0, 0, 0, 0});
  CHECK_THAT(error_of(path, 1), Contains(path.string()) && Contains("not an IDX file"));
  write_gz(path, concat(Bytes{0, 0, 0x0d, 1}, Bytes{0, 0, 0, 1, 0, 0, 0, 0}));  // floats
  CHECK_THAT(error_of(path, 1), Contains("element type 0x0d"));
  write_gz(path, Bytes{0, 0, 8, 0});
  CHECK_THAT(error_of(path, 1), Contains("rank 0"));
}

TEST_CASE("Wrong or overflowing dimensions are refused") {
  const fs::path path = scratch() / "dims.gz";
  SECTION("another rank than expected") {
    write_gz(path, concat(header({6}), counting(6)));
    CHECK_THAT(error_of(path, 3), Contains(path.string()) && Contains("1 dimensions, expected 3"));
  }
  SECTION("more data than announced") {
    write_gz(path, concat(header({2, 3}), counting(7)));
    CHECK_THAT(error_of(path, 2), Contains(path.string()) && Contains("more data than the header announces"));
  }
  SECTION("a product of dimensions past 64 bits") {
    write_gz(path, concat(header({0xffffffffu, 0xffffffffu, 0xffffffffu}), counting(8)));
    CHECK_THAT(error_of(path, 3), Contains(path.string()) && Contains("overflow"));
  }
  SECTION("a huge announced size with little data: no huge allocation, a truncation") {
    write_gz(path, concat(header({0xffffffffu, 0xfffffu}), counting(100)));
    CHECK_THAT(error_of(path, 2), Contains("truncated"));
  }
}

TEST_CASE("Fashion-MNIST files in a folder of our own load and normalize") {
  const fs::path dir = scratch() / "fake-fashion";
  fs::create_directories(dir);
  const std::size_t n = 3, d = 28 * 28;
  Bytes pixels(n * d);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>((i * 13) % 251);
  for (std::size_t j = 0; j < d; ++j) pixels[2 * d + j] = 255;  // a constant image: becomes 0
  data::write_idx_gz(dir / "t10k-images-idx3-ubyte.gz", {n, 28, 28}, pixels);
  data::write_idx_gz(dir / "t10k-labels-idx1-ubyte.gz", {n}, Bytes{9, 0, 4});

  const auto raw = data::load_fashion_mnist(dir, data::Split::test, data::kAllItems, data::Normalization::unit_interval);
  REQUIRE(raw.images.shape() == autodiff::Shape{n, d});
  CHECK(raw.labels == std::vector<int>{9, 0, 4});
  CHECK(raw.images(0, 1) == 13.0 / 255.0);
  CHECK(raw.images(2, 5) == 1.0);

  const auto standard = data::load_fashion_mnist(dir, data::Split::test, 2);
  REQUIRE(standard.rows() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    double sum = 0.0, squares = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
      sum += standard.images(i, j);
      squares += standard.images(i, j) * standard.images(i, j);
    }
    CHECK(std::fabs(sum) < 1e-10);
    CHECK(squares == Approx(784.0).epsilon(1e-13));
  }
  CHECK(data::load_fashion_mnist(dir, data::Split::test).images(2, 7) == 0.0);

  SECTION("chosen rows in a chosen order") {
    CHECK(data::fashion_mnist_rows(dir, data::Split::test) == 3);
    const auto picked = data::load_fashion_mnist_rows(dir, data::Split::test, {2, 0}, data::Normalization::unit_interval);
    CHECK(picked.labels == std::vector<int>{4, 9});
    CHECK(picked.images(1, 1) == raw.images(0, 1));
    CHECK(picked.images(0, 5) == 1.0);
    CHECK_THROWS_WITH(data::load_fashion_mnist_rows(dir, data::Split::test, {3}), Contains("row 3 out of range"));
  }
  SECTION("labels outside 0..9 and mismatched counts are refused") {
    data::write_idx_gz(dir / "t10k-labels-idx1-ubyte.gz", {n}, Bytes{9, 10, 4});
    CHECK_THROWS_WITH(data::load_fashion_mnist(dir, data::Split::test), Contains("label 10 of row 1"));
    data::write_idx_gz(dir / "t10k-labels-idx1-ubyte.gz", {2}, Bytes{9, 1});
    CHECK_THROWS_WITH(data::load_fashion_mnist(dir, data::Split::test), Contains("3 images but"));
  }
  SECTION("a missing file names the file and the Debian package") {
    CHECK_THROWS_WITH(data::load_fashion_mnist(dir, data::Split::train),
                      Contains((dir / "train-labels-idx1-ubyte.gz").string()) && Contains("dataset-fashion-mnist"));
    CHECK_THROWS_WITH(data::load_fashion_mnist("/nonexistent"), Contains("/nonexistent/train-") &&
                                                                    Contains("dataset-fashion-mnist"));
  }
}

TEST_CASE("Targets and accuracy helpers") {
  const autodiff::Tensor y = data::one_hot_targets({2, 0}, 3);
  CHECK(y(0, 2) == 0.9);
  CHECK(y(0, 0) == -0.1);
  CHECK(y(1, 0) == 0.9);
  CHECK_THROWS_WITH(data::one_hot_targets({3}, 3), Contains("label 3"));
  CHECK(data::argmax_rows(autodiff::Tensor{{0.1, 0.5, 0.5}, {2.0, -1.0, 0.0}}) == std::vector<int>{1, 0});
  CHECK(data::accuracy({1, 0, 2, 2}, {1, 1, 2, 0}) == 0.5);
  CHECK(data::fashion_mnist_class_name(9) == "Ankle boot");
}

TEST_CASE("The Debian package's Fashion-MNIST files load with 60000 and 10000 rows") {
  const fs::path dir = data::default_fashion_mnist_dir();
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed: the real files are not checked");
    return;
  }
  const auto train = data::load_fashion_mnist(dir, data::Split::train);
  const auto test = data::load_fashion_mnist(dir, data::Split::test, data::kAllItems, data::Normalization::unit_interval);
  CHECK(train.rows() == 60000);
  CHECK(test.rows() == 10000);
  CHECK(train.images.shape() == autodiff::Shape{60000, 784});
  CHECK(train.labels[0] == 9);  // an ankle boot
  CHECK(train.labels[1] == 0);
  CHECK(test.labels[0] == 9);
  CHECK(test.labels[1] == 2);
  CHECK(data::fashion_mnist_rows(dir, data::Split::test) == 10000);
  const auto picked = data::load_fashion_mnist_rows(dir, data::Split::train, {59999, 0});
  CHECK(picked.labels[1] == 9);
  CHECK(picked.images(1, 400) == train.images(0, 400));
  CHECK(picked.images(0, 400) == train.images(59999, 400));
  std::vector<int> counts(10, 0);
  for (const int label : train.labels) ++counts[static_cast<std::size_t>(label)];
  for (const int c : counts) CHECK(c == 6000);  // balanced classes
  double lowest = 1.0, highest = 0.0;
  for (std::size_t i = 0; i < test.images.size(); ++i) {
    lowest = std::min(lowest, test.images.flat(i));
    highest = std::max(highest, test.images.flat(i));
  }
  CHECK(lowest == 0.0);
  CHECK(highest == 1.0);
}
