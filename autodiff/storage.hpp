// Where tensors keep their numbers: 32-byte aligned blocks (xsimd's vector loads), recycled per
// thread.
//
// Why: every op allocates its result, and a training step frees and allocates the same sizes
// again, dozens of times. glibc serves aligned requests on its slow path every time (no
// per-thread cache), which cost a fifth of a small network's whole step. Freed blocks here go on
// a per-thread list of their size class (powers of two) and the next request of that class takes
// one back. Very large blocks go straight back to the system.
#pragma once

#include <cstddef>
#include <new>

namespace autodiff {

namespace storage {
void* allocate(std::size_t bytes);
void deallocate(void* block) noexcept;  // any thread may free a block any other allocated
// Gives the blocks this thread keeps for reuse back to the system (up to 256 MB a thread): for
// code that, after many transient tensors, holds one large allocation for long (a rank of
// distributed/ filling its share of a kernel) and wants its resident memory to be what it holds.
void release_cached() noexcept;
}  // namespace storage

template <class T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>&) {}  // NOLINT: rebinding, as allocators do
  T* allocate(std::size_t n) { return static_cast<T*>(storage::allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { storage::deallocate(p); }
  template <class U>
  bool operator==(const RecyclingAllocator<U>&) const { return true; }  // stateless: any frees any
};

}  // namespace autodiff
