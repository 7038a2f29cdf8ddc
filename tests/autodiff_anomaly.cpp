// Anomaly mode (autodiff/anomaly.hpp): the first non-finite value, tangent or adjoint is reported
// with its op, its inputs' shapes and its tape position; nothing changes when the mode is off.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "autodiff/autodiff.hpp"

using namespace autodiff;
using Catch::Matchers::Contains;

namespace {

// The message of the AnomalyError that f throws (fails the test if it throws none).
template <class F>
AnomalyError anomaly_of(F&& f) {
  try {
    f();
  } catch (const AnomalyError& e) {
    return e;
  }
  FAIL("no AnomalyError");
  throw;  // unreachable
}

}  // namespace

TEST_CASE("Anomaly mode: off by default, a NaN goes through silently", "[autodiff][anomaly]") {
  CHECK_FALSE(anomaly_detection_enabled());
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{1.0, -1.0});
  const Var y = sum(log(x));
  CHECK(std::isnan(y.value().flat(0)));
}

TEST_CASE("Anomaly mode: the first op whose value is not finite, with its inputs and position", "[autodiff][anomaly]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{1.0, -1.0, 2.0});
  const Var z = x * 2.0;  // %1, finite
  DetectAnomaly anomaly;
  CHECK(anomaly_detection_enabled());
  const AnomalyError e = anomaly_of([&] { (void)log(z - 3.0); });
  CHECK(e.op == "log");
  CHECK(e.node == 3);
  CHECK_THAT(e.what(), Contains("%3 = log(%2)") && Contains("tape position 3") && Contains("inputs: %2 [3]") &&
                           Contains("NaN at element 0 of shape [3]") && Contains("(forward)"));
  CHECK(tape.size() == 3);  // the failing node was taken off again
  CHECK_THAT(anomaly_of([&] { (void)(x / (x - 1.0)); }).what(), Contains("div(") && Contains("+inf at element 0"));
}

TEST_CASE("Anomaly mode: a non-finite tangent in forward mode", "[autodiff][anomaly]") {
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{0.0, 4.0}, Tensor{1.0, 1.0});
  DetectAnomaly anomaly;
  const AnomalyError e = anomaly_of([&] { (void)sqrt(x); });  // value 0 and 2, tangent 1/(2·0)
  CHECK(e.op == "sqrt");
  CHECK_THAT(e.what(), Contains("its tangent has +inf at element 0") && Contains("tape position 1"));
}

TEST_CASE("Anomaly mode: a non-finite adjoint names the forward op whose VJP produced it", "[autodiff][anomaly]") {
  TapeScope scope;
  Tape& tape = scope.tape();
  const Var x = tape.variable(Tensor{0.0, 4.0});
  const Var r = sqrt(x);  // %1: values 0 and 2 are finite; its VJP divides by 2·sqrt(0)
  const Var y = sum(r * 3.0);
  CHECK_FALSE(std::isfinite(gradient(y, x).flat(0)));  // off: an inf gradient, silently
  DetectAnomaly anomaly;
  const AnomalyError e = anomaly_of([&] { (void)gradient(y, x); });
  CHECK(e.node == 0);
  CHECK(e.op == "variable");
  CHECK_THAT(e.what(), Contains("the adjoint of %0 = variable at tape position 0") &&
                           Contains("the VJP rule of the forward op %1 = sqrt(%0) at tape position 1, inputs: %0 [2]") &&
                           Contains("+inf at element 0 of shape [2]"));
}

TEST_CASE("Anomaly mode: a non-finite seed of a reverse sweep", "[autodiff][anomaly]") {
  TapeScope scope;
  const Var x = scope.tape().variable(Tensor{1.0, 2.0});
  const Var y = x * 2.0;
  DetectAnomaly anomaly;
  const Tensor seed{1.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THAT(anomaly_of([&] { (void)backward(y, {x}, seed); }).what(), Contains("seed has NaN at element 1"));
}

TEST_CASE("Anomaly mode: the guard is per thread, nests, and restores the previous state", "[autodiff][anomaly]") {
  {
    DetectAnomaly outer;
    {
      DetectAnomaly inner;
      CHECK(anomaly_detection_enabled());
    }
    CHECK(anomaly_detection_enabled());
    bool other_thread = true;
    std::thread([&] { other_thread = anomaly_detection_enabled(); }).join();
    CHECK_FALSE(other_thread);
    // finite computations are unaffected
    TapeScope scope;
    const Var x = scope.tape().variable(Tensor{1.0, 2.0});
    CHECK(gradient(sum(square(x)), x).flat(1) == 4.0);
  }
  CHECK_FALSE(anomaly_detection_enabled());
  CHECK(sweep_observer() == nullptr);
}
