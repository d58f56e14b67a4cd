// synthetic-shapes: determinism, keys, masks, labels and options; the subset wrapper and the spec
// factory on top of it.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string_view>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "data/factory.hpp"
#include "data/subset.hpp"
#include "data/synthetic_shapes.hpp"

namespace sfb::data {
namespace {
namespace fs = std::filesystem;

std::string bytes_sha(const torch::Tensor& t) {
  auto c = t.contiguous();
  return sha256_hex(
      std::string_view(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes())));
}

std::string batch_sha(const Batch& b) {
  return sha256_hex(bytes_sha(b.images) + bytes_sha(b.masks) + bytes_sha(b.labels));
}

SyntheticShapesOptions options(Split split, uint64_t seed, int64_t n = 200) {
  SyntheticShapesOptions o;
  o.split = split;
  o.seed = seed;
  o.n = n;
  return o;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

TEST(SyntheticShapes, ShapesRangesAndDefaults) {
  SyntheticShapes train(SyntheticShapesOptions{});
  SyntheticShapesOptions t;
  t.split = Split::kTest;
  SyntheticShapes test(t);
  EXPECT_EQ(train.size(), 10000);
  EXPECT_EQ(test.size(), 2000);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(train.image_shape(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_TRUE(train.has_masks());
  EXPECT_EQ(train.spec(), "synthetic-shapes:10000");
  const Batch b = train.get({0, 9999, 17});
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(b.masks.sizes(), (std::vector<int64_t>{3, 1, 32, 32}));
  EXPECT_EQ(b.images.dtype(), torch::kFloat32);
  EXPECT_EQ(b.labels.dtype(), torch::kInt64);
  EXPECT_EQ(b.index.dtype(), torch::kInt64);
  EXPECT_GE(b.images.min().item<float>(), 0.0f);
  EXPECT_LE(b.images.max().item<float>(), 1.0f);
  EXPECT_TRUE(((b.masks == 0) | (b.masks == 1)).all().item<bool>());
  EXPECT_EQ(b.index[1].item<int64_t>(), 9999);
  EXPECT_THROW(train.get({10000}), DataError);
  EXPECT_THROW(train.get({-1}), DataError);
}

TEST(SyntheticShapes, SameKeySameBytesRegardlessOfBatchingAndThreads) {
  SyntheticShapes a(options(Split::kTrain, 5)), b(options(Split::kTrain, 5));
  const auto all = iota(64);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const Batch one_thread = a.get(all);
  torch::set_num_threads(std::max(2, threads));
  const Batch many_threads = b.get(all);
  torch::set_num_threads(threads);
  EXPECT_EQ(batch_sha(one_thread), batch_sha(many_threads));
  // Sample 37 alone equals row 37 of the batch: a sample depends on its index only.
  const Batch single = a.get({37});
  EXPECT_TRUE(torch::equal(single.images[0], one_thread.images[37]));
  EXPECT_TRUE(torch::equal(single.masks[0], one_thread.masks[37]));
  EXPECT_EQ(single.labels[0].item<int64_t>(), one_thread.labels[37].item<int64_t>());
  // Changing n does not change the samples it shares.
  SyntheticShapes longer(options(Split::kTrain, 5, 1000));
  EXPECT_EQ(batch_sha(longer.get(all)), batch_sha(one_thread));
}

TEST(SyntheticShapes, SplitAndSeedAreKeys) {
  const auto idx = iota(20);
  const Batch train = SyntheticShapes(options(Split::kTrain, 1)).get(idx);
  const Batch test = SyntheticShapes(options(Split::kTest, 1)).get(idx);
  const Batch reseeded = SyntheticShapes(options(Split::kTrain, 2)).get(idx);
  for (int64_t i = 0; i < 20; ++i) {
    EXPECT_FALSE(torch::equal(train.images[i], test.images[i])) << i;
    EXPECT_FALSE(torch::equal(train.images[i], reseeded.images[i])) << i;
  }
}

TEST(SyntheticShapes, PinnedBytes) {
  // Regression pin of the rendering: if this changes, bump SyntheticShapes::kVersion and update.
  const Batch b = SyntheticShapes(options(Split::kTrain, 0)).get({0, 1, 2, 3});
  EXPECT_EQ(batch_sha(b), "8dda4f251d69d2a984915da6b0bbc96c7ec64bb207f91338a21bb75b1b7785ff");
}

TEST(SyntheticShapes, LabelsAreBalancedPerBlockAndMatchParams) {
  SyntheticShapes ds(options(Split::kTrain, 3, 1000));
  const Batch b = ds.get(iota(1000));
  for (int64_t block = 0; block < 100; ++block) {
    auto counts = torch::bincount(b.labels.slice(0, block * 10, block * 10 + 10), {}, 10);
    EXPECT_TRUE((counts == 1).all().item<bool>()) << "block " << block;
  }
  for (int64_t i = 0; i < 1000; i += 37) {
    EXPECT_EQ(ds.label(i), b.labels[i].item<int64_t>());
    EXPECT_EQ(ds.params(i).label, ds.label(i));
  }
  // Not a fixed cycle: the class at position 0 of a block varies.
  EXPECT_GT(std::get<0>(torch::_unique(b.labels.slice(0, 0, 1000, 10))).numel(), 5);
}

TEST(SyntheticShapes, CleanRenderingHasObjectExactlyWhereTheMaskIs) {
  auto o = options(Split::kTrain, 11, 300);
  o.noise = 0;
  o.textured = false;
  SyntheticShapes ds(o);
  const Batch b = ds.get(iota(300));
  for (int64_t i = 0; i < 300; ++i) {
    const ShapeParams p = ds.params(i);
    auto obj = torch::tensor({p.colour[0], p.colour[1], p.colour[2]}).view({3, 1, 1});
    auto bg = torch::tensor({p.background0[0], p.background0[1], p.background0[2]}).view({3, 1, 1});
    auto img = b.images[i];
    auto fg = b.masks[i][0].to(torch::kBool);
    auto is_obj = (img - obj).abs().amax(0) < 1e-6;
    auto is_bg = (img - bg).abs().amax(0) < 1e-6;
    ASSERT_GT(fg.sum().item<int64_t>(), 0) << "empty mask at " << i;
    ASSERT_TRUE(torch::equal(is_obj, fg)) << "object pixels differ from the mask at " << i;
    ASSERT_TRUE(torch::equal(is_bg, ~fg)) << "background pixels differ at " << i;
  }
}

TEST(SyntheticShapes, NoisyMasksAreNonEmptyAndCoverTheObjectColour) {
  SyntheticShapes ds(options(Split::kTest, 4, 500));
  const Batch b = ds.get(iota(500));
  const auto area = b.masks.sum({1, 2, 3}) / (32.0 * 32.0);
  EXPECT_GT(area.min().item<float>(), 0.02f);
  EXPECT_LT(area.max().item<float>(), 0.75f);
  const float tol = static_cast<float>(ds.options().noise) + 1e-6f;
  for (int64_t i = 0; i < 500; ++i) {
    const ShapeParams p = ds.params(i);
    auto obj = torch::tensor({p.colour[0], p.colour[1], p.colour[2]}).view({3, 1, 1});
    auto fg = b.masks[i].to(torch::kBool).expand({3, 32, 32});
    auto dev = (b.images[i] - obj).abs().masked_select(fg);
    ASSERT_LE(dev.max().item<float>(), tol) << "mask pixel not drawn in the object colour at " << i;
    // The mask bounding box contains the object centre's neighbourhood.
    auto ys = std::get<0>(b.masks[i][0].max(1)).nonzero();
    auto xs = std::get<0>(b.masks[i][0].max(0)).nonzero();
    ASSERT_LE(ys.min().item<int64_t>(), static_cast<int64_t>(p.cy) + 1) << i;
    ASSERT_GE(ys.max().item<int64_t>(), static_cast<int64_t>(p.cy) - 1) << i;
    ASSERT_LE(xs.min().item<int64_t>(), static_cast<int64_t>(p.cx) + 1) << i;
    ASSERT_GE(xs.max().item<int64_t>(), static_cast<int64_t>(p.cx) - 1) << i;
  }
}

TEST(SyntheticShapes, ObjectColourIsIndependentOfTheClass) {
  SyntheticShapes ds(options(Split::kTrain, 9, 5000));
  std::vector<double> sum(10 * 3, 0.0), count(10, 0.0);
  for (int64_t i = 0; i < 5000; ++i) {
    const ShapeParams p = ds.params(i);
    count[static_cast<size_t>(p.label)] += 1;
    for (int c = 0; c < 3; ++c)
      sum[static_cast<size_t>(p.label * 3 + c)] += p.colour[static_cast<size_t>(c)];
  }
  // Per-class mean object colours all lie near the overall mean (0.5 ± 3 standard errors).
  for (int64_t k = 0; k < 10; ++k) {
    for (int c = 0; c < 3; ++c) {
      const double m = sum[static_cast<size_t>(k * 3 + c)] / count[static_cast<size_t>(k)];
      EXPECT_NEAR(m, 0.5, 3 * 0.3 / std::sqrt(count[static_cast<size_t>(k)])) << k << " " << c;
    }
  }
}

TEST(SyntheticShapes, OptionsAndFingerprint) {
  auto o = options(Split::kTrain, 1, 50);
  o.image_size = 20;
  o.num_classes = 4;
  SyntheticShapes small(o);
  const Batch b = small.get(iota(50));
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{50, 3, 20, 20}));
  EXPECT_LT(b.labels.max().item<int64_t>(), 4);
  EXPECT_EQ(small.class_names().size(), 4u);
  const std::string fp = small.fingerprint();
  EXPECT_EQ(fp.size(), 64u);
  EXPECT_EQ(fp, SyntheticShapes(o).fingerprint());
  auto changed = [&](auto edit) {
    auto c = o;
    edit(c);
    return SyntheticShapes(c).fingerprint() != fp;
  };
  EXPECT_TRUE(changed([](auto& c) { c.n = 51; }));
  EXPECT_TRUE(changed([](auto& c) { c.split = Split::kTest; }));
  EXPECT_TRUE(changed([](auto& c) { c.seed = 2; }));
  EXPECT_TRUE(changed([](auto& c) { c.image_size = 21; }));
  EXPECT_TRUE(changed([](auto& c) { c.num_classes = 5; }));
  EXPECT_TRUE(changed([](auto& c) { c.noise = 0.1; }));
  EXPECT_TRUE(changed([](auto& c) { c.textured = false; }));
  auto bad = o;
  bad.num_classes = 11;
  EXPECT_THROW(SyntheticShapes{bad}, ConfigError);
  bad = o;
  bad.image_size = 4;
  EXPECT_THROW(SyntheticShapes{bad}, ConfigError);
}

class SubsetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = fs::temp_directory_path() / ("sfb_subset_" + std::to_string(::getpid()) + ".txt");
  }
  void TearDown() override { fs::remove(file_); }
  void write(const std::string& text) { std::ofstream(file_) << text; }
  static std::unique_ptr<Dataset> base() {
    return std::make_unique<SyntheticShapes>(options(Split::kTrain, 6, 30));
  }
  std::string error() {
    try {
      SubsetDataset::from_file(base(), file_);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError";
    return "";
  }
  fs::path file_;
};

TEST_F(SubsetTest, FromFileKeepsOrderAndReportsPositions) {
  write("# chosen samples\n12\n  3 \n\n29\n0\n");
  auto s = SubsetDataset::from_file(base(), file_);
  EXPECT_EQ(s->size(), 4);
  EXPECT_EQ(s->original_indices(), (std::vector<int64_t>{12, 3, 29, 0}));
  const Batch b = s->get({1, 0, 3});
  EXPECT_TRUE(torch::equal(b.index, torch::tensor({1, 0, 3}, torch::kInt64)));
  const Batch ref = base()->get({3, 12, 0});
  EXPECT_TRUE(torch::equal(b.images, ref.images));
  EXPECT_TRUE(torch::equal(b.masks, ref.masks));
  EXPECT_TRUE(torch::equal(b.labels, ref.labels));
  EXPECT_THROW(s->get({4}), DataError);
  EXPECT_NE(s->fingerprint(), base()->fingerprint());
  write("12\n3\n0\n29\n");  // same set, other order: another subset
  EXPECT_NE(SubsetDataset::from_file(base(), file_)->fingerprint(), s->fingerprint());
}

TEST_F(SubsetTest, BadFilesNameFileAndLine) {
  write("1\n2\n30\n");
  std::string e = error();
  EXPECT_NE(e.find(file_.string()), std::string::npos) << e;
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  write("1\n-2\n");
  EXPECT_NE(error().find("line 2"), std::string::npos);
  write("1\n2\n5\n2\n");
  e = error();
  EXPECT_NE(e.find("line 4"), std::string::npos) << e;
  EXPECT_NE(e.find("duplicates line 2"), std::string::npos) << e;
  write("1\n2x\n");
  EXPECT_NE(error().find("line 2"), std::string::npos);
  fs::remove(file_);
  EXPECT_NE(error().find(file_.string()), std::string::npos);
}

TEST_F(SubsetTest, FirstN) {
  auto s = SubsetDataset::first(base(), 7);
  EXPECT_EQ(s->size(), 7);
  EXPECT_EQ(s->original_indices().back(), 6);
  EXPECT_TRUE(torch::equal(s->get({6}).images, base()->get({6}).images));
  EXPECT_EQ(SubsetDataset::first(base(), 0)->size(), 0);
  EXPECT_THROW(SubsetDataset::first(base(), 31), DataError);
  EXPECT_NE(SubsetDataset::first(base(), 7)->fingerprint(),
            SubsetDataset::first(base(), 8)->fingerprint());
}

TEST_F(SubsetTest, FactoryParsesSpecsAndSubsets) {
  DataOptions o;
  o.seed = 6;
  auto d = make_dataset("synthetic-shapes", o);
  EXPECT_EQ(d->size(), 10000);
  o.split = Split::kTest;
  EXPECT_EQ(make_dataset("synthetic-shapes", o)->size(), 2000);
  auto d30 = make_dataset("synthetic-shapes:30", o);
  EXPECT_EQ(d30->size(), 30);
  EXPECT_EQ(d30->fingerprint(), SyntheticShapes(options(Split::kTest, 6, 30)).fingerprint());
  o.subset = "first:5";
  EXPECT_EQ(make_dataset("synthetic-shapes:30", o)->size(), 5);
  o.subset = "9";
  EXPECT_EQ(make_dataset("synthetic-shapes:30", o)->size(), 9);
  write("4\n2\n");
  o.subset = "file:" + file_.string();
  auto sub = make_dataset("synthetic-shapes:30", o);
  EXPECT_EQ(sub->size(), 2);
  EXPECT_TRUE(torch::equal(sub->get({0}).images, d30->get({4}).images));
  o.subset = "some";
  EXPECT_THROW(make_dataset("synthetic-shapes:30", o), ConfigError);
  o.subset.clear();
  for (const char* bad :
       {"synthetic-shapes:abc", "synthetic-shapes:-3", "shapes", "", "cifar10:"}) {
    try {
      make_dataset(bad, o);
      ADD_FAILURE() << "no ConfigError for '" << bad << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("cifar100:DIR"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("synthetic-shapes[:n]"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_split("test"), Split::kTest);
  EXPECT_THROW(parse_split("val"), ConfigError);
}

}  // namespace
}  // namespace sfb::data
