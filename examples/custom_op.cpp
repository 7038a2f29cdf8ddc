// Adding an op: its value, its derivative rules and its name in one struct, recorded with
// record<Op> and checked against finite differences by check_derivatives (docs/internals.md).
// softplus(x) = log(1 + eˣ) is elementwise, so it only gives f′ = sigmoid; Elementwise turns that
// into both its VJP and its JVP, on numbers and on recorded Vars (so HVPs work too).
#include <cmath>
#include <iostream>

#include <xtensor/xmath.hpp>

#include "autodiff/autodiff.hpp"
#include "autodiff/record.hpp"

using namespace autodiff;

struct Softplus : Elementwise<Softplus> {  // softplus' = sigmoid
  static constexpr const char* name = "softplus";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::log1p(xt::exp(in[0].xt()))); }
  template <class T> static T derivative(const Rule<T>& r) { return sigmoid(r.x()); }
  static double slope(double x, double) { return 1.0 / (1.0 + std::exp(-x)); }  // the fast numeric path
};

Var softplus(const Var& x) { return record<Softplus>({}, x); }

int main() {
  auto f = [](const Var& x) { return sum(softplus(x) * x); };
  const Tensor x0 = {-1.0, 0.5, 2.0};

  // Gradient, JVP, VJP, the adjoint identity and the HVP against central differences.
  const CheckReport report = check_derivatives(f, x0);
  std::cout << "check_derivatives: " << (report.passed() ? "passed" : "FAILED") << " (tolerance "
            << format_number(report.tolerance) << ")\n\n";

  TapeScope scope;
  const Var x = scope.tape().variable(x0);
  const Var y = f(x);
  std::cout << listing(y) << '\n' << explain_gradient(y, x);
}
