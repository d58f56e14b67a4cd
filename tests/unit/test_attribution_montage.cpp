// Montage PNG (issue 8): the PNG is read back with libpng and checked pixel by pixel against the
// inputs: layout and size, nearest-neighbour image cells, grey replicated to RGB, heat colours of
// an all-zero map, of the maximum and of a known ramp, white gaps, tEXt chunks; bad paths and bad
// shapes throw and leave no file.
#include <gtest/gtest.h>
#include <png.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "attribution/montage.hpp"
#include "core/error.hpp"

namespace sfb::attribution {
namespace {
namespace fs = std::filesystem;

using Rgb = std::array<uint8_t, 3>;

/// A decoded 8-bit RGB PNG.
struct Decoded {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> rgb;  // height·width·3
  Rgb at(int64_t y, int64_t x) const {
    const uint8_t* p = rgb.data() + (y * width + x) * 3;
    return {p[0], p[1], p[2]};
  }
};

/// Pixels through libpng's simplified read API.
Decoded read_pixels(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "cannot read " << path << ": " << image.message;
    return {};
  }
  image.format = PNG_FORMAT_RGB;
  Decoded d;
  d.width = image.width;
  d.height = image.height;
  d.rgb.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, d.rgb.data(), 0, nullptr)) {
    ADD_FAILURE() << "cannot decode " << path << ": " << image.message;
    png_image_free(&image);
    return {};
  }
  return d;
}

/// Header and tEXt chunks through the classic png_struct read API.
struct Header {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int color_type = 0;
  std::map<std::string, std::string> text;
};

struct ReadState {
  std::FILE* file;
  png_structp png;
  png_infop info;
};

/// Only plain data lives in this frame across libpng's longjmp; `out` belongs to the caller.
bool read_header(const char* path, Header* out) {
  ReadState st{};
  st.file = std::fopen(path, "rb");
  if (st.file == nullptr) return false;
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  st.info = st.png != nullptr ? png_create_info_struct(st.png) : nullptr;
  if (st.png == nullptr || st.info == nullptr || setjmp(png_jmpbuf(st.png))) {
    png_destroy_read_struct(&st.png, &st.info, nullptr);
    std::fclose(st.file);
    return false;
  }
  png_init_io(st.png, st.file);
  png_read_info(st.png, st.info);
  out->width = png_get_image_width(st.png, st.info);
  out->height = png_get_image_height(st.png, st.info);
  out->bit_depth = png_get_bit_depth(st.png, st.info);
  out->color_type = png_get_color_type(st.png, st.info);
  png_textp text = nullptr;
  const int n = png_get_text(st.png, st.info, &text, nullptr);
  for (int i = 0; i < n; ++i)
    out->text[text[i].key] = std::string(text[i].text, text[i].text_length);
  png_destroy_read_struct(&st.png, &st.info, nullptr);
  std::fclose(st.file);
  return true;
}

/// The colour map written independently of heat_colour(): black → red → yellow → white.
Rgb expected_heat(double t) {
  t = std::min(std::max(t, 0.0), 1.0);
  auto ch = [&](double v) {
    return static_cast<uint8_t>(std::lround(255.0 * std::min(std::max(v, 0.0), 1.0)));
  };
  return {ch(3 * t), ch(3 * t - 1), ch(3 * t - 2)};
}

class MontageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sfb_montage_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

constexpr int64_t kSide = 8;
constexpr int64_t kScale = 3;  // min_cell 24 over 8×8 images
constexpr int64_t kCell = kSide * kScale;
constexpr int64_t kGap = 2;

MontageOptions options() {
  MontageOptions o;
  o.min_cell = 24;
  o.gap = kGap;
  o.clip_quantile = 0.99;
  return o;
}

/// Top-left pixel of cell (row, col).
int64_t origin(int64_t i) { return i * (kCell + kGap); }

TEST(MontageHeatColour, RampEnds) {
  EXPECT_EQ(heat_colour(0.0), (Rgb{0, 0, 0}));
  EXPECT_EQ(heat_colour(1.0 / 3.0), (Rgb{255, 0, 0}));
  EXPECT_EQ(heat_colour(2.0 / 3.0), (Rgb{255, 255, 0}));
  EXPECT_EQ(heat_colour(1.0), (Rgb{255, 255, 255}));
  EXPECT_EQ(heat_colour(7.0), heat_colour(1.0));
  EXPECT_EQ(heat_colour(-1.0), heat_colour(0.0));
  EXPECT_EQ(heat_colour(std::nan("")), heat_colour(0.0));
  for (double t : {0.1, 0.25, 0.5, 0.8, 0.95}) EXPECT_EQ(heat_colour(t), expected_heat(t)) << t;
}

TEST_F(MontageTest, LayoutPixelsAndText) {
  torch::manual_seed(3);
  const torch::Tensor images = torch::rand({2, 3, kSide, kSide});
  // Method "zero-and-peak": image 0 all zero, image 1 random with one clear maximum (negative, so
  // |a| matters) at (5, 2).
  torch::Tensor peak = torch::zeros({2, kSide, kSide});
  peak[1] = torch::rand({kSide, kSide}) * 0.5;
  peak[1][5][2] = -3.0;
  // Method "ramp": a[i] = i over the 64 pixels (row-major), negated for image 1; the 0.99 quantile
  // of |a| is 0.99·63 = 62.37 (linear interpolation).
  torch::Tensor ramp = torch::arange(kSide * kSide, torch::kFloat64).reshape({1, kSide, kSide});
  ramp = torch::cat({ramp, -ramp});
  const std::vector<std::string> names{"zero-and-peak", "ramp"};
  const std::vector<std::string> rows{"index 0, label 1, pred 1", "index 5, label 2, pred 0"};
  const std::string path = (dir_ / "m.png").string();
  write_montage(path, images, {peak, ramp}, names, rows, options());

  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const Decoded d = read_pixels(path);
  ASSERT_EQ(d.width, 3 * kCell + 2 * kGap);  // 76
  ASSERT_EQ(d.height, 2 * kCell + kGap);     // 50

  // Image cells: nearest-neighbour copies of round(255·x), every pixel.
  const auto ia = images.accessor<float, 4>();
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t y = 0; y < kCell; ++y) {
      for (int64_t x = 0; x < kCell; ++x) {
        Rgb want{};
        for (int c = 0; c < 3; ++c) {
          want[c] = static_cast<uint8_t>(
              std::lround(255.0 * static_cast<double>(ia[r][c][y / kScale][x / kScale])));
        }
        ASSERT_EQ(d.at(origin(r) + y, x), want) << "image " << r << " at " << y << "," << x;
      }
    }
  }
  // All-zero map: the colour map at 0 everywhere.
  for (int64_t y = 0; y < kCell; ++y) {
    for (int64_t x = 0; x < kCell; ++x) {
      ASSERT_EQ(d.at(origin(0) + y, origin(1) + x), expected_heat(0.0)) << y << "," << x;
    }
  }
  // The maximum of |a| is above the 0.99 quantile: the colour map at 1 over its whole s×s block,
  // and the block next to it is darker.
  for (int64_t dy = 0; dy < kScale; ++dy) {
    for (int64_t dx = 0; dx < kScale; ++dx) {
      EXPECT_EQ(d.at(origin(1) + 5 * kScale + dy, origin(1) + 2 * kScale + dx), expected_heat(1.0));
    }
  }
  EXPECT_NE(d.at(origin(1) + 5 * kScale, origin(1) + 3 * kScale), expected_heat(1.0));
  // Ramp: every source pixel i shows min(1, i / 62.37), for +a and −a alike.
  const double q = 0.99 * 63.0;
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t i = 0; i < kSide * kSide; ++i) {
      const int64_t y = origin(r) + (i / kSide) * kScale + 1;
      const int64_t x = origin(2) + (i % kSide) * kScale + 2;
      ASSERT_EQ(d.at(y, x), expected_heat(static_cast<double>(i) / q))
          << "image " << r << " i " << i;
    }
  }
  // Gaps are white: the two vertical bands and the horizontal band.
  const Rgb white{255, 255, 255};
  for (int64_t y = 0; y < d.height; ++y) {
    for (int64_t g = 0; g < kGap; ++g) {
      ASSERT_EQ(d.at(y, kCell + g), white) << y;
      ASSERT_EQ(d.at(y, 2 * kCell + kGap + g), white) << y;
    }
  }
  for (int64_t x = 0; x < d.width; ++x) {
    for (int64_t g = 0; g < kGap; ++g) ASSERT_EQ(d.at(kCell + g, x), white) << x;
  }

  // 8-bit RGB without alpha, and the tEXt chunks.
  Header h;
  ASSERT_TRUE(read_header(path.c_str(), &h));
  EXPECT_EQ(h.width, 76u);
  EXPECT_EQ(h.height, 50u);
  EXPECT_EQ(h.bit_depth, 8);
  EXPECT_EQ(h.color_type, PNG_COLOR_TYPE_RGB);
  EXPECT_EQ(h.text["Software"], "sfbench");
  EXPECT_EQ(h.text["sfbench:columns"], "image,zero-and-peak,ramp");
  EXPECT_EQ(h.text["sfbench:rows"], "index 0, label 1, pred 1; index 5, label 2, pred 0");
  EXPECT_NE(h.text["sfbench:normalization"].find("0.99 quantile"), std::string::npos);
  EXPECT_NE(h.text["sfbench:colormap"].find("3t - 1"), std::string::npos);
  EXPECT_NE(h.text["sfbench:layout"].find("upscale 3"), std::string::npos);
  // q per cell: zero map 0, peak map 0.99 quantile of its |a|, ramp 62.37 twice.
  const std::string scales = h.text["sfbench:scales"];
  EXPECT_EQ(scales.substr(0, scales.find(',')), "0");
  EXPECT_NE(scales.find(",62.37;"), std::string::npos) << scales;
  EXPECT_EQ(scales.substr(scales.size() - 6), ",62.37") << scales;
}

TEST_F(MontageTest, GreyReplicatedAndAnyDtype) {
  torch::manual_seed(5);
  const torch::Tensor grey = torch::rand({1, 1, kSide, kSide}, torch::kFloat64);
  const torch::Tensor map = torch::rand({1, kSide, kSide}, torch::kFloat16);
  const std::string path = (dir_ / "grey.png").string();
  write_montage(path, grey, {map}, {"saliency"}, {"index 3, label 0, pred 0"}, options());
  const Decoded d = read_pixels(path);
  ASSERT_EQ(d.width, 2 * kCell + kGap);
  ASSERT_EQ(d.height, kCell);
  const auto ga = grey.accessor<double, 4>();
  for (int64_t y = 0; y < kCell; y += 2) {
    for (int64_t x = 0; x < kCell; x += 2) {
      const auto v = static_cast<uint8_t>(std::lround(255.0 * ga[0][0][y / kScale][x / kScale]));
      ASSERT_EQ(d.at(y, x), (Rgb{v, v, v})) << y << "," << x;
    }
  }
}

TEST_F(MontageTest, ScaleAtLeastOneAndReplacesExistingFile) {
  // 8×8 images with min_cell 5: s = 1; an existing file is replaced.
  const std::string path = (dir_ / "small.png").string();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("old", f);
    std::fclose(f);
  }
  MontageOptions o = options();
  o.min_cell = 5;
  o.gap = 0;
  write_montage(path, torch::full({1, 3, kSide, kSide}, 1.0), {torch::ones({1, kSide, kSide})},
                {"m"}, {"r"}, o);
  const Decoded d = read_pixels(path);
  EXPECT_EQ(d.width, 2 * kSide);
  EXPECT_EQ(d.height, kSide);
  EXPECT_EQ(d.at(0, 0), (Rgb{255, 255, 255}));
  EXPECT_EQ(d.at(3, kSide + 3), expected_heat(1.0));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(MontageTest, UnwritablePathThrowsIoErrorAndLeavesNoFile) {
  const std::string path = (dir_ / "no-such-dir" / "m.png").string();
  try {
    write_montage(path, torch::rand({1, 3, kSide, kSide}), {torch::rand({1, kSide, kSide})}, {"m"},
                  {"r"}, options());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(MontageTest, BadShapesAndCountsThrowConfigError) {
  const std::string path = (dir_ / "bad.png").string();
  const torch::Tensor img = torch::rand({2, 3, kSide, kSide});
  const torch::Tensor map = torch::rand({2, kSide, kSide});
  const std::vector<std::string> rows{"a", "b"};
  const MontageOptions o = options();
  // Map of the wrong size, wrong K, wrong rank.
  EXPECT_THROW(write_montage(path, img, {torch::rand({2, kSide, kSide + 1})}, {"m"}, rows, o),
               ConfigError);
  EXPECT_THROW(write_montage(path, img, {torch::rand({3, kSide, kSide})}, {"m"}, rows, o),
               ConfigError);
  EXPECT_THROW(write_montage(path, img, {torch::rand({2, 3, kSide, kSide})}, {"m"}, rows, o),
               ConfigError);
  // Names and row labels that do not match.
  EXPECT_THROW(write_montage(path, img, {map}, {"m", "n"}, rows, o), ConfigError);
  EXPECT_THROW(write_montage(path, img, {map}, {"m"}, {"a"}, o), ConfigError);
  // No images, two channels, not [K, C, H, W], integer images.
  EXPECT_THROW(write_montage(path, torch::rand({0, 3, kSide, kSide}), {}, {}, {}, o), ConfigError);
  EXPECT_THROW(write_montage(path, torch::rand({2, 2, kSide, kSide}), {map}, {"m"}, rows, o),
               ConfigError);
  EXPECT_THROW(write_montage(path, torch::rand({3, kSide, kSide}), {map}, {"m"}, rows, o),
               ConfigError);
  EXPECT_THROW(
      write_montage(path, torch::ones({2, 3, kSide, kSide}, torch::kUInt8), {map}, {"m"}, rows, o),
      ConfigError);
  // Options out of range.
  MontageOptions bad = o;
  bad.clip_quantile = 0.0;
  EXPECT_THROW(write_montage(path, img, {map}, {"m"}, rows, bad), ConfigError);
  bad = o;
  bad.gap = -1;
  EXPECT_THROW(write_montage(path, img, {map}, {"m"}, rows, bad), ConfigError);
  // The message says what is wrong.
  try {
    write_montage(path, img, {torch::rand({2, kSide, kSide + 1})}, {"saliency"}, rows, o);
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("saliency"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(MontageTest, ImagesOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(7);
  const torch::Tensor images = torch::rand({1, 3, kSide, kSide});
  const torch::Tensor map = torch::rand({1, kSide, kSide});
  const std::string cpu = (dir_ / "cpu.png").string(), gpu = (dir_ / "gpu.png").string();
  write_montage(cpu, images, {map}, {"m"}, {"r"}, options());
  write_montage(gpu, images.cuda(), {map.cuda()}, {"m"}, {"r"}, options());
  EXPECT_EQ(read_pixels(cpu).rgb, read_pixels(gpu).rgb);
}

}  // namespace
}  // namespace sfb::attribution
