#include "nn/io.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xtensor/xnpy.hpp>
#include <zlib.h>

#include "autodiff/huge_pages.hpp"

namespace nn {

namespace ad = autodiff;

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& what) {
  const std::string temporary = path + ".partial";
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + temporary);
    write(out);
    out.close();
    if (!out) throw std::runtime_error("writing " + temporary + " failed");
    std::filesystem::rename(temporary, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw ad::Error(fmt::format("{}cannot write {}: {}", what.empty() ? "" : what + ": ", path, e.what()));
  }
}

std::string npy_header(const std::vector<std::size_t>& shape) {
  std::ostringstream out;
  xt::detail::write_header(out, xt::detail::build_typestring<double>(), false, shape);
  return out.str();
}

namespace {

// The header, then the data from the tensor's own buffer: whole, or in pieces given back as they
// are written (`release`).
void write_npy(const std::string& path, const ad::Tensor& t, bool release) {
  write_file_atomically(
      path,
      [&](std::ostream& out) {
        // xt::dump_npy's header, then the row-major data straight from the tensor (xt::dump_npy
        // never checked its writes, and its string form copies the array twice).
        const std::string header = npy_header(std::vector<std::size_t>(t.shape().begin(), t.shape().end()));
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        const char* data = reinterpret_cast<const char*>(t.data());
        const std::size_t bytes = t.size() * sizeof(double);
        const std::size_t piece = release ? std::size_t{8} << 20 : bytes;
        for (std::size_t done = 0; done < bytes; done += piece) {
          const std::size_t n = std::min(piece, bytes - done);
          out.write(data + done, static_cast<std::streamsize>(n));
          if (!release) continue;
          out.flush();  // in the file's pages now: the tensor's may go
          ad::release_pages(const_cast<char*>(data + done), n);
        }
      },
      "save_npy");
}

}  // namespace

void save_npy(const std::string& path, const ad::Tensor& t) { write_npy(path, t, false); }

void save_npy(const std::string& path, ad::Tensor&& t) {
  const ad::Tensor consumed = std::move(t);
  write_npy(path, consumed, true);
}

namespace {

std::string shape_text(const std::vector<std::size_t>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

// The value of a key in the header's Python dict literal, as raw text up to the next ',' or '}'
// (or the matching ')' for the shape tuple).
std::string npy_field(const std::string& name, const std::string& header, const std::string& key) {
  const std::size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) throw ad::Error(fmt::format("load_npy: {}: header has no '{}'", name, key));
  const std::size_t colon = header.find(':', at);
  if (colon == std::string::npos) throw ad::Error(fmt::format("load_npy: {}: malformed header", name));
  const std::size_t begin = header.find_first_not_of(' ', colon + 1);
  const bool tuple = begin != std::string::npos && header[begin] == '(';
  const std::size_t end = tuple ? header.find(')', begin) : header.find_first_of(",}", begin);
  if (begin == std::string::npos || end == std::string::npos)
    throw ad::Error(fmt::format("load_npy: {}: malformed header", name));
  return header.substr(begin, end - begin + (tuple ? 1 : 0));
}

// An element type numpy writes and we convert to double: floats of 4 or 8 bytes, signed or
// unsigned integers of 1, 2, 4 or 8 bytes, either byte order.
struct Dtype {
  char kind = 'f';  // 'f', 'i' or 'u'
  std::size_t size = 8;
  bool big_endian = false;
};

Dtype npy_dtype(const std::string& name, const std::string& header) {
  const std::string descr = npy_field(name, header, "descr");
  const auto refuse = [&] {
    return ad::Error(fmt::format("load_npy: {}: unsupported dtype {} (float32, float64 and integers i1-i8, u1-u8 in "
                                 "either byte order are read)",
                                 name, descr.substr(0, 40)));
  };
  // "'<f8'": a quoted byte order, kind and size.
  if (descr.size() < 5 || descr.size() > 6 || (descr.front() != '\'' && descr.front() != '"') || descr.back() != descr.front())
    throw refuse();
  Dtype d;
  const char order = descr[1];
  d.kind = descr[2];
  const std::string digits = descr.substr(3, descr.size() - 4);
  if (digits != "1" && digits != "2" && digits != "4" && digits != "8") throw refuse();
  d.size = static_cast<std::size_t>(digits[0] - '0');
  if (order == '>') d.big_endian = true;
  else if (order != '<' && order != '=' && !(order == '|' && d.size == 1)) throw refuse();
  if (d.kind == 'f' ? d.size < 4 : d.kind != 'i' && d.kind != 'u') throw refuse();
  return d;
}

bool npy_fortran_order(const std::string& name, const std::string& header) {
  const std::string value = npy_field(name, header, "fortran_order");
  if (value == "False") return false;
  if (value == "True") return true;
  throw ad::Error(fmt::format("load_npy: {}: bad fortran_order {}", name, value.substr(0, 40)));
}

// The shape tuple, each extent parsed with overflow detection.
std::vector<std::size_t> npy_shape(const std::string& name, const std::string& header) {
  const std::string tuple = npy_field(name, header, "shape");
  if (tuple.empty() || tuple.front() != '(') throw ad::Error(fmt::format("load_npy: {}: bad shape {}", name, tuple));
  std::vector<std::size_t> shape;
  std::size_t i = 1;
  while (i < tuple.size()) {
    while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',' || tuple[i] == ')')) ++i;
    if (i >= tuple.size()) break;
    if (!std::isdigit(static_cast<unsigned char>(tuple[i])))
      throw ad::Error(fmt::format("load_npy: {}: bad shape {}", name, tuple));
    std::size_t extent = 0;
    for (; i < tuple.size() && std::isdigit(static_cast<unsigned char>(tuple[i])); ++i)
      if (__builtin_mul_overflow(extent, std::size_t{10}, &extent) ||
          __builtin_add_overflow(extent, static_cast<std::size_t>(tuple[i] - '0'), &extent))
        throw ad::Error(fmt::format("load_npy: {}: shape {} has an extent that does not fit in 64 bits", name, tuple));
    shape.push_back(extent);
  }
  return shape;
}

// Element `i` of the payload as a double: its bytes assembled most significant first (so the
// host's byte order does not matter), then reinterpreted as the dtype.
double element(const unsigned char* data, std::size_t i, const Dtype& d) {
  const unsigned char* bytes = data + i * d.size;
  std::uint64_t bits = 0;
  for (std::size_t k = 0; k < d.size; ++k) bits = bits << 8 | bytes[d.big_endian ? k : d.size - 1 - k];
  if (d.kind == 'f')
    return d.size == 8 ? std::bit_cast<double>(bits) : static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
  if (d.kind == 'u') return static_cast<double>(bits);
  switch (d.size) {  // two's complement, sign-extended from its size
    case 1: return static_cast<std::int8_t>(static_cast<std::uint8_t>(bits));
    case 2: return static_cast<std::int16_t>(static_cast<std::uint16_t>(bits));
    case 4: return static_cast<std::int32_t>(static_cast<std::uint32_t>(bits));
    default: return static_cast<double>(static_cast<std::int64_t>(bits));
  }
}

// Fortran order: the first index varies fastest in the file. Walks the file in its order and
// places each element at its C-order position. (A function of its own: inlined into parse_npy,
// GCC 12 gave a false -Wfree-nonheap-object for these vectors.)
[[gnu::noinline]] void place_fortran_order(const unsigned char* data, const Dtype& dtype, const std::vector<std::size_t>& shape,
                                           std::size_t count, double* out) {
  std::vector<std::size_t> index(shape.size(), 0), c_stride(shape.size(), 1);
  for (std::size_t k = shape.size() - 1; k > 0; --k) c_stride[k - 1] = c_stride[k] * shape[k];
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t at = 0;
    for (std::size_t k = 0; k < shape.size(); ++k) at += index[k] * c_stride[k];
    out[at] = element(data, i, dtype);
    for (std::size_t k = 0; k < shape.size() && ++index[k] == shape[k]; ++k) index[k] = 0;
  }
}

std::string read_file(const std::string& path, const char* who) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw ad::Error(fmt::format("{}: {}: no such file", who, path));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) throw ad::Error(fmt::format("{}: {}: cannot open", who, path));
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw ad::Error(fmt::format("{}: {}: read error", who, path));
  return bytes;
}

}  // namespace

namespace {

// Where an .npy's header lies, from the file's first 12 bytes (fewer if the file is shorter) and
// its size: {prefix, header length}, the data starting at their sum.
std::pair<std::size_t, std::size_t> npy_header_span(std::string_view start, std::size_t file_size, const std::string& name) {
  const auto* u = reinterpret_cast<const unsigned char*>(start.data());
  if (start.size() < 6 || start.substr(0, 6) != "\x93NUMPY")
    throw ad::Error(fmt::format("load_npy: {}: not an .npy file", name));
  // Version 1.0: a 2-byte header length; 2.0 and 3.0 (a UTF-8 header): 4 bytes.
  if (start.size() < 8) throw ad::Error(fmt::format("load_npy: {}: truncated header", name));
  const unsigned version = u[6];
  if (version < 1 || version > 3) throw ad::Error(fmt::format("load_npy: {}: unknown .npy version {}", name, version));
  const std::size_t prefix = version == 1 ? 10 : 12;
  if (start.size() < prefix) throw ad::Error(fmt::format("load_npy: {}: truncated header", name));
  const auto byte = [&](std::size_t i) { return static_cast<std::size_t>(u[i]); };
  const std::size_t header_length =
      version == 1 ? byte(8) | byte(9) << 8 : byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
  if (header_length > file_size - prefix) throw ad::Error(fmt::format("load_npy: {}: truncated header", name));
  return {prefix, header_length};
}

// What the header says about the data, checked against the `payload` bytes that follow it.
struct NpyLayout {
  Dtype dtype;
  bool fortran = false;
  std::vector<std::size_t> shape;
  std::size_t count = 0;  // elements
  // float64 in the host's (little-endian) byte order and C order: the bytes are the tensor's.
  bool native() const {
    return std::endian::native == std::endian::little && dtype.kind == 'f' && dtype.size == 8 && !dtype.big_endian && (!fortran || shape.size() < 2);
  }
};

NpyLayout npy_layout(const std::string& header, std::size_t payload, const std::string& name) {
  NpyLayout layout{npy_dtype(name, header), npy_fortran_order(name, header), npy_shape(name, header)};
  const std::vector<std::size_t>& shape = layout.shape;
  // The shape's element count times the item size must be exactly the bytes after the header,
  // checked with overflow detection before anything is allocated: a crafted shape such as
  // (2305843009213693952, 8) wraps to a tiny count in 64 bits and would be read out of bounds.
  std::size_t count = 1;
  for (std::size_t extent : shape)
    if (__builtin_mul_overflow(count, extent, &count))
      throw ad::Error(fmt::format("load_npy: {}: shape {} has more elements than fit in 64 bits", name, shape_text(shape)));
  std::size_t needed = 0;
  if (__builtin_mul_overflow(count, layout.dtype.size, &needed))
    throw ad::Error(fmt::format("load_npy: {}: shape {} needs more bytes than fit in 64 bits", name, shape_text(shape)));
  if (needed != payload)
    throw ad::Error(fmt::format("load_npy: {}: shape {} needs {} bytes of data, the file has {}", name, shape_text(shape),
                                needed, payload));
  layout.count = count;
  return layout;
}

// The data, converted to double in C order.
ad::Tensor npy_tensor(const unsigned char* data, const NpyLayout& layout) {
  ad::Tensor t = ad::Tensor::empty(ad::Shape(layout.shape.begin(), layout.shape.end()));
  double* out = t.data();
  if (!layout.fortran || layout.shape.size() < 2) {
    for (std::size_t i = 0; i < layout.count; ++i) out[i] = element(data, i, layout.dtype);
  } else {
    place_fortran_order(data, layout.dtype, layout.shape, layout.count, out);
  }
  return t;
}

}  // namespace

ad::Tensor parse_npy(std::string_view bytes, const std::string& name) {
  const auto [prefix, header_length] = npy_header_span(bytes.substr(0, 12), bytes.size(), name);
  const NpyLayout layout =
      npy_layout(std::string(bytes.substr(prefix, header_length)), bytes.size() - prefix - header_length, name);
  return npy_tensor(reinterpret_cast<const unsigned char*>(bytes.data()) + prefix + header_length, layout);
}

// The file is read piece by piece: the header, then the data — float64 in C order (what numpy and
// this library write) straight into the tensor, anything else through one buffer to convert.
ad::Tensor load_npy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw ad::Error(fmt::format("load_npy: {}: no such file", path));
  const std::uintmax_t file_size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) throw ad::Error(fmt::format("load_npy: {}: cannot open", path));
  const auto read = [&](char* to, std::size_t bytes) {
    in.read(to, static_cast<std::streamsize>(bytes));
    if (static_cast<std::size_t>(in.gcount()) != bytes) throw ad::Error(fmt::format("load_npy: {}: read error", path));
  };
  const std::size_t size = static_cast<std::size_t>(file_size);
  std::string start(std::min<std::size_t>(size, 12), '\0');
  read(start.data(), start.size());
  const auto [prefix, header_length] = npy_header_span(start, size, path);
  std::string header(header_length, '\0');
  in.seekg(static_cast<std::streamoff>(prefix));
  read(header.data(), header_length);
  const NpyLayout layout = npy_layout(header, size - prefix - header_length, path);
  if (layout.native()) {
    ad::Tensor t = ad::Tensor::empty(ad::Shape(layout.shape.begin(), layout.shape.end()));
    // Read into 2 MiB pages: the read's page faults on 4 KiB pages cost ~10× the copy (31 MB of
    // Fashion-MNIST rows: 0.1 s instead of 0.01 s on this project's VMs).
    autodiff::advise_huge_pages(t.data(), t.size() * sizeof(double));
    if (layout.count > 0) read(reinterpret_cast<char*>(t.data()), layout.count * sizeof(double));
    return t;
  }
  std::string data(size - prefix - header_length, '\0');
  read(data.data(), data.size());
  return npy_tensor(reinterpret_cast<const unsigned char*>(data.data()), layout);
}

namespace {

// Little-endian fields of a zip record.
std::uint64_t le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

struct ZipEntry {
  std::string name;
  std::uint32_t method = 0, crc = 0;
  std::uint64_t compressed = 0, size = 0, offset = 0;
};

// The central directory of a zip archive (what numpy.savez writes: stored or deflated members,
// zip64 extensions). Errors name the archive.
std::vector<ZipEntry> zip_directory(std::string_view zip, const std::string& path) {
  const auto bad = [&](const std::string& what) { return ad::Error(fmt::format("load_npz: {}: {}", path, what)); };
  const auto* u = reinterpret_cast<const unsigned char*>(zip.data());
  // The end-of-central-directory record: 22 bytes plus a comment of at most 65535 bytes.
  if (zip.size() < 22) throw bad("not a zip archive (.npz)");
  std::size_t eocd = std::string_view::npos;
  for (std::size_t at = zip.size() - 22, stop = zip.size() > 22 + 65535 ? zip.size() - 22 - 65535 : 0;; --at) {
    if (le(u + at, 4) == 0x06054b50) {
      eocd = at;
      break;
    }
    if (at == stop) break;
  }
  if (eocd == std::string_view::npos) throw bad("not a zip archive (.npz)");
  std::uint64_t entries = le(u + eocd + 10, 2), dir_size = le(u + eocd + 12, 4), dir_offset = le(u + eocd + 16, 4);
  if (eocd >= 20 && le(u + eocd - 20, 4) == 0x07064b50) {  // zip64 end-of-directory locator
    const std::uint64_t at = le(u + eocd - 20 + 8, 8);
    // (zip.size() >= 56 first: found by fuzz_npy, a 45-byte input made zip.size() - 56 wrap around
    // and `at` point anywhere; fuzz/regressions/npy/crash-zip64-locator)
    if (zip.size() < 56 || at > zip.size() - 56 || le(u + at, 4) != 0x06064b50) throw bad("corrupt zip64 directory");
    entries = le(u + at + 32, 8);
    dir_size = le(u + at + 40, 8);
    dir_offset = le(u + at + 48, 8);
  }
  if (dir_offset > zip.size() || dir_size > zip.size() - dir_offset) throw bad("corrupt zip directory");
  std::vector<ZipEntry> out;
  std::size_t at = dir_offset;
  const std::size_t end = dir_offset + dir_size;
  for (std::uint64_t k = 0; k < entries; ++k) {
    if (end - at < 46 || le(u + at, 4) != 0x02014b50) throw bad("corrupt zip directory");
    ZipEntry e;
    e.method = static_cast<std::uint32_t>(le(u + at + 10, 2));
    e.crc = static_cast<std::uint32_t>(le(u + at + 16, 4));
    e.compressed = le(u + at + 20, 4);
    e.size = le(u + at + 24, 4);
    const std::size_t name_length = le(u + at + 28, 2), extra_length = le(u + at + 30, 2), comment = le(u + at + 32, 2);
    e.offset = le(u + at + 42, 4);
    if (end - at - 46 < name_length + extra_length + comment) throw bad("corrupt zip directory");
    e.name.assign(zip.substr(at + 46, name_length));
    // zip64: the fields that are 0xFFFFFFFF come from extra field 1, in this order.
    for (std::size_t x = at + 46 + name_length, xend = x + extra_length; xend - x >= 4;) {
      const std::size_t id = le(u + x, 2), length = le(u + x + 2, 2);
      if (length > xend - x - 4) throw bad("corrupt zip directory");
      if (id == 1) {
        std::size_t f = x + 4;
        for (std::uint64_t* field : {&e.size, &e.compressed, &e.offset})
          if (*field == 0xFFFFFFFF) {
            if (f + 8 > x + 4 + length) throw bad("corrupt zip64 field");
            *field = le(u + f, 8);
            f += 8;
          }
      }
      x += 4 + length;
    }
    out.push_back(std::move(e));
    at += 46 + name_length + extra_length + comment;
  }
  return out;
}

// The bytes of one member, inflated and checked against its CRC.
std::string zip_member(std::string_view zip, const ZipEntry& e, const std::string& path) {
  const auto bad = [&](const std::string& what) {
    return ad::Error(fmt::format("load_npz: {}: member {}: {}", path, e.name, what));
  };
  const auto* u = reinterpret_cast<const unsigned char*>(zip.data());
  if (e.offset > zip.size() || zip.size() - e.offset < 30 || le(u + e.offset, 4) != 0x04034b50)
    throw bad("corrupt local header");
  const std::uint64_t start = e.offset + 30 + le(u + e.offset + 26, 2) + le(u + e.offset + 28, 2);
  if (start > zip.size() || e.compressed > zip.size() - start) throw bad("truncated data");
  const std::string_view packed = zip.substr(start, e.compressed);
  std::string bytes;
  if (e.method == 0) {
    if (e.size != e.compressed) throw bad("stored sizes differ");
    bytes.assign(packed);
  } else if (e.method == 8) {
    if (e.size > (std::uint64_t{1} << 40)) throw bad("too large");
    // Deflated data inflates to at most ~1032 times its size: refuse a crafted size beyond that.
    if (e.size / 1032 > e.compressed + 1) throw bad("corrupt sizes");
    bytes.resize(e.size);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw bad("zlib failed to start");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
    z.avail_in = static_cast<uInt>(std::min<std::uint64_t>(packed.size(), UINT32_MAX));
    z.next_out = reinterpret_cast<Bytef*>(bytes.data());
    z.avail_out = static_cast<uInt>(std::min<std::uint64_t>(bytes.size(), UINT32_MAX));
    const int status = inflate(&z, Z_FINISH);
    const std::uint64_t produced = z.total_out;
    inflateEnd(&z);
    if (status != Z_STREAM_END || produced != e.size) throw bad("corrupt deflated data");
  } else {
    throw bad(fmt::format("compression method {} (stored or deflated are read)", e.method));
  }
  uLong sum = crc32(0L, Z_NULL, 0);
  for (std::size_t at = 0; at < bytes.size(); at += 1u << 30) {
    const std::size_t n = std::min<std::size_t>(bytes.size() - at, 1u << 30);
    sum = crc32(sum, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
  }
  if (sum != e.crc) throw bad("CRC mismatch (corrupt archive)");
  return bytes;
}

std::string member_name(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0 ? name.substr(0, name.size() - 4) : name;
}

}  // namespace

ad::Tensor parse_npz(std::string_view zip, const std::string& member, const std::string& path) {
  const std::vector<ZipEntry> entries = zip_directory(zip, path);
  std::vector<std::string> names;
  for (const ZipEntry& e : entries) names.push_back(member_name(e.name));
  const ZipEntry* chosen = nullptr;
  if (member.empty()) {
    if (entries.size() != 1)
      throw ad::Error(fmt::format("load_npz: {}: holds {} arrays ({}): name one, as {}:NAME", path, entries.size(),
                                  fmt::join(names, ", "), path));
    chosen = &entries[0];
  } else {
    for (std::size_t k = 0; k < entries.size(); ++k)
      if (names[k] == member_name(member)) chosen = &entries[k];
    if (chosen == nullptr)
      throw ad::Error(fmt::format("load_npz: {}: no array named '{}' (it holds: {})", path, member, fmt::join(names, ", ")));
  }
  const std::string bytes = zip_member(zip, *chosen, path);
  try {
    return parse_npy(bytes, fmt::format("{}:{}", path, member_name(chosen->name)));
  } catch (const ad::Error& e) {
    std::string message = e.what();
    if (message.rfind("load_npy: ", 0) == 0) message.replace(0, 10, "load_npz: ");
    throw ad::Error(message);
  }
}

ad::Tensor load_npz(const std::string& path, const std::string& member) {
  return parse_npz(read_file(path, "load_npz"), member, path);
}

}  // namespace nn
