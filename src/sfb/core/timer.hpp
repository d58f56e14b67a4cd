#pragma once
#include <chrono>

namespace sfb {

/// Wall-clock stopwatch on the steady clock; starts at construction.
class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  /// Restarts the stopwatch.
  void reset() { start_ = Clock::now(); }
  /// Seconds since construction or the last reset().
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

}  // namespace sfb
