#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace data {

namespace {

constexpr std::uint8_t kUnsignedByteType = 0x08;
constexpr std::size_t kMaxRank = 8;
constexpr unsigned kChunk = 1u << 24;  // gzread takes an unsigned count: read in chunks of 16 MiB

// An open gzip stream that closes itself; every failure names the file.
class GzFile {
 public:
  GzFile(const std::filesystem::path& path, const char* mode) : path_(path) {
    file_ = gzopen(path.c_str(), mode);
    if (file_ == nullptr) fail(std::string("cannot be opened") + (mode[0] == 'r' ? " for reading" : " for writing"));
  }
  ~GzFile() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  [[noreturn]] void fail(const std::string& what) const { throw Error(fmt::format("{}: {}", path_.string(), what)); }

  // Up to n bytes; fewer only at the end of the data. A zlib error (a corrupted stream, a wrong
  // checksum) is an error.
  std::size_t read(std::uint8_t* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const auto want = static_cast<unsigned>(std::min<std::size_t>(n - done, kChunk));
      const int got = gzread(file_, out + done, want);
      if (got < 0) fail(fmt::format("corrupted (zlib: {})", zlib_message()));
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

  void write(const std::uint8_t* bytes, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const auto want = static_cast<unsigned>(std::min<std::size_t>(n - done, kChunk));
      if (gzwrite(file_, bytes + done, want) != static_cast<int>(want)) fail(fmt::format("write failed ({})", zlib_message()));
      done += want;
    }
  }

  void close() {
    const int status = gzclose(file_);
    file_ = nullptr;
    if (status != Z_OK) fail(fmt::format("closing failed (zlib status {})", status));
  }

 private:
  std::string zlib_message() const {
    int code = 0;
    const char* message = gzerror(file_, &code);
    return message != nullptr && message[0] != '\0' ? message : fmt::format("error {}", code);
  }

  std::filesystem::path path_;
  gzFile file_ = nullptr;
};

std::size_t checked_product(const std::vector<std::size_t>& dims, std::size_t from, const std::filesystem::path& path) {
  std::size_t product = 1;
  for (std::size_t k = from; k < dims.size(); ++k)
    if (__builtin_mul_overflow(product, dims[k], &product))
      throw Error(fmt::format("{}: the dimensions overflow a size ({} elements or more)", path.string(), product));
  return product;
}

std::string dims_text(const std::vector<std::size_t>& dims) {
  return fmt::format("{}", fmt::join(dims, " x "));
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path, std::size_t expected_rank, std::size_t max_items) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(fmt::format("{}: file not found", path.string()));
  if (std::filesystem::is_directory(path, ec)) throw Error(fmt::format("{}: is a folder, not an IDX file", path.string()));
  GzFile file(path, "rb");

  std::array<std::uint8_t, 4> magic{};
  if (file.read(magic.data(), magic.size()) != magic.size()) file.fail("truncated: shorter than the 4-byte IDX magic number");
  if (magic[0] != 0 || magic[1] != 0)
    file.fail(fmt::format("not an IDX file (magic number {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 <rank>)", magic[0],
                          magic[1], magic[2], magic[3]));
  if (magic[2] != kUnsignedByteType)
    file.fail(fmt::format("IDX element type 0x{:02x}, expected 0x08 (unsigned bytes)", magic[2]));
  const std::size_t rank = magic[3];
  if (rank == 0 || rank > kMaxRank) file.fail(fmt::format("IDX rank {} out of range 1..{}", rank, kMaxRank));
  if (rank != expected_rank) file.fail(fmt::format("{} dimensions, expected {}", rank, expected_rank));

  IdxArray array;
  array.dims.resize(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    std::array<std::uint8_t, 4> b{};
    if (file.read(b.data(), b.size()) != b.size()) file.fail(fmt::format("truncated in the header (dimension {} of {})", k + 1, rank));
    array.dims[k] = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | std::size_t{b[3]};
  }
  // Sizes checked before anything is allocated.
  const std::size_t item_bytes = checked_product(array.dims, 1, path);
  const std::size_t total_bytes = checked_product(array.dims, 0, path);
  const std::size_t kept_items = std::min(max_items, array.dims[0]);
  const std::size_t kept_bytes = kept_items * item_bytes;  // ≤ total_bytes: no overflow

  if (total_bytes == std::numeric_limits<std::size_t>::max()) file.fail("the dimensions overflow a size");
  // Memory grows with the data actually read (a chunk at a time), never with what a header claims.
  while (array.values.size() < kept_bytes) {
    const std::size_t before = array.values.size(), want = std::min<std::size_t>(kChunk, kept_bytes - before);
    array.values.resize(before + want);
    const std::size_t n = file.read(array.values.data() + before, want);
    array.values.resize(before + n);
    if (n < want) break;
  }
  std::size_t got = array.values.size();
  if (got == kept_bytes) {
    // The rest is read (and dropped), one byte past the announced end: a short, long or corrupted
    // tail is still caught, and reaching the end makes zlib check the gzip checksum.
    std::size_t remaining = total_bytes - kept_bytes + 1;
    std::vector<std::uint8_t> scratch(std::min<std::size_t>(kChunk, remaining));
    while (remaining > 0) {
      const std::size_t want = std::min(scratch.size(), remaining);
      const std::size_t n = file.read(scratch.data(), want);
      got += n;
      remaining -= n;
      if (n < want) break;  // the end of the data
    }
  }
  if (got < total_bytes)
    file.fail(fmt::format("truncated: the header announces {} ({} bytes of data), the file holds {} bytes", dims_text(array.dims),
                          total_bytes, got));
  if (got > total_bytes)
    file.fail(fmt::format("more data than the header announces ({}: {} bytes): wrong dimensions?", dims_text(array.dims),
                          total_bytes));
  array.dims[0] = kept_items;
  return array;
}

void write_idx_gz(const std::filesystem::path& path, const std::vector<std::size_t>& dims,
                  const std::vector<std::uint8_t>& values) {
  if (dims.empty() || dims.size() > kMaxRank)
    throw Error(fmt::format("{}: IDX rank {} out of range 1..{}", path.string(), dims.size(), kMaxRank));
  if (checked_product(dims, 0, path) != values.size())
    throw Error(fmt::format("{}: {} values for dimensions {}", path.string(), values.size(), dims_text(dims)));
  std::vector<std::uint8_t> header = {0, 0, kUnsignedByteType, static_cast<std::uint8_t>(dims.size())};
  for (const std::size_t d : dims) {
    if (d > 0xffffffffu) throw Error(fmt::format("{}: dimension {} does not fit 32 bits", path.string(), d));
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<std::uint8_t>((d >> shift) & 0xff));
  }
  GzFile file(path, "wb");
  file.write(header.data(), header.size());
  file.write(values.data(), values.size());
  file.close();
}

}  // namespace data
