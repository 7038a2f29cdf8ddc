#include "experiments/common/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace experiments {

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
