#include <catch2/catch.hpp>

#include "autodiff/ops.hpp"
#include "ntk/linalg.hpp"

using autodiff::Tensor;

TEST_CASE("symmetric_eigen reconstructs the matrix and apply_spectral applies functions of it", "[ntk][linalg]") {
  const Tensor a = {{4.0, 1.0, 0.5}, {1.0, 3.0, 0.2}, {0.5, 0.2, 2.0}};
  const ntk::SymmetricEigen e = ntk::symmetric_eigen(a);
  // Eigenvalues ascending; A V = V Λ to 1e-13 (LAPACK's backward-stable dsyevd).
  for (std::size_t i = 0; i + 1 < 3; ++i) CHECK(e.values.flat(i) <= e.values.flat(i + 1));
  const Tensor identity_applied = ntk::apply_spectral(e, Tensor::identity(3), [](double l) { return l; });
  CHECK(autodiff::max_relative_difference(identity_applied, a) < 1e-13);
  const Tensor inverse = ntk::apply_spectral(e, Tensor::identity(3), [](double l) { return 1.0 / l; });
  CHECK(autodiff::max_relative_difference(autodiff::matmul(a, inverse), Tensor::identity(3)) < 1e-13);
  const Tensor v = {1.0, -2.0, 0.5};
  CHECK(autodiff::max_relative_difference(ntk::apply_spectral(e, v, [](double l) { return l; }),
                                          autodiff::matmul(a, v)) < 1e-13);
  CHECK_THROWS_AS(ntk::symmetric_eigen(Tensor{{1.0, 2.0}, {0.0, 1.0}}), autodiff::Error);
  CHECK_THROWS_AS(ntk::symmetric_eigen(Tensor{1.0, 2.0}), autodiff::Error);
}

TEST_CASE("gram is A Aᵀ, exactly symmetric", "[ntk][linalg]") {
  const Tensor a = {{1.0, 2.0, -0.5}, {3.0, 4.0, 0.25}, {5.0, 6.0, 2.0}, {0.125, -7.0, 1.5}};
  const Tensor g = ntk::gram(a);
  // Small integers and binary fractions: every product and sum is exact, so the match is exact.
  CHECK(autodiff::max_relative_difference(g, autodiff::matmul(a, autodiff::transpose(a))) == 0.0);
  CHECK(autodiff::max_relative_difference(g, autodiff::transpose(g)) == 0.0);
}
