// A finite-difference checker for derivatives (like PyTorch's gradcheck or JAX's check_grads).
// Along random directions v it compares
//   JVP       J v             with (f(x + h v) - f(x - h v)) / 2h
//   VJP       <Jᵀu, v>        with <u, the same difference>       (random u)
//   adjoint   <u, J v>        with <Jᵀu, v>                       (AD against AD: ~1e-15)
//   gradient  <∇f, v>         with the difference,                  when f has one element
//   HVP       ∇²f v           with (∇f(x + h v) - ∇f(x - h v)) / 2h refined by one Richardson
//                             step (4 D(h/2) − D(h)) / 3, when f has one element
// The error of a comparison of a and b is max|a - b| / max(1, max|a|, max|b|): relative for
// values above 1, absolute below. The report keeps the worst over all directions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "autodiff/tape.hpp"

namespace autodiff {

struct CheckOptions {
  double step = 1e-6;       // h for first derivatives (directions have unit norm)
  double hvp_step = 1e-5;   // h for the finite difference of gradients
  int directions = 3;       // random directions tried
  std::uint64_t seed = 0;   // for the directions: same seed, same report
  double tolerance = 1e-6;  // passed() when every error is at most this
};

struct CheckReport {
  double jvp_error = 0.0;
  double vjp_error = 0.0;
  double adjoint_error = 0.0;
  std::optional<double> gradient_error;  // only for one-element outputs
  std::optional<double> hvp_error;
  double tolerance = 0.0;

  double worst() const;
  bool passed() const { return worst() <= tolerance; }
  std::string summary() const;  // one line per check
};

CheckReport check_derivatives(const std::function<Var(const Var&)>& f, const Tensor& x,
                              const CheckOptions& options = {});

}  // namespace autodiff
