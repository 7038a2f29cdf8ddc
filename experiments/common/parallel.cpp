#include "experiments/common/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

// OpenBLAS's own controls, weak: absent (null) when the BLAS linked is not OpenBLAS.
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads() __attribute__((weak));
}

namespace experiments {

BlasThreads::BlasThreads(int threads)
    : previous_(openblas_get_num_threads != nullptr ? openblas_get_num_threads() : 0) {
  if (openblas_set_num_threads != nullptr) openblas_set_num_threads(threads);
}

BlasThreads::~BlasThreads() {
  if (openblas_set_num_threads != nullptr && previous_ > 0) openblas_set_num_threads(previous_);
}

void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& body, Progress* progress,
                  const std::function<double(std::size_t)>& weight) {
  const std::size_t workers = std::min<std::size_t>(std::max(threads, 1u), n);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::size_t i; !failed.load() && (i = next.fetch_add(1)) < n;) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
        return;
      }
      if (progress != nullptr) progress->advance(weight ? weight(i) : 1.0);
    }
  };
  // One OpenBLAS thread whatever the worker count: a multi-threaded BLAS may split a product's
  // sums differently and change the last bits, and results must not depend on --threads.
  BlasThreads single(1);
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(workers);
    for (std::size_t t = 0; t < workers; ++t) pool.emplace_back(work);
    for (auto& thread : pool) thread.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace experiments
