// Tensors with no elements through ops and sweeps. Their data() is null: memset, memcpy and memcmp
// on it are undefined behaviour even for 0 bytes (the accumulator zeroed cotangents with memset);
// the ASan+UBSan build (./test.sh --sanitize) stops on any such call.
#include <catch2/catch.hpp>

#include "autodiff/autodiff.hpp"

using namespace autodiff;

TEST_CASE("Empty tensors: values, gradients and Jacobians of zero size", "[autodiff][empty]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor::zeros({0}));
  const Var y = sum(square(x) * 2.0 + x);
  CHECK(y.value().item() == 0.0);
  CHECK(gradient(y, x).shape() == Shape{0});
  const Var a = tape.variable(Tensor::zeros({2, 0}));
  const Var b = tape.variable(Tensor::zeros({0, 3}));
  const Var c = matmul(a, b);  // [2, 3] of zeros: an empty sum
  REQUIRE(c.shape() == Shape{2, 3});
  const std::vector<Tensor> g = backward(sum(c), {a, b}, Tensor(1.0));
  CHECK(g[0].shape() == Shape{2, 0});
  CHECK(g[1].shape() == Shape{0, 3});
  const Tensor j = jacrev([](const Var& v) { return v * 3.0; }, Tensor::zeros({0}));
  CHECK(j.size() == 0);
}
