#include "autodiff/storage.hpp"

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <vector>

// Under AddressSanitizer (gcc defines __SANITIZE_ADDRESS__, clang has __has_feature) the
// recycler would hide bugs from it: a block kept on a free list is still malloc'ed memory to ASan,
// and so is the slack between a request and its size class. Both are poisoned by hand here, so a
// use after free of a recycled block or a read past a tensor's end is reported like any other
// heap error ("use-after-poison"). tests/asan_recycler_probe.cpp checks that it is.
#if defined(__SANITIZE_ADDRESS__)
#define NTK_ASAN 1
#elif defined(__has_feature)  // clang's way
#if __has_feature(address_sanitizer)
#define NTK_ASAN 1
#endif
#endif
#if defined(NTK_ASAN)
#include <sanitizer/asan_interface.h>
#define NTK_POISON(address, size) ASAN_POISON_MEMORY_REGION(address, size)
#define NTK_UNPOISON(address, size) ASAN_UNPOISON_MEMORY_REGION(address, size)
#else
#define NTK_POISON(address, size) ((void)(address), (void)(size))
#define NTK_UNPOISON(address, size) ((void)(address), (void)(size))
#endif

namespace autodiff::storage {
namespace {

constexpr std::size_t kAlignment = 32;          // xsimd's AVX loads
constexpr std::size_t kHeader = kAlignment;     // the block's size class, kept in front of it
constexpr std::size_t kSmallest = 64;           // class c holds kSmallest << c bytes
constexpr std::size_t kClasses = 22;            // up to 128 MiB; larger blocks are not recycled
constexpr std::size_t kDirect = kClasses;       // the "class" of a block that is not recycled
constexpr std::size_t kKeepPerClass = 32;       // free blocks kept per class
constexpr std::size_t kKeepBytes = 256u << 20;  // and at most this much memory in all, per thread

std::size_t capacity_of(std::size_t c) { return kSmallest << c; }  // of a recycled class

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

void free_all(FreeLists& free_lists) noexcept {
  for (auto& list : free_lists.lists) {
    for (void* raw : list) {
      NTK_UNPOISON(static_cast<char*>(raw) + kHeader, capacity_of(static_cast<std::size_t>(&list - free_lists.lists)));
      std::free(raw);
    }
    list.clear();
  }
  free_lists.kept_bytes = 0;
}

FreeLists::~FreeLists() {
  free_all(*this);
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
  char* block = static_cast<char*>(raw) + kHeader;
  if (c != kDirect) {  // usable: the bytes asked for; poisoned: the rest of the class's capacity
    NTK_UNPOISON(block, bytes);
    NTK_POISON(block + bytes, capacity_of(c) - bytes);
  }
  return block;
}

void deallocate(void* block) noexcept {
  if (block == nullptr) return;
  void* raw = static_cast<char*>(block) - kHeader;
  const std::size_t c = *static_cast<std::size_t*>(raw);
  if (c == kDirect || lists_gone || lists.lists[c].size() >= kKeepPerClass ||
      lists.kept_bytes + (kSmallest << c) > kKeepBytes) {
    if (c != kDirect) NTK_UNPOISON(block, capacity_of(c));  // (the slack may be poisoned)
    std::free(raw);
    return;
  }
  try {
    lists.lists[c].push_back(raw);
    lists.kept_bytes += kSmallest << c;
    NTK_POISON(block, capacity_of(c));  // kept, not in use: any access is a use after free
  } catch (...) {  // no memory for the list itself: give the block back instead
    NTK_UNPOISON(block, capacity_of(c));
    std::free(raw);
  }
}

void release_cached() noexcept {
  if (!lists_gone) free_all(lists);
}

}  // namespace autodiff::storage
