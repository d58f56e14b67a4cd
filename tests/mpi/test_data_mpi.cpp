// synthetic-shapes under mpirun: every rank renders the same samples and the SHA-256 of the bytes
// agree across ranks; each rank's evaluation shard, gathered, covers [0, n) exactly once; every
// rank draws the same training permutation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string_view>

#include "comm/communicator.hpp"
#include "core/hash.hpp"
#include "data/sampler.hpp"
#include "data/synthetic_shapes.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

std::string bytes_sha(const torch::Tensor& t) {
  auto c = t.contiguous();
  return sha256_hex(
      std::string_view(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes())));
}

TEST(SyntheticShapesMpi, EveryRankRendersIdenticalBytes) {
  data::SyntheticShapesOptions o;
  o.seed = 77;
  o.n = 500;
  data::SyntheticShapes ds(o);
  // The same indices on every rank, asked in a rank-dependent batching and order.
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < 96; ++i) idx.push_back((i * 37) % 500);
  std::string joined;
  const int64_t chunk = 1 + ctx().rank() * 7;
  std::vector<torch::Tensor> images, masks, labels;
  for (size_t b = 0; b < idx.size(); b += static_cast<size_t>(chunk)) {
    const auto e = std::min(idx.size(), b + static_cast<size_t>(chunk));
    const data::Batch batch = ds.get(std::vector<int64_t>(idx.begin() + static_cast<long>(b),
                                                          idx.begin() + static_cast<long>(e)));
    images.push_back(batch.images);
    masks.push_back(batch.masks);
    labels.push_back(batch.labels);
  }
  const torch::Tensor img = torch::cat(images), msk = torch::cat(masks), lab = torch::cat(labels);
  // The content, not only its agreement across ranks: every sample equals the same sample rendered
  // alone, pixels lie in [0, 1] and vary, masks are binary and non-empty, labels are classes and
  // not all equal.
  for (size_t k = 0; k < idx.size(); k += 19) {
    const data::Batch one = ds.get({idx[k]});
    const auto i = static_cast<int64_t>(k);
    EXPECT_TRUE(torch::equal(img[i], one.images[0])) << "sample " << idx[k];
    EXPECT_TRUE(torch::equal(msk[i], one.masks[0])) << "sample " << idx[k];
    EXPECT_EQ(lab[i].item<int64_t>(), one.labels[0].item<int64_t>()) << "sample " << idx[k];
  }
  EXPECT_GE(img.min().item<float>(), 0.0f);
  EXPECT_LE(img.max().item<float>(), 1.0f);
  EXPECT_TRUE(img.flatten(1).std(1).gt(0.01).all().item<bool>()) << "a blank image";
  EXPECT_TRUE(((msk == 0) | (msk == 1)).all().item<bool>());
  EXPECT_TRUE(msk.flatten(1).sum(1).gt(0).all().item<bool>()) << "an empty mask";
  EXPECT_TRUE(((lab >= 0) & (lab < ds.num_classes())).all().item<bool>());
  EXPECT_GT(std::get<0>(torch::_unique(lab)).numel(), 5);
  const std::string mine = sha256_hex(bytes_sha(img) + bytes_sha(msk) + bytes_sha(lab));
  const auto all = comm::allgather_strings(ctx().host_comm(), mine);
  ASSERT_EQ(static_cast<int>(all.size()), ctx().size());
  for (int r = 0; r < ctx().size(); ++r)
    EXPECT_EQ(all[static_cast<size_t>(r)], all[0]) << "rank " << r;
  // The fingerprint agrees too.
  const auto fps = comm::allgather_strings(ctx().host_comm(), ds.fingerprint());
  for (const auto& fp : fps) EXPECT_EQ(fp, fps[0]);
}

TEST(SyntheticShapesMpi, EveryRankRendersThePinnedBytes) {
  // The pin of tests/unit/test_synthetic_shapes.cpp (PinnedBytes), rendered on every rank.
  data::SyntheticShapesOptions o;
  o.seed = 0;
  o.n = 200;
  const data::Batch b = data::SyntheticShapes(o).get({0, 1, 2, 3});
  EXPECT_EQ(sha256_hex(bytes_sha(b.images) + bytes_sha(b.masks) + bytes_sha(b.labels)),
            "8dda4f251d69d2a984915da6b0bbc96c7ec64bb207f91338a21bb75b1b7785ff")
      << "rank " << ctx().rank();
}

TEST(SamplersMpi, ShardsCoverOnceAndPermutationsAgree) {
  for (int64_t n : {0, 1, 2, 7, 50}) {
    data::ShardSampler eval(n, ctx().size(), ctx().rank(), 4);
    auto hits = torch::zeros({n + 1}, torch::kInt64);  // +1 keeps the tensor non-empty
    for (int64_t b = 0; b < eval.num_batches(); ++b) {
      for (int64_t i : eval.batch(b)) hits[i] += 1;
    }
    ctx().host_comm().allreduce_sum(hits);
    EXPECT_TRUE(hits.slice(0, 0, n).eq(1).all().item<bool>()) << "n=" << n;

    data::TrainSampler train(n, ctx().size(), ctx().rank(), 2, 99);
    const auto perm = train.permutation(3);
    std::vector<int64_t> sorted(perm.begin(), perm.end());  // a permutation of [0, n)
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < static_cast<int64_t>(sorted.size()); ++i) {
      ASSERT_EQ(sorted[static_cast<size_t>(i)], i) << "n=" << n;
    }
    EXPECT_EQ(static_cast<int64_t>(sorted.size()), n);
    const std::string perm_sha = sha256_hex(std::string_view(
        reinterpret_cast<const char*>(perm.data()), perm.size() * sizeof(int64_t)));
    for (const auto& s : comm::allgather_strings(ctx().host_comm(), perm_sha))
      EXPECT_EQ(s, perm_sha);
    auto steps = torch::tensor({train.steps_per_epoch()}, torch::kInt64);
    auto gathered = ctx().host_comm().allgather(steps);
    EXPECT_TRUE(gathered.eq(train.steps_per_epoch()).all().item<bool>());
  }
}

}  // namespace
}  // namespace sfb::test
