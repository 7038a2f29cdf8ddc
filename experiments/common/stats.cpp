#include "experiments/common/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "nn/random.hpp"

namespace experiments {

namespace {
void require_samples(const std::vector<double>& xs, std::size_t n, const char* what) {
  if (xs.size() < n) throw std::invalid_argument(fmt::format("{} needs at least {} samples, got {}", what, n, xs.size()));
}
}  // namespace

double mean(const std::vector<double>& xs) {
  require_samples(xs, 1, "mean");
  return std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(xs.size());
}

double standard_deviation(const std::vector<double>& xs) {
  require_samples(xs, 2, "standard deviation");
  const double m = mean(xs);
  double s = 0.0;
  for (double x : xs) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(xs.size() - 1));
}

double quantile(std::vector<double> xs, double q) {
  require_samples(xs, 1, "quantile");
  std::sort(xs.begin(), xs.end());
  const double position = q * static_cast<double>(xs.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, xs.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return xs[below] + fraction * (xs[above] - xs[below]);
}

double median(const std::vector<double>& xs) { return quantile(xs, 0.5); }

double geometric_mean(const std::vector<double>& xs) {
  require_samples(xs, 1, "geometric mean");
  double s = 0.0;
  for (double x : xs) {
    if (!(x > 0.0)) throw std::invalid_argument(fmt::format("geometric mean of a non-positive value {}", x));
    s += std::log(x);
  }
  return std::exp(s / static_cast<double>(xs.size()));
}

double minimum(const std::vector<double>& xs) {
  require_samples(xs, 1, "minimum");
  return *std::min_element(xs.begin(), xs.end());
}

double maximum(const std::vector<double>& xs) {
  require_samples(xs, 1, "maximum");
  return *std::max_element(xs.begin(), xs.end());
}

namespace {

// The regularized incomplete beta function I_x(a, b) by its continued fraction (Lentz); y = 1 − x
// is passed separately so that x near 1 keeps its accuracy.
double incomplete_beta(double a, double b, double x, double y) {
  if (x <= 0.0) return 0.0;
  if (y <= 0.0) return 1.0;
  if (x > (a + 1.0) / (a + b + 2.0)) return 1.0 - incomplete_beta(b, a, y, x);
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                                b * std::log(y)) / a;
  const double tiny = 1e-300;
  double f = 1.0, c = 1.0, d = 0.0;
  for (int i = 0; i <= 400; ++i) {
    const int m = i / 2;
    double numerator;
    if (i == 0) numerator = 1.0;
    else if (i % 2 == 0) numerator = (m * (b - m) * x) / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    else numerator = -((a + m) * (a + b + m) * x) / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 + numerator * d;
    if (std::fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    c = 1.0 + numerator / c;
    if (std::fabs(c) < tiny) c = tiny;
    const double cd = c * d;
    f *= cd;
    if (std::fabs(1.0 - cd) < 1e-15) break;
  }
  return front * (f - 1.0);
}

double student_t_cdf(double t, double dof) {
  const double tail = 0.5 * incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t), t * t / (dof + t * t));
  return t >= 0 ? 1.0 - tail : tail;
}

}  // namespace

double student_t_quantile(double p, double dof) {
  if (!(p > 0.0 && p < 1.0) || !(dof > 0.0))
    throw std::invalid_argument(fmt::format("student_t_quantile: need 0 < p < 1 and dof > 0, got p = {}, dof = {}", p, dof));
  double lo = -1e3, hi = 1e3;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, std::fabs(lo)); ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, dof) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Interval mean_ci(const std::vector<double>& xs, double level) {
  require_samples(xs, 2, "a confidence interval of the mean");
  const double m = mean(xs);
  const double half = student_t_quantile(0.5 + level / 2.0, static_cast<double>(xs.size() - 1)) *
                      standard_deviation(xs) / std::sqrt(static_cast<double>(xs.size()));
  return {m - half, m + half, level, "student-t"};
}

namespace {
std::string bootstrap_method(std::size_t resamples) {
  return fmt::format("bootstrap percentile ({} resamples)", resamples);
}
}  // namespace

Interval bootstrap_ci(const std::vector<double>& xs, const Statistic& statistic, std::uint64_t seed,
                      std::size_t resamples, double level) {
  require_samples(xs, 2, "a bootstrap interval");
  nn::Rng rng(seed);
  std::vector<double> stats(resamples), sample(xs.size());
  for (auto& s : stats) {
    for (auto& x : sample) x = xs[static_cast<std::size_t>(rng.uniform() * static_cast<double>(xs.size()))];
    s = statistic(sample);
  }
  return {quantile(stats, (1.0 - level) / 2.0), quantile(stats, (1.0 + level) / 2.0), level, bootstrap_method(resamples)};
}

LineFit fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2)
    throw std::invalid_argument(fmt::format("fit_line needs two or more (x, y) pairs, got {} x and {} y", x.size(), y.size()));
  const double mx = mean(x), my = mean(y);
  double sxx = 0.0, sxy = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0.0) throw std::invalid_argument("fit_line: all x are equal");
  LineFit fit;
  fit.slope = sxy / sxx;
  fit.intercept = my - fit.slope * mx;
  fit.r2 = syy > 0.0 ? sxy * sxy / (sxx * syy) : 1.0;
  return fit;
}

SlopeFit loglog_slope(const std::vector<double>& x, const std::vector<std::vector<double>>& groups,
                      const Statistic& statistic, std::uint64_t seed, std::size_t resamples, double level) {
  if (x.size() != groups.size())
    throw std::invalid_argument(fmt::format("loglog_slope: {} x for {} groups", x.size(), groups.size()));
  std::vector<double> lx(x.size()), ly(x.size());
  for (std::size_t g = 0; g < x.size(); ++g) {
    lx[g] = std::log(x[g]);
    ly[g] = std::log(statistic(groups[g]));
  }
  const LineFit fit = fit_line(lx, ly);
  nn::Rng rng(seed);
  std::vector<double> slopes(resamples), sample;
  for (auto& s : slopes) {
    for (std::size_t g = 0; g < x.size(); ++g) {
      const auto& draws = groups[g];
      sample.resize(draws.size());
      for (auto& d : sample) d = draws[static_cast<std::size_t>(rng.uniform() * static_cast<double>(draws.size()))];
      ly[g] = std::log(statistic(sample));
    }
    s = fit_line(lx, ly).slope;
  }
  return {fit.slope, fit.intercept,
          {quantile(slopes, (1.0 - level) / 2.0), quantile(slopes, (1.0 + level) / 2.0), level,
           fmt::format("bootstrap percentile over draws within each group ({} resamples)", resamples)}};
}

}  // namespace experiments
