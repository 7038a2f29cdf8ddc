// Seeded random numbers with their own uniform and normal transforms, so the same seed gives the
// same numbers with any standard library, on any thread count.
//
// Two kinds. Rng is a sequential stream (mt19937_64, 53-bit uniforms, Box–Muller): inputs,
// targets, shuffles, directions. Weight initialization fills millions of numbers and must not be
// sequential (16.8M weights took 0.7–1 s): it uses counter-based draws, where number k of a
// stream is a pure function of (key, k) — SplitMix64's output function applied to the counter
// key + (k + 1)·γ — so blocks of a tensor are filled on several threads and every number is the
// same whatever the thread count or block split.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <random>

#include "autodiff/tensor.hpp"

namespace nn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  double uniform();                      // [0, 1), 53 random bits
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1), Box–Muller

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// A tensor of independent N(0, 1) draws from Rng(seed): random inputs, targets and directions.
autodiff::Tensor standard_normal(const autodiff::Shape& shape, std::uint64_t seed);

// ---- counter-based draws ----------------------------------------------------------------------
// The key of stream `stream` under `seed` (e.g. a weight block's offset in w): both mixed, so
// nearby seeds and streams give unrelated keys.
std::uint64_t stream_key(std::uint64_t seed, std::uint64_t stream);
// Draw k of a stream: 64 random bits (inline, so that fills vectorize), and the uniform on [0, 1)
// from their top 53.
inline std::uint64_t splitmix64_mix(std::uint64_t z) {  // SplitMix64's output function
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
inline constexpr std::uint64_t kSplitMix64Gamma = 0x9E3779B97F4A7C15ULL;  // SplitMix64's increment
inline std::uint64_t counter_bits(std::uint64_t key, std::uint64_t k) { return splitmix64_mix(key + (k + 1) * kSplitMix64Gamma); }
inline double counter_uniform(std::uint64_t key, std::uint64_t k) {
  // static_cast<double>(bits >> 11) · 2⁻⁵³, exactly, in integer operations that vectorize (AVX2
  // has no 64-bit integer → double conversion): v = 2·⌊v/2⌋ + (v mod 2), each part below 2⁵²
  // turned into a double through the exponent of 2⁵².
  const std::uint64_t v = counter_bits(key, k) >> 11;
  const auto exact = [](std::uint64_t below_2_52) {
    return std::bit_cast<double>(below_2_52 | 0x4330000000000000ULL) - 0x1.0p52;
  };
  return (2.0 * exact(v >> 1) + exact(v & 1)) * 0x1.0p-53;
}
// out[k] = lo + (hi − lo)·u_k: U[lo, hi), as Rng::uniform(lo, hi) from the counter stream.
void fill_uniform(double* out, std::size_t n, std::uint64_t key, double lo, double hi);
// out[k] = scale·z_k, z ~ N(0, 1) by Box–Muller on pairs: z_{2m} = r cos(2π u_{2m+1}),
// z_{2m+1} = r sin(2π u_{2m+1}), r = √(−2 ln(1 − u_{2m})).
void fill_normal(double* out, std::size_t n, std::uint64_t key, double scale);

}  // namespace nn
