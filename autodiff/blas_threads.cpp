#include "autodiff/blas_threads.hpp"

// OpenBLAS's own controls, weak: absent (null) when the BLAS linked is not OpenBLAS.
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads() __attribute__((weak));
}

namespace autodiff {

namespace {
// Under ThreadSanitizer OpenBLAS stays single-threaded whatever is asked: its own worker threads
// are not instrumented, and TSan reports their memory traffic as races (docs/reliability.md).
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
}  // namespace

BlasThreads::BlasThreads(int threads)
    : previous_(openblas_get_num_threads != nullptr ? openblas_get_num_threads() : 0) {
  if (kThreadSanitizer) threads = 1;
  if (openblas_set_num_threads != nullptr && threads != previous_) openblas_set_num_threads(threads);
}

BlasThreads::~BlasThreads() {
  if (openblas_set_num_threads != nullptr && previous_ > 0 && openblas_get_num_threads() != previous_)
    openblas_set_num_threads(previous_);
}

}  // namespace autodiff
