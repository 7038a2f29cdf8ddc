#include "autodiff/huge_pages.hpp"

#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace autodiff {

namespace {

// madvise over the whole `unit`-sized pages inside [data, data + bytes); errors are moot (advice).
void advise_whole_pages([[maybe_unused]] void* data, [[maybe_unused]] std::size_t bytes,
                        [[maybe_unused]] std::uintptr_t unit, [[maybe_unused]] int advice) {
#ifdef __linux__
  const auto first = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = (first + unit - 1) & ~(unit - 1), end = (first + bytes) & ~(unit - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, advice);
#endif
}

}  // namespace

void advise_huge_pages(void* data, std::size_t bytes) {
#ifdef __linux__
  advise_whole_pages(data, bytes, std::uintptr_t{1} << 21, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

void release_pages(void* data, std::size_t bytes) {
#ifdef __linux__
  advise_whole_pages(data, bytes, static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE)), MADV_DONTNEED);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace autodiff
