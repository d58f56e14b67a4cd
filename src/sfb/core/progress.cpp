#include "core/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace sfb {

Progress::Progress(std::string label, int64_t total, bool enabled, double period_s, std::FILE* out)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(fileno(out)) != 0),
      period_s_(period_s),
      out_(out) {}

Progress::~Progress() { finish(); }

double Progress::rate() const {
  const double s = clock_.seconds();
  return s > 0 ? static_cast<double>(done_) / s : 0.0;
}

std::string Progress::line() const {
  const double r = rate();
  std::string s = fmt::format("{} {}", label_, done_);
  if (total_ > 0) {
    s += fmt::format("/{} ({:.0f}%)", total_, 100.0 * static_cast<double>(done_) / total_);
  }
  s += fmt::format(" {:.1f} it/s", r);
  if (total_ > 0 && r > 0 && done_ < total_) {
    s += fmt::format(" ETA {:.0f}s", std::ceil(static_cast<double>(total_ - done_) / r));
  }
  return s;
}

void Progress::advance(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  const double now = clock_.seconds();
  const double period = tty_ ? 0.2 : period_s_;
  if (last_print_ >= 0 && now - last_print_ < period) return;
  last_print_ = now;
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K", line().c_str());
  } else {
    std::fprintf(out_, "%s\n", line().c_str());
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_ || last_print_ < 0) return;  // nothing was shown: stay quiet for short loops
  const std::string done =
      fmt::format("{} {} items in {:.1f}s ({:.1f} it/s)", label_, done_, clock_.seconds(), rate());
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K\n", done.c_str());
  } else {
    std::fprintf(out_, "%s\n", done.c_str());
  }
  std::fflush(out_);
}

}  // namespace sfb
