#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>
#include <thread>

#include "core/progress.hpp"

namespace sfb {
namespace {

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f)) s += buf;
  return s;
}

TEST(Progress, LineShowsCountPercentRateAndEta) {
  Progress p("sf", 100, /*enabled=*/false);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  p.advance(25);
  const std::string l = p.line();
  EXPECT_TRUE(std::regex_search(l, std::regex(R"(^sf 25/100 \(25%\) [0-9.]+ it/s ETA [0-9]+s$)")))
      << l;
  EXPECT_GT(p.rate(), 0.0);
  EXPECT_LT(p.rate(), 25.0 / 0.05 + 1e-9);  // at most 25 items in at least 50 ms
  p.advance(75);
  EXPECT_EQ(p.line().find("ETA"), std::string::npos) << "no ETA once done";
}

TEST(Progress, PrintsOnlyWhenEnabledAndAtMostOncePerPeriod) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("stage", 10, /*enabled=*/true, /*period_s=*/3600.0, f);
    for (int i = 0; i < 10; ++i) p.advance(1);
  }
  const std::string out = read_all(f);
  std::fclose(f);
  // First advance prints (not a terminal: one line), the rest fall within the period, then
  // finish().
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_NE(out.find("stage 10 items in"), std::string::npos) << out;

  std::FILE* g = std::tmpfile();
  {
    Progress q("quiet", 10, /*enabled=*/false, 0.0, g);
    q.advance(10);
  }
  EXPECT_EQ(read_all(g), "");
  std::fclose(g);
}

}  // namespace
}  // namespace sfb
