// Why: the post drew most of its figures once; these experiments draw many seeds and report
// every headline with a confidence interval. Heavy-tailed quantities (κ, whose ‖∇y‖ can be tiny)
// are summarized by medians or geometric means, never by arithmetic means, and slopes on log-log
// axes come with bootstrap intervals. Everything here is deterministic: a bootstrap takes a seed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace experiments {

struct Interval {
  double low = 0.0, high = 0.0;
  double level = 0.95;
  std::string method;  // "student-t", "bootstrap percentile (2000 resamples)", ...
};

double mean(const std::vector<double>& xs);
double standard_deviation(const std::vector<double>& xs);  // sample (n − 1)
double median(const std::vector<double>& xs);
double quantile(std::vector<double> xs, double q);  // linear interpolation between order statistics
double geometric_mean(const std::vector<double>& xs);  // all xs > 0
double minimum(const std::vector<double>& xs);
double maximum(const std::vector<double>& xs);

// Student's t quantile: P(T ≤ t) = p for T with `dof` degrees of freedom.
double student_t_quantile(double p, double dof);
// mean ± t·s/√n.
Interval mean_ci(const std::vector<double>& xs, double level = 0.95);

using Statistic = std::function<double(const std::vector<double>&)>;
// Percentile bootstrap interval of statistic(xs).
Interval bootstrap_ci(const std::vector<double>& xs, const Statistic& statistic, std::uint64_t seed,
                      std::size_t resamples = 2000, double level = 0.95);

struct LineFit {
  double slope = 0.0, intercept = 0.0, r2 = 0.0;
};
LineFit fit_line(const std::vector<double>& x, const std::vector<double>& y);  // least squares

// The slope of log(statistic(group)) against log(x) over groups of draws (group g measured at
// x[g]), with a bootstrap interval that resamples the draws within every group.
struct SlopeFit {
  double slope = 0.0, intercept = 0.0;  // log y = intercept + slope · log x (natural logs)
  Interval ci;
};
SlopeFit loglog_slope(const std::vector<double>& x, const std::vector<std::vector<double>>& groups,
                      const Statistic& statistic, std::uint64_t seed, std::size_t resamples = 2000,
                      double level = 0.95);

}  // namespace experiments
