// synthetic-shapes under mpirun: every rank renders the same samples and the SHA-256 of the bytes
// agree across ranks; each rank's evaluation shard, gathered, covers [0, n) exactly once; every
// rank draws the same training permutation.
#include <gtest/gtest.h>
#include <torch/torch.h>

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
  const std::string mine = sha256_hex(bytes_sha(torch::cat(images)) + bytes_sha(torch::cat(masks)) +
                                      bytes_sha(torch::cat(labels)));
  const auto all = comm::allgather_strings(ctx().host_comm(), mine);
  ASSERT_EQ(static_cast<int>(all.size()), ctx().size());
  for (int r = 0; r < ctx().size(); ++r)
    EXPECT_EQ(all[static_cast<size_t>(r)], all[0]) << "rank " << r;
  // The fingerprint agrees too.
  const auto fps = comm::allgather_strings(ctx().host_comm(), ds.fingerprint());
  for (const auto& fp : fps) EXPECT_EQ(fp, fps[0]);
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
