// Montage PNG (issues 8 and 23): the PNG is read back with libpng and checked pixel by pixel
// against the inputs: layout and size, nearest-neighbour image cells, grey replicated to RGB, heat
// colours of an all-zero map, of the maximum and of a known ramp, white gaps, tEXt chunks; the
// visible labels (column names in the header band, row labels above the rows: black font pixels
// where the glyphs have them, white elsewhere); montage_png() bytes equal the file's and decode,
// without images it has the method columns only; the bitmap font's table; bad paths and bad
// shapes throw and leave no file.
#include <gtest/gtest.h>
#include <png.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "attribution/detail/bitmap_font.hpp"
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

/// Pixels of a begun read through libpng's simplified read API.
Decoded finish_read(png_image& image, const std::string& what) {
  image.format = PNG_FORMAT_RGB;
  Decoded d;
  d.width = image.width;
  d.height = image.height;
  d.rgb.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, d.rgb.data(), 0, nullptr)) {
    ADD_FAILURE() << "cannot decode " << what << ": " << image.message;
    png_image_free(&image);
    return {};
  }
  return d;
}

Decoded read_pixels(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "cannot read " << path << ": " << image.message;
    return {};
  }
  return finish_read(image, path);
}

Decoded decode(const std::vector<uint8_t>& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    ADD_FAILURE() << "cannot read the PNG bytes: " << image.message;
    return {};
  }
  return finish_read(image, "the PNG bytes");
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) out.push_back(static_cast<uint8_t>(c));
  std::fclose(f);
  return out;
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
// Label bands at font scale 1 (cells narrower than 224 px): the header holds two lines when a
// column name is wider than its cell (every name is wider than 24 px = 4 characters), each row a
// one-line band above its cells.
constexpr int64_t kHead = 3 + 10 * 2;
constexpr int64_t kBand = 13;

MontageOptions options() {
  MontageOptions o;
  o.min_cell = 24;
  o.gap = kGap;
  o.clip_quantile = 0.99;
  return o;
}

/// Left and top pixel of the cells of column i and of row i.
int64_t origin(int64_t i) { return i * (kCell + kGap); }
int64_t row_top(int64_t i) { return kHead + i * (kBand + kCell + kGap) + kBand; }

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
  ASSERT_EQ(d.width, 3 * kCell + 2 * kGap);                 // 76
  ASSERT_EQ(d.height, kHead + 2 * (kBand + kCell) + kGap);  // 99

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
        ASSERT_EQ(d.at(row_top(r) + y, x), want) << "image " << r << " at " << y << "," << x;
      }
    }
  }
  // All-zero map: the colour map at 0 everywhere.
  for (int64_t y = 0; y < kCell; ++y) {
    for (int64_t x = 0; x < kCell; ++x) {
      ASSERT_EQ(d.at(row_top(0) + y, origin(1) + x), expected_heat(0.0)) << y << "," << x;
    }
  }
  // The maximum of |a| is above the 0.99 quantile: the colour map at 1 over its whole s×s block,
  // and the block next to it is darker.
  for (int64_t dy = 0; dy < kScale; ++dy) {
    for (int64_t dx = 0; dx < kScale; ++dx) {
      EXPECT_EQ(d.at(row_top(1) + 5 * kScale + dy, origin(1) + 2 * kScale + dx),
                expected_heat(1.0));
    }
  }
  EXPECT_NE(d.at(row_top(1) + 5 * kScale, origin(1) + 3 * kScale), expected_heat(1.0));
  // Ramp: every source pixel i shows min(1, i / 62.37), for +a and −a alike.
  const double q = 0.99 * 63.0;
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t i = 0; i < kSide * kSide; ++i) {
      const int64_t y = row_top(r) + (i / kSide) * kScale + 1;
      const int64_t x = origin(2) + (i % kSide) * kScale + 2;
      ASSERT_EQ(d.at(y, x), expected_heat(static_cast<double>(i) / q))
          << "image " << r << " i " << i;
    }
  }
  // Gaps are white: the two vertical bands beside the cells and the band between the rows.
  const Rgb white{255, 255, 255};
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t y = row_top(r); y < row_top(r) + kCell; ++y) {
      for (int64_t g = 0; g < kGap; ++g) {
        ASSERT_EQ(d.at(y, kCell + g), white) << y;
        ASSERT_EQ(d.at(y, 2 * kCell + kGap + g), white) << y;
      }
    }
  }
  for (int64_t x = 0; x < d.width; ++x) {
    for (int64_t g = 0; g < kGap; ++g) ASSERT_EQ(d.at(row_top(0) + kCell + g, x), white) << x;
  }

  // 8-bit RGB without alpha, and the tEXt chunks.
  Header h;
  ASSERT_TRUE(read_header(path.c_str(), &h));
  EXPECT_EQ(h.width, 76u);
  EXPECT_EQ(h.height, 99u);
  EXPECT_EQ(h.bit_depth, 8);
  EXPECT_EQ(h.color_type, PNG_COLOR_TYPE_RGB);
  EXPECT_EQ(h.text["Software"], "sfbench");
  EXPECT_EQ(h.text["sfbench:columns"], "image,zero-and-peak,ramp");
  EXPECT_EQ(h.text["sfbench:rows"], "index 0, label 1, pred 1; index 5, label 2, pred 0");
  EXPECT_NE(h.text["sfbench:normalization"].find("0.99 quantile"), std::string::npos);
  EXPECT_NE(h.text["sfbench:colormap"].find("3t - 1"), std::string::npos);
  EXPECT_NE(h.text["sfbench:layout"].find("upscale 3"), std::string::npos);
  EXPECT_NE(h.text["sfbench:layout"].find("a 23 px header band"), std::string::npos);
  EXPECT_NE(h.text["sfbench:layout"].find("a 13 px band with the row label"), std::string::npos);
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
  ASSERT_EQ(d.height, kHead + kBand + kCell);
  const auto ga = grey.accessor<double, 4>();
  for (int64_t y = 0; y < kCell; y += 2) {
    for (int64_t x = 0; x < kCell; x += 2) {
      const auto v = static_cast<uint8_t>(std::lround(255.0 * ga[0][0][y / kScale][x / kScale]));
      ASSERT_EQ(d.at(row_top(0) + y, x), (Rgb{v, v, v})) << y << "," << x;
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
  EXPECT_EQ(d.height, kHead + kBand + kSide);
  EXPECT_EQ(d.at(kHead + kBand, 0), (Rgb{255, 255, 255}));
  EXPECT_EQ(d.at(kHead + kBand + 3, kSide + 3), expected_heat(1.0));
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

/// What draw_text() paints for `text` at scale f: the set bits of its glyphs, f² pixels each.
int64_t ink(const std::string& text, int64_t f) {
  int64_t n = 0;
  for (const char c : text) {
    for (const uint8_t row : detail::glyph(c))
      n += static_cast<int64_t>(std::bitset<8>(row).count());
  }
  return n * f * f;
}

/// The pixels of [x0, x1) × [y0, y1): how many are black (the labels' ink), white, or neither,
/// and the columns and rows the black ones span.
struct Region {
  int64_t black = 0, white = 0, other = 0;
  int64_t x_min = INT64_MAX, x_max = -1, y_min = INT64_MAX, y_max = -1;
};

Region scan(const Decoded& d, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  Region r;
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) {
      const Rgb p = d.at(y, x);
      if (p == Rgb{0, 0, 0}) {
        ++r.black;
        r.x_min = std::min(r.x_min, x), r.x_max = std::max(r.x_max, x);
        r.y_min = std::min(r.y_min, y), r.y_max = std::max(r.y_max, y);
      } else if (p == Rgb{255, 255, 255}) {
        ++r.white;
      } else {
        ++r.other;
      }
    }
  }
  return r;
}

TEST(MontageFont, GlyphsAreDistinctAndTextIsAscii) {
  std::set<std::array<uint8_t, detail::kGlyphHeight>> seen;
  for (int c = 33; c <= 126; ++c) {
    const auto& g = detail::glyph(static_cast<char>(c));
    EXPECT_GT(ink(std::string(1, static_cast<char>(c)), 1), 0) << "blank glyph " << c;
    for (const uint8_t row : g) EXPECT_LT(row, 1 << detail::kGlyphWidth) << c;
    EXPECT_TRUE(seen.insert(g).second) << "glyph of '" << static_cast<char>(c) << "' repeats";
  }
  EXPECT_EQ(ink(" ", 1), 0);
  EXPECT_EQ(detail::glyph('\x7f'), detail::glyph('?'));
  EXPECT_EQ(detail::glyph('\n'), detail::glyph('?'));
  EXPECT_EQ(detail::font_text("a\xce\xb5 b\n~"), "a? b?~");  // ε is one character: one '?'
  EXPECT_EQ(detail::fit_text("abcdef", 4), "ab..");
  EXPECT_EQ(detail::fit_text("abcd", 4), "abcd");
  EXPECT_EQ(detail::text_width(3, 2), 34);
  EXPECT_EQ(detail::text_width(0, 2), 0);
}

TEST_F(MontageTest, ColumnNamesAndRowLabelsAreDrawn) {
  // 8×8 images at min_cell 224: s = 28, cells 224 px, font scale f = 2 (18 characters a cell).
  constexpr int64_t f = 2, cell = 224, gap = 2;
  MontageOptions o = options();
  o.min_cell = cell;
  o.gap = gap;
  torch::manual_seed(9);
  const torch::Tensor images = torch::rand({2, 1, kSide, kSide});
  const std::vector<torch::Tensor> maps = {torch::rand({2, kSide, kSide}),
                                           torch::rand({2, kSide, kSide})};
  const std::vector<std::string> names = {"saliency", "integrated-gradients"};
  const std::vector<std::string> rows = {"index 17, label 3, pred 3",
                                         "index 4, label \xce\xb5, pred 0"};
  const std::string path = (dir_ / "labels.png").string();
  write_montage(path, images, maps, names, rows, o);
  const Decoded d = read_pixels(path);
  // "integrated-gradients" (20 characters) takes two header lines: the header is (3 + 20)f high.
  const int64_t head = 23 * f, band = 13 * f;
  ASSERT_EQ(d.width, 3 * cell + 2 * gap);
  ASSERT_EQ(d.height, head + 2 * (band + cell) + gap);

  // Header: each column's name, in black, centred over the column; nothing else but white.
  const std::vector<std::vector<std::string>> lines = {
      {"image"}, {"saliency"}, {"integrated-", "gradients"}};
  for (int64_t c = 0; c < 3; ++c) {
    const int64_t x0 = c * (cell + gap);
    const Region r = scan(d, x0, 0, x0 + cell, head);
    int64_t want = 0;
    for (const auto& l : lines[c]) want += ink(l, f);
    EXPECT_EQ(r.black, want) << "column " << c;
    EXPECT_EQ(r.other, 0) << "column " << c;
    EXPECT_NEAR((r.x_min + r.x_max) / 2.0, x0 + cell / 2.0, 6.0 * f) << "column " << c;
    EXPECT_GE(r.y_min, 2 * f);
    EXPECT_LT(r.y_max, head);
    if (c < 2) {
      EXPECT_EQ(scan(d, x0 + cell, 0, x0 + cell + gap, head).black, 0);
    }
  }
  // The second line of the long name sits 10f lower than the first.
  const Region second = scan(d, 2 * (cell + gap), 12 * f, 3 * cell + 2 * gap, head);
  EXPECT_EQ(second.black, ink("gradients", f));

  // Row bands: the label, left-aligned, black on white; non-ASCII drawn as '?'.
  const std::vector<std::string> drawn = {"index 17, label 3, pred 3", "index 4, label ?, pred 0"};
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t top = head + i * (band + cell + gap);
    const Region r = scan(d, 0, top, d.width, top + band);
    EXPECT_EQ(r.black, ink(drawn[i], f)) << "row " << i;
    EXPECT_EQ(r.other, 0) << "row " << i;
    EXPECT_LT(r.x_min, 6 * f) << "row " << i;
    EXPECT_GE(r.y_min, top + 2 * f) << "row " << i;
    // The cells start right below the band: the first image pixel is the image.
    const auto v = static_cast<uint8_t>(
        std::lround(255.0 * static_cast<double>(images[i][0][0][0].item<float>())));
    EXPECT_EQ(d.at(top + band, 0), (Rgb{v, v, v})) << "row " << i;
  }
  // One-line names make a one-line header: 10f less.
  const Decoded short_names = decode(montage_png(images, maps, {"saliency", "ig"}, rows, o));
  EXPECT_EQ(short_names.height, d.height - 10 * f);
}

TEST_F(MontageTest, LongLabelsAreShortened) {
  // 24 px cells at f = 1: 4 characters a column name, 8 a row label over the 50 px montage.
  const std::string path = (dir_ / "short.png").string();
  write_montage(path, torch::rand({1, 3, kSide, kSide}), {torch::zeros({1, kSide, kSide})},
                {"gradient-shap"}, {std::string(100, 'x')}, options());
  const Decoded d = read_pixels(path);
  ASSERT_EQ(d.width, 2 * kCell + kGap);
  const Region row = scan(d, 0, kHead, d.width, kHead + kBand);
  EXPECT_EQ(row.black, ink("xxxxxx..", 1));
  EXPECT_LT(row.x_max, d.width);
  // "image" has no break: "imag" / "e"; "gradient-shap": "grad" / "ie..".
  EXPECT_EQ(scan(d, 0, 0, kCell, kHead).black, ink("imag", 1) + ink("e", 1));
  EXPECT_EQ(scan(d, origin(1), 0, origin(1) + kCell, kHead).black, ink("grad", 1) + ink("ie..", 1));
}

TEST_F(MontageTest, PngBytesAreTheFileAndDecode) {
  torch::manual_seed(4);
  const torch::Tensor images = torch::rand({2, 3, kSide, kSide});
  const std::vector<torch::Tensor> maps = {torch::randn({2, kSide, kSide})};
  const std::vector<std::string> rows = {"index 0, label 1, pred 1", "index 1, label 0, pred 2"};
  const std::string path = (dir_ / "same.png").string();
  write_montage(path, images, maps, {"saliency"}, rows, options());
  const std::vector<uint8_t> bytes = montage_png(images, maps, {"saliency"}, rows, options());
  EXPECT_EQ(bytes, file_bytes(path));
  const Decoded d = decode(bytes);
  EXPECT_EQ(d.width, 2 * kCell + kGap);
  EXPECT_EQ(d.height, kHead + 2 * (kBand + kCell) + kGap);
  EXPECT_EQ(d.rgb, read_pixels(path).rgb);
}

TEST_F(MontageTest, WithoutImagesTheColumnsAreTheMethods) {
  torch::Tensor ramp = torch::arange(kSide * kSide, torch::kFloat64).reshape({1, kSide, kSide});
  const std::vector<torch::Tensor> maps = {torch::zeros({1, kSide, kSide}), ramp};
  const std::vector<uint8_t> bytes =
      montage_png(torch::Tensor(), maps, {"a", "b"}, {"index 2, label 0, pred 0"}, options());
  const Decoded d = decode(bytes);
  // Two columns; the names fit their cells: a one-line header of 13 px.
  constexpr int64_t head = 13;
  ASSERT_EQ(d.width, 2 * kCell + kGap);
  ASSERT_EQ(d.height, head + kBand + kCell);
  EXPECT_EQ(scan(d, 0, 0, kCell, head).black, ink("a", 1));
  EXPECT_EQ(scan(d, origin(1), 0, origin(1) + kCell, head).black, ink("b", 1));
  // Column 0 is the all-zero map (black), column 1 the ramp (its last pixel white).
  for (int64_t y = 0; y < kCell; y += 3) {
    for (int64_t x = 0; x < kCell; x += 3) {
      ASSERT_EQ(d.at(head + kBand + y, x), expected_heat(0.0)) << y << "," << x;
    }
  }
  EXPECT_EQ(d.at(head + kBand + kCell - 1, origin(1) + kCell - 1), expected_heat(1.0));
  // The tEXt chunk (uncompressed: key, NUL, text) names the method columns only.
  const std::string raw(bytes.begin(), bytes.end());
  EXPECT_NE(raw.find(std::string("sfbench:columns") + '\0' + "a,b"), std::string::npos);
  EXPECT_EQ(raw.find("image,"), std::string::npos);
  // Nothing to show, or maps of different shapes: ConfigError.
  EXPECT_THROW(montage_png(torch::Tensor(), {}, {}, {}, options()), ConfigError);
  EXPECT_THROW(montage_png(torch::Tensor(), {maps[0], torch::zeros({1, kSide, kSide + 1})},
                           {"a", "b"}, {"r"}, options()),
               ConfigError);
  EXPECT_THROW(montage_png(torch::Tensor(), maps, {"a", "b"}, {"r", "s"}, options()), ConfigError);
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
