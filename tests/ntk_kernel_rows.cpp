// ntk::KernelRows: rows of an infinite-width kernel computed apart hold exactly the doubles of the
// whole call (ntk/infinite.hpp), for every kind of pass — the input Gram as a loop (few features)
// and in OpenBLAS tiles (more), closed forms (relu, erf, vectorized and scalar), the 2-D
// quadrature rule with small and large node counts, the Hermite series — symmetric and
// rectangular, at depths 0 to 3, in blocks of uneven sizes. `mpirun ntk-kernel` relies on it.
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "autodiff/blas_threads.hpp"
#include "nn/random.hpp"
#include "ntk/infinite.hpp"

namespace {

using autodiff::Tensor;
using nn::Activation;
using ntk::ActivationMethod;
using ntk::InfiniteMlp;
using ntk::KernelKind;
using ntk::KernelRows;

Tensor random_inputs(std::size_t n, std::size_t d, std::uint64_t seed) {
  nn::Rng rng(seed);
  Tensor x = Tensor::zeros({n, d});
  for (std::size_t i = 0; i < x.size(); ++i) x.flat(i) = rng.normal();
  // A repeated point and a negated one: correlations of exactly ±1, where the arc-cosine and the
  // quadrature's snapping are most delicate.
  for (std::size_t f = 0; f < d && n > 5; ++f) {
    x.flat(3 * d + f) = x.flat(f);
    x.flat(5 * d + f) = -x.flat(d + f);
  }
  return x;
}

// Every entry of the blocks, in rows cut at `cuts`, equal bit for bit to the whole kernel's (the
// symmetric kernel's entries left of a block from the transposed blocks before it).
void check_blocks(const KernelRows& rows, const Tensor& whole, const std::vector<std::size_t>& cuts) {
  const std::size_t n1 = rows.rows(), n2 = rows.columns();
  REQUIRE(whole.shape()[0] == n1);
  REQUIRE(whole.shape()[1] == n2);
  std::vector<double> assembled(n1 * n2, -1.0);
  std::size_t begin = 0, compared = 0;
  for (std::size_t cut : cuts) {
    const std::size_t end = std::min(cut, n1);
    const Tensor block = rows.block(begin, end);
    const std::size_t first = rows.symmetric() ? begin : 0;
    REQUIRE(block.shape()[0] == end - begin);
    REQUIRE(block.shape()[1] == n2 - first);
    for (std::size_t i = begin; i < end; ++i)
      for (std::size_t j = first; j < n2; ++j) {
        const double v = block.flat((i - begin) * (n2 - first) + (j - first));
        assembled[i * n2 + j] = v;
        if (rows.symmetric()) assembled[j * n2 + i] = v;
      }
    begin = end;
  }
  REQUIRE(begin == n1);
  std::size_t differing = 0;
  for (std::size_t e = 0; e < n1 * n2; ++e) {
    ++compared;
    if (std::memcmp(&assembled[e], whole.data() + e, sizeof(double)) != 0) ++differing;
  }
  INFO("entries differing: " << differing << " of " << compared);
  CHECK(differing == 0);
}

struct Case {
  std::string name;
  InfiniteMlp mlp;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (std::size_t depth : {0, 1, 2, 3}) {
    out.push_back({"relu", {.depth = depth, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1}});
    out.push_back({"erf", {.depth = depth, .activation = Activation::erf, .sw2 = 1.5, .sb2 = 0.2}});
  }
  for (std::size_t depth : {1, 2}) {
    // tanh: the Hermite series (automatic nodes); the 2-D rule with few nodes (several entries per
    // evaluation) and with more; erf by quadrature (its vectorized and scalar code differ in the last bit)
    out.push_back({"tanh series", {.depth = depth, .activation = Activation::tanh, .sw2 = 1.0, .sb2 = 0.1}});
    out.push_back({"tanh 12 nodes", {.depth = depth, .activation = Activation::tanh, .sw2 = 1.0, .sb2 = 0.1,
                                     .quadrature_nodes = 12}});
    out.push_back({"erf quadrature 9 nodes", {.depth = depth, .activation = Activation::erf, .sw2 = 1.0, .sb2 = 0.1,
                                              .method = ActivationMethod::quadrature, .quadrature_nodes = 9}});
    out.push_back({"sin 30 nodes gauss-hermite", {.depth = depth, .activation = Activation::sin, .sw2 = 1.0, .sb2 = 0.0,
                                                  .quadrature_rule = ntk::QuadratureRule::gauss_hermite,
                                                  .quadrature_nodes = 30}});
  }
  out.push_back({"relu standard", {.depth = 2, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.0,
                                   .parameterization = nn::Parameterization::standard, .width = 64}});
  return out;
}

}  // namespace

TEST_CASE("rows of a kernel computed apart equal the whole kernel bit for bit", "[ntk][infinite][rows]") {
  const Tensor x = random_inputs(37, 6, 1), x2 = random_inputs(23, 6, 2);
  for (const Case& c : cases())
    for (KernelKind kind : {KernelKind::ntk, KernelKind::nngp}) {
      INFO(c.name << " depth " << c.mlp.depth << " " << ntk::to_string(kind));
      check_blocks(KernelRows(x, c.mlp, kind), ntk::infinite_width_kernel(x, c.mlp, kind), {1, 2, 9, 16, 30, 37});
      check_blocks(KernelRows(x, x2, c.mlp, kind), ntk::infinite_width_kernel(x, x2, c.mlp, kind), {5, 6, 20, 37});
      check_blocks(KernelRows(x, c.mlp, kind), ntk::infinite_width_kernel(x, c.mlp, kind), {37});
    }
}

TEST_CASE("rows computed apart equal the whole kernel with the scalar closed forms too", "[ntk][infinite][rows]") {
  setenv("NTK_NO_AVX2", "1", 1);
  const Tensor x = random_inputs(29, 5, 3);
  for (Activation a : {Activation::relu, Activation::erf}) {
    const InfiniteMlp mlp{.depth = 2, .activation = a, .sw2 = 2.0, .sb2 = 0.1};
    check_blocks(KernelRows(x, mlp, KernelKind::ntk), ntk::infinite_width_kernel(x, mlp, KernelKind::ntk), {3, 10, 11, 29});
  }
  unsetenv("NTK_NO_AVX2");
}

TEST_CASE("rows computed apart equal the whole kernel when the Gram matrix is tiled", "[ntk][infinite][rows]") {
  // 80 features: the input Gram goes through OpenBLAS in 256 × 256 tiles; 600 points make 3 tile
  // rows, cut at tile edges (no tile shared) and across them (tiles recomputed, then cut).
  const Tensor x = random_inputs(600, 80, 4), x2 = random_inputs(300, 80, 5);
  const InfiniteMlp relu{.depth = 3, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1};
  const KernelRows rows(x, relu, KernelKind::ntk);
  CHECK(rows.row_alignment() == 256);
  check_blocks(rows, ntk::infinite_width_kernel(x, relu, KernelKind::ntk), {256, 512, 600});
  check_blocks(rows, ntk::infinite_width_kernel(x, relu, KernelKind::ntk), {100, 300, 301, 599, 600});
  check_blocks(KernelRows(x, x2, relu, KernelKind::nngp), ntk::infinite_width_kernel(x, x2, relu, KernelKind::nngp),
               {256, 257, 600});
  const Tensor small = random_inputs(50, 80, 6);
  const InfiniteMlp tanh{.depth = 1, .activation = Activation::tanh, .sw2 = 1.0, .sb2 = 0.1};
  check_blocks(KernelRows(small, tanh, KernelKind::ntk), ntk::infinite_width_kernel(small, tanh, KernelKind::ntk),
               {7, 8, 49, 50});
}

TEST_CASE("rows computed apart equal the whole kernel whatever the number of threads", "[ntk][infinite][rows]") {
  // One process may run OpenBLAS and the kernel passes on several threads, an MPI rank on one: the
  // series' coefficient products, the Gauss–Hermite rule's eigenvalues and the Gram tiles must not
  // depend on it.
  const Tensor x = random_inputs(300, 6, 8), wide = random_inputs(300, 70, 9);
  std::vector<std::pair<InfiniteMlp, Tensor>> runs = {
      {{.depth = 2, .activation = Activation::tanh, .sw2 = 1.0, .sb2 = 0.1}, x},
      {{.depth = 1, .activation = Activation::sin, .quadrature_rule = ntk::QuadratureRule::gauss_hermite,
        .quadrature_nodes = 60}, x},
      {{.depth = 2, .activation = Activation::relu, .sw2 = 2.0, .sb2 = 0.1}, wide}};
  for (const auto& [mlp, points] : runs) {
    INFO(mlp.describe());
    Tensor whole;
    {
      const autodiff::BlasThreads many(4);
      whole = ntk::infinite_width_kernel(points, mlp, KernelKind::ntk);
    }
    const autodiff::BlasThreads one(1);
    check_blocks(KernelRows(points, mlp, KernelKind::ntk), whole, {100, 200, 300});
  }
}

TEST_CASE("KernelRows refuses rows outside the kernel and bad settings as the whole call does", "[ntk][infinite][rows]") {
  const Tensor x = random_inputs(10, 3, 7);
  const KernelRows rows(x, InfiniteMlp{}, KernelKind::ntk);
  CHECK(rows.rows() == 10);
  CHECK(rows.columns() == 10);
  CHECK(rows.block(4, 4).shape()[0] == 0);
  CHECK_THROWS_WITH(rows.block(3, 11), Catch::Contains("rows [3, 11) of a kernel with 10 rows"));
  CHECK_THROWS_AS(KernelRows(x, InfiniteMlp{.parameterization = nn::Parameterization::standard}, KernelKind::ntk),
                  autodiff::Error);
  Tensor huge = x;
  huge.flat(0) = 1e200;
  CHECK_THROWS_WITH(KernelRows(huge, InfiniteMlp{}, KernelKind::ntk), Catch::Contains("kernel variance inf"));
  CHECK_THROWS_WITH(ntk::infinite_width_kernel(huge, InfiniteMlp{}, KernelKind::ntk), Catch::Contains("kernel variance inf"));
}
