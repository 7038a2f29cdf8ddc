// Not a test program of its own: a probe that must die. It reads a tensor's numbers after the
// tensor is gone, when its block sits on the recycler's free list (autodiff/storage.cpp). In the
// ASan build (NTK_SANITIZE=address) the CTest asan.recycler-use-after-free expects AddressSanitizer
// to report it as a use-after-poison; before the recycler poisoned its free blocks, ASan saw
// nothing here (the block is still malloc'ed memory to it) and the probe printed a stale number.
#include <cstdio>

#include "autodiff/tensor.hpp"

int main() {
  const double* stale = nullptr;
  {
    autodiff::Tensor t = autodiff::Tensor::zeros({16});
    stale = t.data();
  }  // the block goes back to this thread's free list, not to malloc
  volatile double read = stale[3];  // use after free
  std::printf("read %g after free: the recycler's free block was not poisoned\n", static_cast<double>(read));
  return 0;
}
