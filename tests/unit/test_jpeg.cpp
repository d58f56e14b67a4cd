// JPEG decoding with libjpeg: round trips of generated images, grayscale and CMYK conversion, and
// clear errors naming the file for corrupt, truncated and missing images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.hpp"
#include "data/image_fixtures.hpp"
#include "data/jpeg.hpp"

namespace sfb::test {
namespace {
namespace fs = std::filesystem;

TEST(Jpeg, RoundTripRgbIsClose) {
  const auto img = make_image(375, 500, 1);
  const auto dir = temp_dir("jpeg_rt");
  write_bytes(dir / "a.JPEG", data::encode_jpeg(img, 100));
  const auto dec = data::decode_jpeg_file(dir / "a.JPEG");
  ASSERT_EQ(dec.sizes(), img.sizes());
  EXPECT_EQ(dec.scalar_type(), torch::kUInt8);
  const auto diff = (dec.to(torch::kInt32) - img.to(torch::kInt32)).abs();
  EXPECT_LE(diff.max().item<int>(), 8);
  EXPECT_LT(diff.to(torch::kFloat32).mean().item<float>(), 1.5f);
  const auto size = data::jpeg_file_size(dir / "a.JPEG");
  EXPECT_EQ(size.height, 375);
  EXPECT_EQ(size.width, 500);
  fs::remove_all(dir);
}

TEST(Jpeg, GrayscaleBecomesThreeEqualChannels) {
  auto gray =
      torch::arange(0, 64 * 80, torch::kInt32).remainder(256).to(torch::kUInt8).view({1, 64, 80});
  gray = gray.div(4, "floor").to(torch::kUInt8) + 40;  // smooth ramp
  const auto bytes = data::encode_jpeg(gray, 100);
  const auto dec =
      data::decode_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "g");
  ASSERT_EQ(dec.sizes(), (std::vector<int64_t>{3, 64, 80}));
  EXPECT_TRUE(torch::equal(dec[0], dec[1]));
  EXPECT_TRUE(torch::equal(dec[0], dec[2]));
  EXPECT_LE((dec[0].to(torch::kInt32) - gray[0].to(torch::kInt32)).abs().max().item<int>(), 4);
}

TEST(Jpeg, CmykAdobeIsConvertedToRgb) {
  // Flat colour: stored (Adobe, inverted) C=200 M=100 Y=50 K=255 -> R = 200, G = 100, B = 50.
  auto cmyk = torch::empty({4, 32, 32}, torch::kUInt8);
  cmyk[0].fill_(200);
  cmyk[1].fill_(100);
  cmyk[2].fill_(50);
  cmyk[3].fill_(255);
  const auto bytes = data::encode_jpeg(cmyk, 100);
  const auto dec =
      data::decode_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "c");
  ASSERT_EQ(dec.sizes(), (std::vector<int64_t>{3, 32, 32}));
  const auto mean = dec.to(torch::kFloat32).mean({1, 2});
  EXPECT_NEAR(mean[0].item<float>(), 200, 2);
  EXPECT_NEAR(mean[1].item<float>(), 100, 2);
  EXPECT_NEAR(mean[2].item<float>(), 50, 2);
  // Half the key halves every channel.
  cmyk[3].fill_(128);
  const auto bytes2 = data::encode_jpeg(cmyk, 100);
  const auto dec2 =
      data::decode_jpeg(reinterpret_cast<const uint8_t*>(bytes2.data()), bytes2.size(), "c2");
  EXPECT_NEAR(dec2[0].to(torch::kFloat32).mean().item<float>(), 200.0 * 128 / 255, 2);
}

void expect_data_error_naming(const fs::path& file, const std::string& what) {
  try {
    data::decode_jpeg_file(file);
    ADD_FAILURE() << "decoding " << what << " did not throw";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
  }
}

TEST(Jpeg, TruncatedCorruptEmptyAndMissingFilesNameTheFile) {
  const auto dir = temp_dir("jpeg_bad");
  const auto bytes = data::encode_jpeg(make_image(120, 160, 2), 90);
  write_bytes(dir / "truncated.JPEG", bytes.substr(0, bytes.size() / 2));
  expect_data_error_naming(dir / "truncated.JPEG", "a truncated JPEG");
  std::string corrupt = bytes;
  for (size_t i = 2; i < 200 && i < corrupt.size(); ++i) corrupt[i] = static_cast<char>(0x5a ^ i);
  write_bytes(dir / "corrupt.JPEG", corrupt);
  expect_data_error_naming(dir / "corrupt.JPEG", "a corrupt JPEG");
  write_bytes(dir / "text.JPEG", "this is not an image");
  expect_data_error_naming(dir / "text.JPEG", "a text file");
  write_bytes(dir / "empty.JPEG", "");
  expect_data_error_naming(dir / "empty.JPEG", "an empty file");
  expect_data_error_naming(dir / "missing.JPEG", "a missing file");
  EXPECT_THROW(data::jpeg_file_size(dir / "text.JPEG"), DataError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sfb::test
