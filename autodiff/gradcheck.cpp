#include "autodiff/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "autodiff/ops.hpp"
#include "autodiff/transforms.hpp"

namespace autodiff {
namespace {

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (std::size_t i = 0; i < t.size(); ++i) m = std::max(m, std::abs(t.flat(i)));
  return m;
}

double error(const Tensor& a, const Tensor& b) {
  const double diff = max_abs(sub(a, b));
  if (!std::isfinite(diff)) return INFINITY;
  return diff / std::max({1.0, max_abs(a), max_abs(b)});
}

// <a, b> over all elements, as a 0-d tensor.
Tensor inner(const Tensor& a, const Tensor& b) { return sum(mul(a, b)); }

Tensor random_unit(const Shape& shape, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Tensor v = Tensor::zeros(shape);
  double norm2 = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v.flat(i) = normal(rng);
    norm2 += v.flat(i) * v.flat(i);
  }
  return norm2 > 0 ? scale(v, 1.0 / std::sqrt(norm2)) : v;
}

Tensor value_at(const std::function<Var(const Var&)>& f, const Tensor& x) {
  TapeScope scope;
  return f(scope.tape().constant(x)).value();
}

Tensor central_difference(const std::function<Tensor(const Tensor&)>& g, const Tensor& x, const Tensor& v,
                          double h) {
  return scale(sub(g(add(x, scale(v, h))), g(sub(x, scale(v, h)))), 0.5 / h);
}

// Central differences refined by one Richardson step, (4 D(h/2) − D(h)) / 3, which cancels the
// h² term: differences of gradients see third derivatives, which can be large (x^-2.5 near 0.5).
Tensor richardson_difference(const std::function<Tensor(const Tensor&)>& g, const Tensor& x, const Tensor& v,
                             double h) {
  return scale(sub(scale(central_difference(g, x, v, h / 2), 4.0), central_difference(g, x, v, h)), 1.0 / 3.0);
}

}  // namespace

double CheckReport::worst() const {
  double w = std::max({jvp_error, vjp_error, adjoint_error});
  if (gradient_error) w = std::max(w, *gradient_error);
  if (hvp_error) w = std::max(w, *hvp_error);
  return std::isnan(w) ? INFINITY : w;
}

std::string CheckReport::summary() const {
  std::string s = fmt::format("jvp {:.3g}, vjp {:.3g}, adjoint {:.3g}", jvp_error, vjp_error, adjoint_error);
  if (gradient_error) s += fmt::format(", gradient {:.3g}", *gradient_error);
  if (hvp_error) s += fmt::format(", hvp {:.3g}", *hvp_error);
  return s + fmt::format(" (tolerance {:.3g}: {})", tolerance, passed() ? "passed" : "FAILED");
}

CheckReport check_derivatives(const std::function<Var(const Var&)>& f, const Tensor& x,
                              const CheckOptions& options) {
  if (!all_finite(x)) throw Error("check_derivatives: the point x has non-finite entries");
  std::mt19937_64 rng(options.seed);
  const auto value = [&](const Tensor& at) { return value_at(f, at); };
  const Tensor y = value(x);
  const bool scalar = y.size() == 1;

  CheckReport report;
  report.tolerance = options.tolerance;
  if (scalar) report.gradient_error = 0.0, report.hvp_error = 0.0;
  for (int k = 0; k < options.directions; ++k) {
    const Tensor v = random_unit(x.shape(), rng);
    const Tensor u = random_unit(y.shape(), rng);
    const Tensor fd = central_difference(value, x, v, options.step);
    const Tensor jv = jvp(f, x, v).second;
    const Tensor jtu = vjp(f, x, u).second;
    report.jvp_error = std::max(report.jvp_error, error(jv, fd));
    report.vjp_error = std::max(report.vjp_error, error(inner(jtu, v), inner(u, fd)));
    report.adjoint_error = std::max(report.adjoint_error, error(inner(u, jv), inner(jtu, v)));
    if (scalar) {
      const auto gradient_at = [&](const Tensor& at) { return grad(f, at); };
      report.gradient_error = std::max(*report.gradient_error, error(inner(grad(f, x), v), fd.item()));
      const Tensor fd_hv = richardson_difference(gradient_at, x, v, options.hvp_step);
      report.hvp_error = std::max(*report.hvp_error, error(hvp(f, x, v), fd_hv));
    }
  }
  return report;
}

}  // namespace autodiff
