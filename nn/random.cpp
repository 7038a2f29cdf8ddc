#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <thread>
#include <vector>

namespace nn {

double Rng::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

autodiff::Tensor standard_normal(const autodiff::Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  autodiff::Tensor t = autodiff::Tensor::empty(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.flat(i) = rng.normal();
  return t;
}

namespace {



// f(begin, end) over [0, n) in fixed blocks of 2^16 (even: normal pairs never straddle two),
// on up to 16 threads for large n. The numbers do not depend on the split: each is a function of
// its index.
template <class F>
void parallel_blocks(std::size_t n, F f) {
  constexpr std::size_t kBlock = std::size_t{1} << 16;
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  const std::size_t threads =
      n < (std::size_t{1} << 20) ? 1 : std::min<std::size_t>({std::max(1u, std::thread::hardware_concurrency()), blocks, 16});
  auto work = [&](std::size_t t) {
    for (std::size_t b = t; b < blocks; b += threads) f(b * kBlock, std::min(n, (b + 1) * kBlock));
  };
  if (threads <= 1) {
    if (n > 0) work(0);
    return;
  }
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& thread : pool) thread.join();
}

}  // namespace

std::uint64_t stream_key(std::uint64_t seed, std::uint64_t stream) {
  return splitmix64_mix(splitmix64_mix(seed + kSplitMix64Gamma) ^ (stream * 0xD1B54A32D192ED03ULL + 0x2545F4914F6CDD1DULL));
}


void fill_uniform(double* out, std::size_t n, std::uint64_t key, double lo, double hi) {
  const double width = hi - lo;
  parallel_blocks(n, [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; ++k) out[k] = lo + width * counter_uniform(key, k);
  });
}

void fill_normal(double* out, std::size_t n, std::uint64_t key, double scale) {
  parallel_blocks(n, [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; k += 2) {
      const double u1 = 1.0 - counter_uniform(key, k), u2 = counter_uniform(key, k + 1);
      const double r = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * std::numbers::pi * u2;
      out[k] = scale * r * std::cos(angle);
      if (k + 1 < end) out[k + 1] = scale * r * std::sin(angle);
    }
  });
}

}  // namespace nn
