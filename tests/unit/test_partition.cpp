#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/partition.hpp"
#include "io/hyperslab.hpp"

namespace sfb {
namespace {

TEST(BalancedRange, CoversEveryIndexExactlyOnceInRankOrder) {
  for (int64_t n = 0; n <= 50; ++n) {
    for (int world = 1; world <= 7; ++world) {
      std::vector<int> hits(static_cast<size_t>(n), 0);
      int64_t expect_begin = 0, min_c = n, max_c = 0;
      for (int r = 0; r < world; ++r) {
        const Range rg = balanced_range(n, world, r);
        EXPECT_EQ(rg.begin, expect_begin) << n << "/" << world << "/" << r;
        expect_begin = rg.end();
        min_c = std::min(min_c, rg.count);
        max_c = std::max(max_c, rg.count);
        for (int64_t i = rg.begin; i < rg.end(); ++i) ++hits[static_cast<size_t>(i)];
      }
      EXPECT_EQ(expect_begin, n);
      EXPECT_LE(max_c - min_c, 1) << "unbalanced for n=" << n << " world=" << world;
      for (int h : hits) EXPECT_EQ(h, 1);
    }
  }
  EXPECT_EQ(balanced_range(10, 3, 0).count, 4);
  EXPECT_EQ(balanced_range(10, 3, 2).begin, 7);
  EXPECT_THROW(balanced_range(-1, 2, 0), Error);
  EXPECT_THROW(balanced_range(5, 2, 2), Error);
}

TEST(Hyperslab, PerSampleSlabHasOffsetAndTrailingDims) {
  auto h = io::per_sample_slab(10, 4, 3, {5, 2});
  EXPECT_EQ(h.file_dims, (std::vector<uint64_t>{10, 5, 2}));
  EXPECT_EQ(h.start, (std::vector<uint64_t>{4, 0, 0}));
  EXPECT_EQ(h.count, (std::vector<uint64_t>{3, 5, 2}));
  auto e = io::per_sample_slab(10, 10, 0, {});
  EXPECT_EQ(e.count, (std::vector<uint64_t>{0}));
  EXPECT_THROW(io::per_sample_slab(10, 8, 3, {}), Error);
  EXPECT_THROW(io::per_sample_slab(10, -1, 1, {}), Error);
  EXPECT_THROW(io::per_sample_slab(10, 0, 1, {-2}), Error);
}

TEST(Hyperslab, TilingDetectsGapsAndOverlaps) {
  EXPECT_FALSE(io::tiling_problem({{0, 4}, {4, 3}, {7, 3}}));
  EXPECT_FALSE(io::tiling_problem({{7, 3}, {0, 4}, {4, 3}}));  // any rank order
  EXPECT_FALSE(io::tiling_problem({{0, 2}, {2, 0}, {2, 0}}));  // empty shards anywhere
  EXPECT_FALSE(io::tiling_problem({}));
  auto gap = io::tiling_problem({{0, 4}, {5, 3}});
  ASSERT_TRUE(gap);
  EXPECT_NE(gap->find("[4, 5)"), std::string::npos) << *gap;
  auto overlap = io::tiling_problem({{0, 4}, {3, 3}});
  ASSERT_TRUE(overlap);
  EXPECT_NE(overlap->find("overlap"), std::string::npos) << *overlap;
  EXPECT_TRUE(io::tiling_problem({{1, 4}}));  // does not start at 0
}

}  // namespace
}  // namespace sfb
