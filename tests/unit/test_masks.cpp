// MaskedDataset with PNG masks: by image path over an ImageNetFolder (same geometry as the images),
// by index over a dataset already at output size; size mismatch and empty masks name the culprit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.hpp"
#include "data/image_fixtures.hpp"
#include "data/imagenet_folder.hpp"
#include "data/masks.hpp"

namespace sfb::test {
namespace {
namespace fs = std::filesystem;

// A dataset of n gray 32x32 images (value = index / 100), labels = index % 2.
class TinyDataset : public data::Dataset {
 public:
  explicit TinyDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return 2; }
  std::vector<int64_t> image_shape() const override { return {3, 32, 32}; }
  data::Batch get(const std::vector<int64_t>& indices) const override {
    data::Batch b;
    b.index = torch::tensor(indices, torch::kInt64);
    b.labels = b.index.remainder(2);
    b.images = (b.index.to(torch::kFloat32) / 100)
                   .view({-1, 1, 1, 1})
                   .expand({-1, 3, 32, 32})
                   .contiguous();
    return b;
  }
  std::string spec() const override { return "tiny"; }
  std::string fingerprint() const override { return "tiny"; }

 private:
  int64_t n_;
};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(PngMask, BinarizesAnyNonZeroPixel) {
  const auto dir = temp_dir("png_bin");
  auto m = torch::zeros({5, 7}, torch::kUInt8);
  m[1][2] = 1;
  m[4][6] = 255;
  data::write_png_gray(dir / "m.png", m);
  const auto r = data::read_png_mask(dir / "m.png");
  EXPECT_TRUE(torch::equal(r, (m > 0).to(torch::kUInt8)));
  write_bytes(dir / "bad.png", "not a png");
  EXPECT_NE(error_of([&] { data::read_png_mask(dir / "bad.png"); }).find("bad.png"),
            std::string::npos);
  EXPECT_NE(error_of([&] { data::read_png_mask(dir / "none.png"); }).find("none.png"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(MaskedDataset, PngByPathFollowsTheImageGeometry) {
  const auto dir = temp_dir("mask_path");
  const auto samples = write_folder(dir / "images", 3, 2);
  write_labels(dir / "labels.txt", samples);
  data::ImageNetFolderOptions o;
  o.label_file = dir / "labels.txt";
  auto folder = std::make_shared<data::ImageNetFolder>(dir / "images", o);
  std::vector<torch::Tensor> raw;
  for (const auto& s : samples) {
    auto m = torch::zeros({s.h, s.w}, torch::kUInt8);
    m.narrow(0, s.h / 4, s.h / 2).narrow(1, s.w / 3, s.w / 3).fill_(200);
    fs::path p = dir / "masks" / s.rel;
    fs::create_directories(p.parent_path());
    data::write_png_gray(p.replace_extension(".png"), m);
    raw.push_back(m);
  }
  data::MaskedDataset md(folder, {data::MaskSource::Kind::kPngFolder, dir / "masks", false});
  EXPECT_TRUE(md.has_masks());
  const auto b = md.get({2, 0});
  ASSERT_EQ(b.masks.sizes(), (std::vector<int64_t>{2, 1, 224, 224}));
  EXPECT_TRUE(torch::equal(b.images, folder->get({2, 0}).images));
  for (int64_t k = 0; k < 2; ++k) {
    const int64_t i = k == 0 ? 2 : 0;
    const auto expect = data::apply_eval_geometry_nearest(
        (raw[static_cast<size_t>(i)] > 0).to(torch::kUInt8).unsqueeze(0), {});
    EXPECT_TRUE(torch::equal(b.masks[k], expect)) << "sample " << i;
    EXPECT_TRUE(((b.masks[k] == 0) | (b.masks[k] == 1)).all().item<bool>());
  }
  EXPECT_NE(md.fingerprint(), folder->fingerprint());

  // Size mismatch: names the mask file and both sizes.
  const fs::path bad = dir / "masks" / fs::path(samples[1].rel).replace_extension(".png");
  data::write_png_gray(bad, torch::ones({10, 12}, torch::kUInt8));
  auto msg = error_of([&] { md.get({1}); });
  EXPECT_NE(msg.find(bad.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("10x12"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(samples[1].h) + "x" + std::to_string(samples[1].w)),
            std::string::npos)
      << msg;

  // Foreground only in a corner that the center crop removes: empty after the crop.
  auto corner = torch::zeros({samples[1].h, samples[1].w}, torch::kUInt8);
  corner[0][0] = 1;
  data::write_png_gray(bad, corner);
  msg = error_of([&] { md.get({1}); });
  EXPECT_NE(msg.find("sample 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  fs::remove(bad);
  msg = error_of([&] { md.get({1}); });
  EXPECT_NE(msg.find(bad.string()), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(MaskedDataset, PngByIndexOverOutputSizedDataset) {
  const auto dir = temp_dir("mask_index");
  auto base = std::make_shared<TinyDataset>(4);
  for (int64_t i = 0; i < 4; ++i) {
    auto m = torch::zeros({32, 32}, torch::kUInt8);
    m.narrow(0, i, 5).narrow(1, 2 * i, 3).fill_(1);
    data::write_png_gray(dir / (std::to_string(i) + ".png"), m);
  }
  data::MaskedDataset md(base, {data::MaskSource::Kind::kPngFolder, dir, true});
  const auto b = md.get({3, 1});
  ASSERT_EQ(b.masks.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
  EXPECT_EQ(b.masks[0].sum().item<float>(), 15.0f);
  EXPECT_EQ(b.masks[0][0][3][6].item<float>(), 1.0f);
  EXPECT_EQ(b.masks[0][0][2][6].item<float>(), 0.0f);
  EXPECT_EQ(b.labels[0].item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(b.images, base->get({3, 1}).images));

  data::write_png_gray(dir / "2.png", torch::zeros({32, 32}, torch::kUInt8));
  auto msg = error_of([&] { md.get({2}); });
  EXPECT_NE(msg.find("sample 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  data::write_png_gray(dir / "0.png", torch::ones({31, 32}, torch::kUInt8));
  msg = error_of([&] { md.get({0}); });
  EXPECT_NE(msg.find("31x32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("32x32"), std::string::npos) << msg;
  // Naming by path needs an ImageNetFolder base.
  EXPECT_THROW(data::MaskedDataset(base, {data::MaskSource::Kind::kPngFolder, dir, false}),
               DataError);
  EXPECT_THROW(data::MaskedDataset(base, {data::MaskSource::Kind::kPngFolder, dir / "x", true}),
               DataError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sfb::test
