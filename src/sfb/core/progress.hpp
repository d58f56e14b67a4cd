#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/timer.hpp"

namespace sfb {

/// A progress line for long loops, printed by rank 0 only: "<label> 1200/5000 (24%) 312.4 it/s
/// ETA 12s". Redrawn in place on a terminal at most every 0.2 s; on a pipe or file a new line at
/// most every `period_s` seconds, so logs stay short. Counts are this rank's share of the work.
class Progress {
 public:
  /// `enabled` is normally (rank == 0); `total` is the number of items expected (0 = unknown).
  Progress(std::string label, int64_t total, bool enabled, double period_s = 10.0,
           std::FILE* out = stderr);
  /// Adds `n` finished items and redraws if due.
  void advance(int64_t n);
  /// Prints the final line (total items, mean rate, elapsed time). Called by the destructor too.
  void finish();
  ~Progress();
  /// Items per second since construction.
  double rate() const;
  /// The line as it would be printed now (for tests).
  std::string line() const;

 private:
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  double period_s_, last_print_ = -1.0;
  std::FILE* out_;
  Stopwatch clock_;
};

}  // namespace sfb
