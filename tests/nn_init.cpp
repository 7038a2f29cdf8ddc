// Seeded initialization: the statistics of each scheme, the exact random stream, determinism
// across calls and threads.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <thread>
#include <vector>

#include "nn/nn.hpp"
#include "nn_helpers.hpp"

namespace {

namespace ad = autodiff;
using ad::Tensor;
using nn_test::bitwise_equal;

struct Stats {
  std::size_t n = 0;
  double mean = 0.0;
  double var = 0.0;           // about the sample mean
  double within_1_std = 0.0;  // fraction with |x| < √var (about 0)
  double min = INFINITY, max = -INFINITY;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  for (double x : v) s.mean += x, s.min = std::min(s.min, x), s.max = std::max(s.max, x);
  s.mean /= static_cast<double>(s.n);
  for (double x : v) s.var += (x - s.mean) * (x - s.mean);
  s.var /= static_cast<double>(s.n - 1);
  std::size_t inside = 0;
  for (double x : v) inside += std::abs(x) < std::sqrt(s.var);
  s.within_1_std = static_cast<double>(inside) / static_cast<double>(s.n);
  return s;
}

std::vector<double> block_values(const Tensor& w, const nn::ParamBlock& b) {
  return std::vector<double>(w.data() + b.offset, w.data() + b.offset + b.size());
}

// Biases of a 400 → 50 layer over `seeds` seeds (a layer has too few biases for statistics).
std::vector<double> many_biases(const nn::MLPConfig& config, int seeds) {
  const nn::MLP net(config);
  std::vector<double> all;
  for (int s = 0; s < seeds; ++s) {
    const std::vector<double> b = block_values(net.init(static_cast<std::uint64_t>(s)), net.layout()[1]);
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

// Tolerances below: a sample mean is within 5 standard errors σ/√n of the true mean; a sample
// variance within ~5-6 of its standard errors, which relative to the variance are √(0.8/n) for
// a uniform and √(2/n) for a normal distribution. All draws are seeded, so the tests are
// deterministic; the bounds say how far a correct scheme could be, and a wrong fan (fan_out
// instead of fan_in, 400/300 = +33% variance) or a wrong distribution is far outside them.

}  // namespace

TEST_CASE("torch_default init: W, b ~ U(±1/√fan_in), variance 1/(3 fan_in)", "[nn][init]") {
  // One 400 → 300 layer: 120000 weights, fan_in = 400 (≠ fan_out, so a swapped fan shows).
  const nn::MLP net({.input_dim = 400, .hidden = {}, .output_dim = 300});
  const Tensor w = net.init(0);
  const double bound = 1.0 / std::sqrt(400.0), var = 1.0 / (3.0 * 400.0);
  const Stats W = stats(block_values(w, net.layout()[0]));
  REQUIRE(W.n == 120000);
  CHECK(std::abs(W.mean) <= 5.0 * std::sqrt(var / W.n));  // 4.2e-4
  CHECK(W.var == Approx(var).epsilon(0.015));             // 5.8 standard errors
  CHECK(W.min >= -bound);                                 // the support is [−bound, bound)
  CHECK(W.max < bound);
  CHECK(W.min < -0.999 * bound);  // ... and is filled to its ends (P(miss) ≈ e^−120)
  CHECK(W.max > 0.999 * bound);
  // Uniform, not normal: P(|x| < σ) = 1/√3 = 0.577 (a normal gives 0.683); se 0.0014.
  CHECK(W.within_1_std == Approx(1.0 / std::sqrt(3.0)).margin(0.01));

  const Stats b = stats(many_biases({.input_dim = 400, .hidden = {}, .output_dim = 50}, 400));
  REQUIRE(b.n == 20000);
  CHECK(std::abs(b.mean) <= 5.0 * std::sqrt(var / b.n));
  CHECK(b.var == Approx(var).epsilon(0.035));  // 5.5 standard errors
  CHECK(b.min >= -bound);
  CHECK(b.max < bound);
}

TEST_CASE("lecun_normal init: W ~ N(0, σ_w²/fan_in), b = 0", "[nn][init]") {
  const double sw2 = 2.25;  // σ_w = 1.5
  const nn::MLP net(
      {.input_dim = 400, .hidden = {}, .output_dim = 300, .init = nn::Init::lecun_normal, .sw2 = sw2});
  const Tensor w = net.init(1);
  const double var = sw2 / 400.0;
  const Stats W = stats(block_values(w, net.layout()[0]));
  CHECK(std::abs(W.mean) <= 5.0 * std::sqrt(var / W.n));
  CHECK(W.var == Approx(var).epsilon(0.025));  // 6 standard errors (√(2/n) = 0.0041)
  // Normal: P(|x| < σ) = 0.6827 (uniform: 0.577); se 0.0013.
  CHECK(W.within_1_std == Approx(0.682689).margin(0.008));
  // Tails a uniform cannot have: beyond 4σ (P ≈ 6e-5, ~8 of 120000 expected).
  CHECK(std::max(-W.min, W.max) > 4.0 * std::sqrt(var));
  for (double b : block_values(w, net.layout()[1])) CHECK(b == 0.0);
}

TEST_CASE("ntk init: W, b ~ N(0, 1) whatever σ_w and σ_b", "[nn][init]") {
  const nn::MLPConfig config{.input_dim = 400,
                             .hidden = {},
                             .output_dim = 300,
                             .parameterization = nn::Parameterization::ntk,
                             .sw2 = 4.0,
                             .sb2 = 0.25};
  const nn::MLP net(config);
  const Stats W = stats(block_values(net.init(2), net.layout()[0]));
  CHECK(std::abs(W.mean) <= 5.0 / std::sqrt(W.n));  // 0.0144
  CHECK(W.var == Approx(1.0).epsilon(0.025));
  CHECK(W.within_1_std == Approx(0.682689).margin(0.008));

  nn::MLPConfig small = config;
  small.output_dim = 50;
  const Stats b = stats(many_biases(small, 400));
  CHECK(std::abs(b.mean) <= 5.0 / std::sqrt(b.n));  // 0.035
  CHECK(b.var == Approx(1.0).epsilon(0.06));        // 6 standard errors (√(2/n) = 0.01)
}

TEST_CASE("Each layer of a deep net uses its own fan_in", "[nn][init]") {
  // 400 → 100 → 200: layer 1 has fan_in 400 (40000 weights), layer 2 fan_in 100 (20000).
  const nn::MLP torch({.input_dim = 400, .hidden = {100}, .output_dim = 200});
  const Tensor wt = torch.init(3);
  CHECK(stats(block_values(wt, torch.layout()[0])).var == Approx(1.0 / 1200.0).epsilon(0.03));  // 6.7 se
  CHECK(stats(block_values(wt, torch.layout()[2])).var == Approx(1.0 / 300.0).epsilon(0.035));  // 5.5 se
  const nn::MLP lecun({.input_dim = 400, .hidden = {100}, .output_dim = 200, .init = nn::Init::lecun_normal});
  const Tensor wl = lecun.init(3);
  CHECK(stats(block_values(wl, lecun.layout()[0])).var == Approx(1.0 / 400.0).epsilon(0.04));  // 5.7 se
  CHECK(stats(block_values(wl, lecun.layout()[2])).var == Approx(1.0 / 100.0).epsilon(0.05));  // 5 se
}

TEST_CASE("The random stream: mt19937_64, 53-bit uniforms, Box–Muller, layer by layer", "[nn][init]") {
  // The C++ standard fixes mt19937_64's 10000th output for the default seed 5489.
  nn::Rng rng(5489);
  for (int i = 0; i < 9999; ++i) rng.uniform();
  CHECK(rng.uniform() == static_cast<double>(9981545732273789042ULL >> 11) * 0x1.0p-53);

  // torch_default: each block (W1, b1, W2, b2) draws counter-based uniforms keyed by (seed, its
  // offset in w): w[offset + k] = -bound + 2·bound·u_k.
  const nn::MLP torch({.input_dim = 3, .hidden = {4}, .output_dim = 2});
  {
    const Tensor w = torch.init(42);
    struct Segment {
      std::size_t count;
      double fan_in;
    };
    std::size_t i = 0;
    for (Segment s : {Segment{12, 3}, Segment{4, 3}, Segment{8, 4}, Segment{2, 4}}) {  // W1, b1, W2, b2
      const double bound = 1.0 / std::sqrt(s.fan_in);
      const std::uint64_t key = nn::stream_key(42, i);
      for (std::size_t k = 0; k < s.count; ++k, ++i)
        CHECK(w.flat(i) == -bound + (bound - -bound) * nn::counter_uniform(key, k));
    }
    CHECK(i == torch.num_params());
  }
  // ntk: standard normals by Box–Muller on pairs of each block's counters (cos first, then sin).
  const nn::MLP ntk({.input_dim = 3, .hidden = {4}, .output_dim = 2, .parameterization = nn::Parameterization::ntk});
  {
    const Tensor w = ntk.init(7);
    std::size_t i = 0;
    for (std::size_t count : {12, 4, 8, 2}) {
      const std::uint64_t key = nn::stream_key(7, i);
      for (std::size_t k = 0; k < count; k += 2, i += 2) {
        const double u1 = 1.0 - nn::counter_uniform(key, k), u2 = nn::counter_uniform(key, k + 1);
        const double r = std::sqrt(-2.0 * std::log(u1));
        CHECK(w.flat(i) == r * std::cos(2.0 * std::numbers::pi * u2));
        CHECK(w.flat(i + 1) == r * std::sin(2.0 * std::numbers::pi * u2));
      }
    }
    CHECK(i == ntk.num_params());
  }
  // The counter stream is SplitMix64: draw k of key K is SplitMix64's output after k + 1 steps
  // from state K (its published first output from state 0 is 0xE220A8397B1DCDAF).
  CHECK(nn::counter_bits(0, 0) == 0xE220A8397B1DCDAFULL);
}

TEST_CASE("Large inits are filled in parallel and equal the per-index formula (any thread count)", "[nn][init][threads]") {
  // 2^21 + 3 entries: 33 blocks of 2^16 on every available thread. Each entry is a function of
  // (key, index) alone, so checking it against the formula checks independence of the split.
  const std::size_t n = (std::size_t{1} << 21) + 3;
  std::vector<double> u(n), z(n);
  const std::uint64_t key = nn::stream_key(11, 5);
  nn::fill_uniform(u.data(), n, key, -0.25, 0.25);
  nn::fill_normal(z.data(), n, key, 3.0);
  double mean = 0.0, second = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    REQUIRE(u[k] == -0.25 + 0.5 * nn::counter_uniform(key, k));
    mean += z[k];
    second += z[k] * z[k];
  }
  for (std::size_t k : {std::size_t{0}, std::size_t{65535}, std::size_t{65536}, n - 3, n - 1}) {
    const std::size_t pair = k - k % 2;
    const double r = std::sqrt(-2.0 * std::log(1.0 - nn::counter_uniform(key, pair)));
    const double angle = 2.0 * std::numbers::pi * nn::counter_uniform(key, pair + 1);
    CHECK(z[k] == 3.0 * r * (k % 2 == 0 ? std::cos(angle) : std::sin(angle)));
  }
  mean /= static_cast<double>(n);
  second /= static_cast<double>(n);
  CHECK(std::abs(mean) < 5 * 3.0 / std::sqrt(static_cast<double>(n)));  // 5 standard errors
  CHECK(std::abs(second / 9.0 - 1.0) < 5 * std::sqrt(2.0 / static_cast<double>(n)));
  // A net this size gives the same w from a second model object and from another thread.
  const nn::MLP big({.input_dim = 4, .hidden = {1200, 1200}, .output_dim = 1});
  const Tensor w = big.init(3);
  Tensor other;
  std::thread([&] { other = nn::MLP({.input_dim = 4, .hidden = {1200, 1200}, .output_dim = 1}).init(3); }).join();
  CHECK(bitwise_equal(w, other));
}

TEST_CASE("Same seed, same w (bitwise), different seeds, different w", "[nn][init]") {
  const std::vector<nn::MLPConfig> configs = {
      {.input_dim = 1, .hidden = {100, 100}, .output_dim = 1},
      {.input_dim = 3, .hidden = {20}, .output_dim = 2, .init = nn::Init::lecun_normal},
      {.input_dim = 3, .hidden = {20}, .output_dim = 2, .parameterization = nn::Parameterization::ntk},
  };
  for (const nn::MLPConfig& c : configs) {
    const nn::MLP net(c);
    INFO(net.describe());
    CHECK(bitwise_equal(net.init(0), net.init(0)));
    CHECK(bitwise_equal(net.init(987654321), nn::MLP(c).init(987654321)));  // a fresh model too
    for (std::uint64_t other : {1u, 2u, 1000u}) {
      const Tensor a = net.init(0), b = net.init(other);
      std::size_t equal_weights = 0;
      for (const nn::ParamBlock& block : net.layout())
        if (block.name.ends_with(".weight"))
          for (std::size_t i = block.offset; i < block.offset + block.size(); ++i)
            equal_weights += a.flat(i) == b.flat(i);
      CHECK(equal_weights == 0);  // continuous draws: a coincidence has probability ~1e-12
    }
  }
}

TEST_CASE("init and predict give the same numbers when called from several threads at once", "[nn][init][threads]") {
  const nn::MLP torch({.input_dim = 1, .hidden = {100, 100}, .output_dim = 1});
  const nn::MLP ntk(
      {.input_dim = 2, .hidden = {50, 50}, .output_dim = 1, .parameterization = nn::Parameterization::ntk});
  const Tensor x1 = nn_test::random_tensor({8, 1}, 1), x2 = nn_test::random_tensor({8, 2}, 2);
  constexpr int kThreads = 8;
  std::vector<Tensor> torch_w(kThreads), ntk_w(kThreads), torch_y(kThreads), ntk_y(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const std::uint64_t seed = static_cast<std::uint64_t>(t % 4);  // two threads per seed
      for (int rep = 0; rep < 5; ++rep) {
        torch_w[t] = torch.init(seed);
        ntk_w[t] = ntk.init(seed);
        torch_y[t] = torch.predict(torch_w[t], x1);
        ntk_y[t] = ntk.predict(ntk_w[t], x2);
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const std::uint64_t seed = static_cast<std::uint64_t>(t % 4);
    CHECK(bitwise_equal(torch_w[t], torch.init(seed)));
    CHECK(bitwise_equal(ntk_w[t], ntk.init(seed)));
    CHECK(bitwise_equal(torch_y[t], torch.predict(torch.init(seed), x1)));
    CHECK(bitwise_equal(ntk_y[t], ntk.predict(ntk.init(seed), x2)));
  }
}
