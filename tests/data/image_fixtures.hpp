// Helpers shared by the ImageNet and mask tests: generated images written as JPEG folders.
#pragma once
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/jpeg.hpp"

namespace sfb::test {

/// A smooth random RGB image [3, h, w] uint8 (low-frequency noise upsampled, plus fine noise),
/// deterministic in `seed`.
inline torch::Tensor make_image(int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto low = torch::rand({1, 3, h / 16 + 2, w / 16 + 2}, gen);
  auto up = torch::nn::functional::interpolate(low, torch::nn::functional::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{h, w})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false));
  auto fine = torch::rand({1, 3, h, w}, gen) * 0.15;
  return ((up * 0.85 + fine) * 255.0).clamp(0, 255).to(torch::kUInt8).squeeze(0).contiguous();
}

/// Writes `bytes` to `file`.
inline void write_bytes(const std::filesystem::path& file, const std::string& bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream os(file, std::ios::binary);
  os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A fresh temporary folder named after `tag` and the process id.
inline std::filesystem::path temp_dir(const std::string& tag) {
  auto d =
      std::filesystem::temp_directory_path() / ("sfb_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// One generated sample of a test folder.
struct FolderSample {
  std::string rel;  ///< relative path
  int64_t label;
  int64_t h, w;
};

/// Writes `n` JPEGs of assorted sizes (500x375 landscape, portrait, square, odd) under
/// `dir/<wnid>/img_<i>.JPEG` with wnid = n0000000<label> and returns them in sample order of a
/// label file listing them in index order.
inline std::vector<FolderSample> write_folder(const std::filesystem::path& dir, int64_t n,
                                              int64_t classes) {
  static const int64_t kSizes[][2] = {{375, 500}, {500, 375}, {300, 300}, {257, 411}, {333, 250}};
  std::vector<FolderSample> out;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % classes;
    const auto* s = kSizes[i % 5];
    const std::string rel =
        "n0000000" + std::to_string(label) + "/img_" + std::to_string(i) + ".JPEG";
    write_bytes(dir / rel,
                data::encode_jpeg(make_image(s[0], s[1], 100 + static_cast<uint64_t>(i)), 90));
    out.push_back({rel, label, s[0], s[1]});
  }
  return out;
}

/// Writes a label file listing `samples` in order.
inline void write_labels(const std::filesystem::path& file,
                         const std::vector<FolderSample>& samples) {
  std::ofstream os(file);
  os << "# relative path, label\n";
  for (const auto& s : samples) os << s.rel << " " << s.label << "\n";
}

}  // namespace sfb::test
