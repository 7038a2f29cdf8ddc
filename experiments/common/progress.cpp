#include "experiments/common/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace experiments {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}:{:02}", s / 60, s % 60);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

Progress::Progress(std::string what, double total)
    : what_(std::move(what)), total_(std::max(total, 1e-300)), start_(std::chrono::steady_clock::now()),
      last_draw_(start_), terminal_(::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { finish(); }

void Progress::advance(double work) {
  const double done = done_.fetch_add(work) + work;
  std::lock_guard lock(mutex_);
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else {
    const int decile = static_cast<int>(std::floor(10.0 * std::min(done / total_, 1.0)));
    if (decile <= last_decile_ || decile >= 10) return;
    last_decile_ = decile;
  }
  last_draw_ = now;
  draw(done, false);
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw(done_.load(), true);
}

void Progress::draw(double done, bool final) {
  const double fraction = std::clamp(done / total_, 0.0, 1.0);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double left = fraction > 0 ? elapsed * (1.0 - fraction) / fraction : NAN;
  constexpr int width = 24;
  const int filled = static_cast<int>(std::lround(fraction * width));
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.');
  const std::string tail = final ? fmt::format("done in {}", format_duration(elapsed))
                                 : fmt::format("{} elapsed, ~{} left", format_duration(elapsed), format_duration(left));
  const std::string line = fmt::format("{} [{}] {:3.0f}%  {}", what_, bar, 100.0 * fraction, tail);
  if (terminal_) std::fprintf(stderr, "\r%-78s%s", line.c_str(), final ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace experiments
