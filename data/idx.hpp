// IDX files (the format of MNIST and Fashion-MNIST), gzip-compressed, read through zlib.
//
// Why a reader of our own: the data sets come as Debian packages of .gz files, and a file that is
// missing, cut short, corrupted or of another kind must stop an experiment with a message naming
// the file — never yield a silently shorter or garbled data set. So every size is checked: the
// magic number (0x00 0x00, type 0x08 = unsigned bytes, number of dimensions), the dimensions
// (big-endian 32-bit) against what the caller expects, their product for overflow before anything
// is allocated, and the data actually read against that product — including that nothing follows
// it and that the gzip checksum holds (the stream is read to its end).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace data {

// Every reading error: the message starts with the file's path.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An IDX array of unsigned bytes: dims[0] items of dims[1] × dims[2] × ... bytes, row-major.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> values;
};

inline constexpr std::size_t kAllItems = std::numeric_limits<std::size_t>::max();

// Reads an IDX file of unsigned bytes (gzip-compressed or plain: zlib reads both) with
// `expected_rank` dimensions. Keeps the first min(max_items, dims[0]) items (dims[0] is set to
// that count) but reads the whole file, so a truncated or corrupted tail is still an error.
IdxArray read_idx(const std::filesystem::path& path, std::size_t expected_rank, std::size_t max_items = kAllItems);

// Writes an IDX file of unsigned bytes, gzip-compressed (for tests and small derived data sets).
// values.size() must equal the product of dims.
void write_idx_gz(const std::filesystem::path& path, const std::vector<std::size_t>& dims,
                  const std::vector<std::uint8_t>& values);

}  // namespace data
