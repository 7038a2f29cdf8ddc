// Why: sweeps over widths × seeds or thousands of training steps run for seconds to minutes, and
// a reader deserves to see what is done, of how much, and the time left. The bar goes to stderr
// (stdout stays clean): redrawn in place on a terminal, a line every 10% otherwise (logs, CI).
// Work can be weighted (a width-10⁵ draw costs more than a width-10 one), so the time left is
// estimated from work done, not from tasks counted. advance() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace experiments {

class Progress {
 public:
  // `total`: the work to do, in any unit (tasks, steps, estimated flops).
  Progress(std::string what, double total);
  ~Progress();  // finishes the bar
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(double work = 1.0);
  void finish();  // the final line (idempotent)

 private:
  void draw(double done, bool final);

  std::string what_;
  double total_;
  std::atomic<double> done_{0.0};
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
  bool terminal_;
  bool finished_ = false;
  std::mutex mutex_;
};

// "1:05" / "12s".
std::string format_duration(double seconds);

}  // namespace experiments
