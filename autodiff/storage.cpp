#include "autodiff/storage.hpp"

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace autodiff::storage {
namespace {

constexpr std::size_t kAlignment = 32;          // xsimd's AVX loads
constexpr std::size_t kHeader = kAlignment;     // the block's size class, kept in front of it
constexpr std::size_t kSmallest = 64;           // class c holds kSmallest << c bytes
constexpr std::size_t kClasses = 22;            // up to 128 MiB; larger blocks are not recycled
constexpr std::size_t kDirect = kClasses;       // the "class" of a block that is not recycled
constexpr std::size_t kKeepPerClass = 32;       // free blocks kept per class
constexpr std::size_t kKeepBytes = 256u << 20;  // and at most this much memory in all, per thread

std::size_t class_of(std::size_t bytes) {  // the smallest c with kSmallest << c >= bytes (kDirect past the last)
  if (bytes <= kSmallest) return 0;
  const std::size_t c = static_cast<std::size_t>(std::bit_width(bytes - 1)) - std::bit_width(kSmallest - 1);
  return c < kClasses ? c : kDirect;
}

void* system_block(std::size_t bytes) {
  void* raw = std::aligned_alloc(kAlignment, kHeader + bytes);  // bytes are multiples of 64: allowed
  if (raw == nullptr) throw std::bad_alloc();
  return raw;
}

struct FreeLists {
  std::vector<void*> lists[kClasses];  // raw blocks (header included)
  std::size_t kept_bytes = 0;
  ~FreeLists();
};

thread_local bool lists_gone = false;  // trivially destructible: readable after `lists` is destroyed
thread_local FreeLists lists;

FreeLists::~FreeLists() {
  for (auto& list : lists)
    for (void* raw : list) std::free(raw);
  lists_gone = true;  // blocks freed later in this thread's exit go straight to the system
}

}  // namespace

void* allocate(std::size_t bytes) {
  const std::size_t c = class_of(bytes);
  void* raw = nullptr;
  if (c == kDirect) {
    raw = system_block((bytes + kAlignment - 1) / kAlignment * kAlignment);
  } else if (!lists_gone && !lists.lists[c].empty()) {
    raw = lists.lists[c].back();
    lists.lists[c].pop_back();
    lists.kept_bytes -= kSmallest << c;
  } else {
    raw = system_block(kSmallest << c);
  }
  *static_cast<std::size_t*>(raw) = c;
  return static_cast<char*>(raw) + kHeader;
}

void deallocate(void* block) noexcept {
  if (block == nullptr) return;
  void* raw = static_cast<char*>(block) - kHeader;
  const std::size_t c = *static_cast<std::size_t*>(raw);
  if (c == kDirect || lists_gone || lists.lists[c].size() >= kKeepPerClass ||
      lists.kept_bytes + (kSmallest << c) > kKeepBytes) {
    std::free(raw);
    return;
  }
  try {
    lists.lists[c].push_back(raw);
    lists.kept_bytes += kSmallest << c;
  } catch (...) {  // no memory for the list itself: give the block back instead
    std::free(raw);
  }
}

}  // namespace autodiff::storage
