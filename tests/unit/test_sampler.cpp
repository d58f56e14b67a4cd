// ShardSampler and TrainSampler coverage over n in 0..50 and 1..7 ranks (all ranks simulated in
// one process).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/device.hpp"
#include "core/error.hpp"
#include "data/batches.hpp"
#include "data/sampler.hpp"
#include "data/synthetic_shapes.hpp"

namespace sfb::data {
namespace {

// The stages' batch loop: the shard's indices once each, in order, in batches of the given size
// (the last smaller), with the images Dataset::get gives; an error in the callback propagates.
TEST(ForEachBatch, CoversTheShardInOrderAndPropagatesErrors) {
  SyntheticShapesOptions o;
  o.n = 30;
  const SyntheticShapes ds(o);
  std::vector<int64_t> seen, sizes;
  for_each_batch(ds, Range{7, 17}, 4, "test", false, false, [&](const Batch& b) {
    sizes.push_back(b.index.size(0));
    for (int64_t i = 0; i < b.index.size(0); ++i) {
      const int64_t g = b.index[i].item<int64_t>();
      seen.push_back(g);
      EXPECT_TRUE(torch::equal(b.images[i], ds.get({g}).images[0]));
    }
  });
  std::vector<int64_t> want(17);
  std::iota(want.begin(), want.end(), 7);
  EXPECT_EQ(seen, want);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 4, 4, 1}));
  int calls = 0;
  for_each_batch(ds, Range{0, 0}, 4, "empty", false, false, [&](const Batch&) { ++calls; });
  EXPECT_EQ(calls, 0);
  EXPECT_THROW(for_each_batch(ds, Range{0, 30}, 8, "throws", false, false,
                              [&](const Batch& b) {
                                if (b.index[0].item<int64_t>() == 8) throw std::runtime_error("x");
                              }),
               std::runtime_error);
  EXPECT_THROW(for_each_batch(ds, Range{0, 30}, 0, "bad", false, false, [](const Batch&) {}),
               ConfigError);
}

// With pin_memory the batches carry the same values in pinned host memory (needs CUDA).
TEST(ForEachBatch, PinnedBatchesHoldTheSameSamples) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "pinned memory needs a CUDA device";
  SyntheticShapesOptions o;
  o.n = 9;
  const SyntheticShapes ds(o);
  int64_t n = 0;
  for_each_batch(ds, Range{0, 9}, 4, "pinned", false, true, [&](const Batch& b) {
    EXPECT_TRUE(b.images.is_pinned());
    EXPECT_TRUE(b.labels.is_pinned());
    const Batch plain = ds.get(std::vector<int64_t>(b.index.data_ptr<int64_t>(),
                                                    b.index.data_ptr<int64_t>() + b.index.numel()));
    EXPECT_TRUE(torch::equal(b.images, plain.images));
    EXPECT_TRUE(torch::equal(b.labels, plain.labels));
    n += b.index.numel();
  });
  EXPECT_EQ(n, 9);
}

// HostRows: rows in push order, converted to its dtype; an empty one has the shape asked for.
TEST(HostRows, ConcatenatesInOrderAsItsDtype) {
  HostRows rows(torch::kFloat32);
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(rows.cat({0, 3}).sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(rows.cat({0, 3}).scalar_type(), torch::kFloat32);
  rows.push(torch::arange(6, torch::kFloat64).view({2, 3}));
  rows.push(torch::arange(6, 9, torch::kInt64).view({1, 3}));
  const torch::Tensor all = rows.cat();
  EXPECT_EQ(all.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(all, torch::arange(9, torch::kFloat32).view({3, 3})));
  EXPECT_TRUE(torch::equal(to_host_async(torch::arange(4), torch::kFloat64),
                           torch::arange(4, torch::kFloat64)));
  const torch::Tensor d = to_device(torch::arange(5, torch::kInt64), torch::kCPU, torch::kFloat32);
  EXPECT_EQ(d.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(d, torch::arange(5, torch::kFloat32)));
  synchronize(torch::kCPU);  // a no-op on the CPU
}

// HostPoll on the CPU: the copy is there at once; take() empties the poll; the test lag makes
// ready() answer false that many times first, as a busy GPU would.
TEST(HostPoll, ReadyAtOnceOnTheCpuAndLagsWhenAskedTo) {
  HostPoll poll;
  EXPECT_FALSE(poll.pending());
  EXPECT_FALSE(poll.ready());
  EXPECT_ANY_THROW(poll.take());
  poll.start(torch::tensor({1.5, 0.0, -2.0}, torch::kFloat64) > 0, torch::kBool);
  EXPECT_TRUE(poll.pending());
  ASSERT_TRUE(poll.ready());
  EXPECT_TRUE(torch::equal(poll.take(), torch::tensor({true, false, false})));
  EXPECT_FALSE(poll.pending());
  HostPoll::set_test_lag(2);
  poll.start(torch::tensor({7}, torch::kInt64), torch::kFloat32);
  HostPoll::set_test_lag(0);  // polls started from now on are not lagged; this one is
  EXPECT_FALSE(poll.ready());
  EXPECT_FALSE(poll.ready());
  ASSERT_TRUE(poll.ready());
  const torch::Tensor v = poll.take();
  EXPECT_EQ(v.scalar_type(), torch::kFloat32);
  EXPECT_EQ(v.item<float>(), 7.0f);
}

// RunningRows: pruned with the newest landed mask, never with one still in flight.
TEST(RunningRows, PrunesWithTheNewestLandedMask) {
  const auto rows_of = [](std::initializer_list<int64_t> v) {
    return torch::tensor(std::vector<int64_t>(v), torch::kInt64);
  };
  RunningRows rows(5, torch::kCPU);
  EXPECT_EQ(rows.size(), 5);
  EXPECT_TRUE(rows.update(torch::tensor({true, false, true, true, false})));
  EXPECT_TRUE(torch::equal(rows.host(), rows_of({0, 2, 3})));
  EXPECT_TRUE(torch::equal(rows.device(), rows.host()));
  HostPoll::set_test_lag(1);
  EXPECT_TRUE(rows.update(torch::tensor({false, false, true, false, false})));  // in flight
  EXPECT_EQ(rows.size(), 3);
  // This mask is not copied (a copy is pending); the pending one lands and prunes.
  EXPECT_TRUE(rows.update(torch::zeros({5}, torch::kBool)));
  HostPoll::set_test_lag(0);
  EXPECT_TRUE(torch::equal(rows.host(), rows_of({2})));
  EXPECT_FALSE(rows.update(torch::zeros({5}, torch::kBool)));
  EXPECT_EQ(rows.size(), 0);
}

// DeviceClock on the CPU: the sum of the closed intervals (sleeps inside count, the gap between
// intervals does not); start/stop out of order is a programming error.
TEST(DeviceClock, SumsClosedIntervalsOnly) {
  DeviceClock clock(torch::kCPU);
  EXPECT_EQ(clock.seconds(), 0.0);
  for (int i = 0; i < 2; ++i) {
    clock.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    clock.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // between intervals: not counted
  }
  EXPECT_GE(clock.seconds(), 0.06);
  EXPECT_LT(clock.seconds(), 0.4);
  EXPECT_ANY_THROW(clock.stop());
  clock.start();
  EXPECT_ANY_THROW(clock.start());
}

TEST(ShardSampler, EveryIndexExactlyOnceContiguousAndBalanced) {
  for (int64_t n = 0; n <= 50; ++n) {
    for (int world = 1; world <= 7; ++world) {
      for (int64_t bs : {1, 3, 8, 64}) {
        std::vector<int> hits(static_cast<size_t>(n), 0);
        int64_t next = 0, min_count = n, max_count = 0;
        for (int r = 0; r < world; ++r) {
          ShardSampler s(n, world, r, bs);
          int64_t count = 0;
          ASSERT_EQ(s.num_batches(), (s.shard().count + bs - 1) / bs);
          for (int64_t b = 0; b < s.num_batches(); ++b) {
            const auto idx = s.batch(b);
            ASSERT_FALSE(idx.empty());
            ASSERT_LE(static_cast<int64_t>(idx.size()), bs);
            if (b + 1 < s.num_batches()) {
              ASSERT_EQ(static_cast<int64_t>(idx.size()), bs);
            }
            for (int64_t i : idx) {
              ASSERT_EQ(i, next) << "n=" << n << " world=" << world << " rank=" << r;
              ++next;
              ++hits[static_cast<size_t>(i)];
              ++count;
            }
          }
          min_count = std::min(min_count, count);
          max_count = std::max(max_count, count);
        }
        ASSERT_EQ(next, n);
        for (int h : hits) ASSERT_EQ(h, 1);
        ASSERT_LE(max_count - min_count, 1) << "n=" << n << " world=" << world;
      }
    }
  }
  EXPECT_THROW(ShardSampler(5, 2, 0, 4).batch(2), ConfigError);
  EXPECT_THROW(ShardSampler(5, 2, 2, 4), ConfigError);
  EXPECT_THROW(ShardSampler(5, 2, 0, 0), ConfigError);
  EXPECT_THROW(ShardSampler(-1, 2, 0, 1), ConfigError);
}

TEST(TrainSampler, SharedPermutationDisjointSharesEqualSteps) {
  for (int64_t n = 0; n <= 50; ++n) {
    for (int world = 1; world <= 7; ++world) {
      for (int64_t bs : {1, 2, 5}) {
        for (int64_t epoch : {0, 1}) {
          const TrainSampler r0(n, world, 0, bs, 1234);
          const auto perm = r0.permutation(epoch);
          ASSERT_EQ(static_cast<int64_t>(perm.size()), n);
          auto sorted = perm;
          std::sort(sorted.begin(), sorted.end());
          for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
          const int64_t steps = n / (world * bs);
          std::set<int64_t> seen;
          for (int r = 0; r < world; ++r) {
            const TrainSampler s(n, world, r, bs, 1234);
            ASSERT_EQ(s.permutation(epoch), perm) << "rank " << r << " has another permutation";
            ASSERT_EQ(s.steps_per_epoch(), steps);
            ASSERT_EQ(s.dropped_per_epoch(), n - steps * world * bs);
            const auto batches = s.epoch_batches(epoch);
            ASSERT_EQ(static_cast<int64_t>(batches.size()), steps);
            for (int64_t st = 0; st < steps; ++st) {
              const auto& b = batches[static_cast<size_t>(st)];
              ASSERT_EQ(static_cast<int64_t>(b.size()), bs);
              ASSERT_EQ(b, s.batch(epoch, st));
              for (size_t k = 0; k < b.size(); ++k) {
                // Step st's global minibatch is perm[st*W*B, (st+1)*W*B); rank r holds slice r.
                ASSERT_EQ(b[k], perm[static_cast<size_t>((st * world + r) * bs) + k]);
                ASSERT_TRUE(seen.insert(b[k]).second) << "index " << b[k] << " on two ranks";
              }
            }
          }
          // Exactly the first steps*W*B entries of the permutation are used.
          ASSERT_EQ(static_cast<int64_t>(seen.size()), steps * world * bs);
        }
      }
    }
  }
}

TEST(TrainSampler, EpochsAndSeedsChangeThePermutation) {
  const TrainSampler a(1000, 2, 0, 10, 7), b(1000, 2, 0, 10, 8);
  EXPECT_NE(a.permutation(0), a.permutation(1));
  EXPECT_NE(a.permutation(0), b.permutation(0));
  EXPECT_EQ(a.permutation(3), TrainSampler(1000, 4, 3, 5, 7).permutation(3));
  // A shuffle, not the identity, and every index is eventually drawn in some epoch.
  const auto p = a.permutation(0);
  int64_t fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += p[static_cast<size_t>(i)] == i;
  EXPECT_LT(fixed, 10);
  EXPECT_THROW(a.batch(0, a.steps_per_epoch()), ConfigError);
}

}  // namespace
}  // namespace sfb::data
