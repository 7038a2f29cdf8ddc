// The Tensor conveniences for users of the library: a Tensor from a std::vector and a shape, and
// the public norms (norm, relative_difference) beside max_relative_difference.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.hpp"

namespace {
using autodiff::Shape;
using autodiff::Tensor;

TEST_CASE("Tensor from a std::vector and a shape: row-major, the count checked", "[tensor][api]") {
  const Tensor t(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t(0, 2) == 3.0);
  CHECK(t(1, 0) == 4.0);
  CHECK(Tensor(std::vector<double>{7.0}, Shape{}).item() == 7.0);
  CHECK(Tensor(std::vector<double>{}, Shape{0, 3}).size() == 0);
  CHECK_THROWS_WITH(Tensor(std::vector<double>{1, 2, 3}, Shape{2, 2}),
                    "Tensor: 3 values do not fill shape [2, 2] (4 elements)");
}

TEST_CASE("norm and relative_difference", "[tensor][api]") {
  const Tensor a = {{3.0, 0.0}, {0.0, 4.0}};
  CHECK(autodiff::norm(a) == 5.0);
  CHECK(autodiff::norm(Tensor::zeros({0})) == 0.0);
  const Tensor b = {{3.0, 0.0}, {0.0, 4.5}};
  CHECK(autodiff::relative_difference(a, b) == Approx(0.5 / std::sqrt(9.0 + 4.5 * 4.5)).epsilon(1e-15));
  CHECK(autodiff::relative_difference(a, a) == 0.0);
  CHECK(autodiff::relative_difference(Tensor::zeros({3}), Tensor::zeros({3})) == 0.0);
  CHECK(autodiff::relative_difference(b, a) == autodiff::relative_difference(a, b));
  CHECK_THROWS_WITH(autodiff::relative_difference(a, Tensor::zeros({4})),
                    "relative_difference: shapes [2, 2] and [4] differ");
}

}  // namespace
