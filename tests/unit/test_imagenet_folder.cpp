// ImageNetFolder: both layouts, validation errors naming the label file and line, decoding with
// several threads (identical to one thread and to decode + transform), fingerprints.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "core/error.hpp"
#include "data/image_fixtures.hpp"
#include "data/imagenet_folder.hpp"

namespace sfb::test {
namespace {
namespace fs = std::filesystem;

class ImageNetFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("inf");
    samples_ = write_folder(dir_ / "images", 7, 3);
    write_labels(dir_ / "labels.txt", samples_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  data::ImageNetFolderOptions opts(int64_t classes = 3) {
    data::ImageNetFolderOptions o;
    o.label_file = dir_ / "labels.txt";
    o.num_classes = classes;
    return o;
  }
  std::string error_of(const std::string& label_text, int64_t classes = 3) {
    {
      std::ofstream os(dir_ / "labels.txt");
      os << label_text;
    }
    try {
      data::ImageNetFolder f(dir_ / "images", opts(classes));
      return "";
    } catch (const DataError& e) {
      return e.what();
    }
  }
  fs::path dir_;
  std::vector<FolderSample> samples_;
};

TEST_F(ImageNetFolderTest, LabelFileGivesSamplesInOrderAndBatchesMatchDecodePlusTransform) {
  data::ImageNetFolder f(dir_ / "images", opts());
  ASSERT_EQ(f.size(), 7);
  EXPECT_EQ(f.num_classes(), 3);
  EXPECT_EQ(f.image_shape(), (std::vector<int64_t>{3, 224, 224}));
  const std::vector<int64_t> idx{6, 0, 3, 3};
  const auto b = f.get(idx);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{4, 3, 224, 224}));
  EXPECT_EQ(b.labels.sizes(), (std::vector<int64_t>{4}));
  for (size_t k = 0; k < idx.size(); ++k) {
    EXPECT_EQ(b.labels[static_cast<int64_t>(k)].item<int64_t>(),
              samples_[static_cast<size_t>(idx[k])].label);
    EXPECT_EQ(b.index[static_cast<int64_t>(k)].item<int64_t>(), idx[k]);
    const auto expect = data::apply_eval_transform(
        data::decode_jpeg_file(dir_ / "images" / samples_[static_cast<size_t>(idx[k])].rel), {});
    EXPECT_TRUE(torch::equal(b.images[static_cast<int64_t>(k)], expect)) << "sample " << idx[k];
  }
  auto one = opts();
  one.threads = 1;
  data::ImageNetFolder f1(dir_ / "images", one);
  EXPECT_TRUE(torch::equal(f1.get(idx).images, b.images));
  EXPECT_EQ(f1.fingerprint(), f.fingerprint());
  EXPECT_EQ(f.source_size(0).width, samples_[0].w);
  EXPECT_EQ(f.spec(), "imagenet-folder:" + (dir_ / "images").string());
  EXPECT_THROW(f.get({7}), DataError);
  EXPECT_THROW(f.get({-1}), DataError);
}

TEST_F(ImageNetFolderTest, WnidLayoutWithoutLabelFile) {
  data::ImageNetFolderOptions o;
  o.num_classes = 10;
  data::ImageNetFolder f(dir_ / "images", o);
  ASSERT_EQ(f.size(), 7);
  // Sorted by (wnid, file name): class 0 holds img_0, img_3, img_6.
  EXPECT_EQ(f.relative_path(0), "n00000000/img_0.JPEG");
  EXPECT_EQ(f.relative_path(1), "n00000000/img_3.JPEG");
  EXPECT_EQ(f.relative_path(3), "n00000001/img_1.JPEG");
  EXPECT_EQ(f.label(3), 1);
  EXPECT_EQ(f.label(6), 2);
  o.num_classes = 2;
  EXPECT_THROW(data::ImageNetFolder(dir_ / "images", o), DataError);
}

TEST_F(ImageNetFolderTest, ValidationErrorsNameLabelFileAndLine) {
  const std::string lf = (dir_ / "labels.txt").string();
  auto msg = error_of("n00000000/img_0.JPEG 0\n\nn00000000/missing.JPEG 1\n");
  EXPECT_NE(msg.find(lf + "' line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing.JPEG"), std::string::npos) << msg;
  msg = error_of("n00000000/img_0.JPEG 0\nn00000001/img_1.JPEG 3\n");
  EXPECT_NE(msg.find(lf + "' line 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("outside [0, 3)"), std::string::npos) << msg;
  msg = error_of("n00000000/img_0.JPEG -1\n");
  EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
  msg = error_of("n00000000/img_0.JPEG zero\n");
  EXPECT_NE(msg.find("not an integer"), std::string::npos) << msg;
  msg = error_of("# only\nnolabel\n");
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  EXPECT_EQ(error_of("n00000000/img_0.JPEG 999\n", 1000), "") << "999 is in range";
  EXPECT_THROW(data::ImageNetFolder(dir_ / "nope", opts()), DataError);
}

TEST_F(ImageNetFolderTest, CorruptImageFailsInGetNamingIt) {
  const auto victim = dir_ / "images" / samples_[4].rel;
  const auto size = fs::file_size(victim);
  fs::resize_file(victim, size / 3);
  data::ImageNetFolder f(dir_ / "images", opts());
  EXPECT_NO_THROW(f.get({0, 1}));
  try {
    f.get({0, 4, 5});
    ADD_FAILURE() << "no error for a truncated image";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(victim.string()), std::string::npos) << e.what();
  }
}

TEST_F(ImageNetFolderTest, FingerprintFollowsFileListSizesAndLabels) {
  const auto fp = data::ImageNetFolder(dir_ / "images", opts()).fingerprint();
  EXPECT_EQ(fp.size(), 64u);
  auto changed = samples_;
  changed[2].label = 0;
  write_labels(dir_ / "labels.txt", changed);
  const auto fp_label = data::ImageNetFolder(dir_ / "images", opts()).fingerprint();
  EXPECT_NE(fp_label, fp);
  write_labels(dir_ / "labels.txt", samples_);
  EXPECT_EQ(data::ImageNetFolder(dir_ / "images", opts()).fingerprint(), fp);
  write_bytes(dir_ / "images" / samples_[1].rel, data::encode_jpeg(make_image(64, 64, 9), 50));
  EXPECT_NE(data::ImageNetFolder(dir_ / "images", opts()).fingerprint(), fp);
}

TEST(ParallelFor, RunsEveryIndexOnceAndRethrows) {
  std::vector<std::atomic<int>> hits(100);
  data::parallel_for(100, 4, [&](int64_t k) { hits[static_cast<size_t>(k)]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(data::parallel_for(50, 3,
                                  [](int64_t k) {
                                    if (k == 17) throw DataError("boom 17");
                                  }),
               DataError);
}

}  // namespace
}  // namespace sfb::test
