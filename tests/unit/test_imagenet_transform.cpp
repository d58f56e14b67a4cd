// The ImageNet eval transform (Resize(256) + CenterCrop(224)) against torchvision's arithmetic and
// against torch's own antialiased bilinear interpolate run from Python (an independent process).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "core/error.hpp"
#include "data/image_fixtures.hpp"
#include "data/imagenet_transform.hpp"

namespace sfb::test {
namespace {
namespace fs = std::filesystem;

TEST(EvalGeometry, MatchesTorchvisionArithmetic) {
  const data::EvalTransform t;
  // 500 wide x 375 high: short side h -> 256, w = int(256 * 500 / 375) = 341;
  // left = round(117 / 2) = round(58.5) = 58 (half to even), top = 16.
  auto g = data::eval_geometry({375, 500}, t);
  EXPECT_EQ(g.resized_height, 256);
  EXPECT_EQ(g.resized_width, 341);
  EXPECT_EQ(g.top, 16);
  EXPECT_EQ(g.left, 58);
  // Portrait 333 x 500 (h x w, w short): w = 256, h = int(256 * 333 / 500)... w is longer here.
  g = data::eval_geometry({500, 333}, t);
  EXPECT_EQ(g.resized_width, 256);
  EXPECT_EQ(g.resized_height, 384);  // int(256 * 500 / 333) = int(384.38)
  EXPECT_EQ(g.top, 80);
  EXPECT_EQ(g.left, 16);
  // 257 x 411: w = int(256 * 411 / 257) = int(409.40) = 409; left = round(92.5) = 92.
  g = data::eval_geometry({257, 411}, t);
  EXPECT_EQ(g.resized_width, 409);
  EXPECT_EQ(g.left, 92);
  // 300 x 499: w = int(425.81) = 425, left = round(100.5) = 100 (half to even).
  g = data::eval_geometry({300, 499}, t);
  EXPECT_EQ(g.resized_width, 425);
  EXPECT_EQ(g.left, 100);
  // 300 x 501: w = int(427.52) = 427, left = round(101.5) = 102 (half to even).
  g = data::eval_geometry({300, 501}, t);
  EXPECT_EQ(g.resized_width, 427);
  EXPECT_EQ(g.left, 102);
  EXPECT_THROW(data::eval_geometry({0, 10}, t), DataError);
}

TEST(EvalTransform, OutputShapeRangeAndConstantImage) {
  const data::EvalTransform t;
  auto flat = torch::full({3, 375, 500}, 77, torch::kUInt8);
  auto out = data::apply_eval_transform(flat, t);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, 224, 224}));
  EXPECT_EQ(out.scalar_type(), torch::kFloat32);
  EXPECT_LE((out - 77.0f / 255.0f).abs().max().item<float>(), 1e-6f);
  EXPECT_TRUE(torch::equal(data::quantize_u8(out), flat.narrow(1, 0, 224).narrow(2, 0, 224)));
}

TEST(EvalTransform, MatchesPythonTorchReference) {
  const std::string python = SFB_TEST_PYTHON;
  if (python.empty() || !fs::exists(python)) GTEST_SKIP() << "no Python with torch configured";
  const auto dir = temp_dir("transform_ref");
  const std::vector<std::pair<int64_t, int64_t>> sizes{{375, 500}, {500, 375}, {300, 300},
                                                       {257, 411}, {300, 501}, {1024, 683}};
  std::ofstream script(dir / "ref.py");
  script << R"PY(
import sys, torch, torch.nn.functional as F
d = sys.argv[1]
for line in open(d + "/sizes.txt"):
    i, h, w = map(int, line.split())
    x = torch.frombuffer(bytearray(open(f"{d}/in_{i}.raw", "rb").read()), dtype=torch.uint8)
    x = x.reshape(1, 3, h, w).float() / 255.0
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nh, nw = 256, int(256 * w / h)
    y = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    y = y[0, :, top:top + 224, left:left + 224].contiguous()
    open(f"{d}/out_{i}.raw", "wb").write(y.numpy().tobytes())
)PY";
  script.close();
  std::ofstream list(dir / "sizes.txt");
  std::vector<torch::Tensor> inputs;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto img = make_image(sizes[i].first, sizes[i].second, 7 + i);
    inputs.push_back(img);
    write_bytes(dir / ("in_" + std::to_string(i) + ".raw"),
                std::string(reinterpret_cast<const char*>(img.data_ptr<uint8_t>()),
                            static_cast<size_t>(img.numel())));
    list << i << " " << sizes[i].first << " " << sizes[i].second << "\n";
  }
  list.close();
  const std::string cmd =
      "'" + python + "' '" + (dir / "ref.py").string() + "' '" + dir.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::ifstream in(dir / ("out_" + std::to_string(i) + ".raw"), std::ios::binary);
    auto ref = torch::empty({3, 224, 224}, torch::kFloat32);
    in.read(reinterpret_cast<char*>(ref.data_ptr<float>()),
            static_cast<std::streamsize>(ref.numel() * 4));
    ASSERT_TRUE(in) << "reference output " << i << " is short";
    const auto out = data::apply_eval_transform(inputs[i], data::EvalTransform{});
    EXPECT_LE((out - ref).abs().max().item<float>(), 1e-5f)
        << "size " << sizes[i].first << "x" << sizes[i].second;
  }
  fs::remove_all(dir);
}

TEST(EvalTransform, NearestGeometryMovesMaskWithImage) {
  // A mask equal to a binary image must land exactly where the (flat-region) image does: use an
  // image that is 1 on a block and 0 elsewhere; the nearest-resized mask covers the block's centre.
  auto mask = torch::zeros({1, 375, 500}, torch::kUInt8);
  mask.narrow(1, 100, 100).narrow(2, 200, 100).fill_(1);
  const auto m = data::apply_eval_geometry_nearest(mask, data::EvalTransform{});
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{1, 224, 224}));
  // Rows 100..199 of 375 -> ~68..136 of 256 -> minus top 16 -> 52..120; cols 200..299 of 500
  // -> ~136..204 of 341 -> minus left 58 -> 78..146.
  EXPECT_EQ(m[0][86][112].item<float>(), 1.0f);
  EXPECT_EQ(m[0][10][10].item<float>(), 0.0f);
  const auto img =
      data::apply_eval_transform(mask.expand({3, 375, 500}) * 255, data::EvalTransform{});
  // Where the mask is 1 well inside the block, the image is 1 too.
  EXPECT_NEAR(img[0][86][112].item<float>(), 1.0f, 1e-6);
  const float area = m.sum().item<float>();
  EXPECT_NEAR(area, 68.0f * 68.0f, 300.0f);
}

}  // namespace
}  // namespace sfb::test
