// A small timing harness with the reference script's protocol: warm-up calls, then 5
// measurements of `reps` calls each; the result is the median seconds per call.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace bench {

template <class F>
double median_seconds(F&& call, std::size_t reps, std::size_t warm = 3, std::size_t measurements = 5) {
  for (std::size_t i = 0; i < warm; ++i) call();
  std::vector<double> times;
  for (std::size_t m = 0; m < measurements; ++m) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < reps; ++i) call();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    times.push_back(elapsed.count() / static_cast<double>(reps));
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

// Keeps the optimizer from dropping a computation whose result is unused.
template <class T>
void keep(const T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

}  // namespace bench
