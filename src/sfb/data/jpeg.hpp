#pragma once
#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace sfb::data {

/// Height and width of an image, in pixels.
struct ImageSize {
  int64_t height = 0;
  int64_t width = 0;
};

/// Decodes JPEG bytes with libjpeg(-turbo) into an RGB image: [3, H, W] uint8, CPU, contiguous.
/// Grayscale inputs are replicated to three channels; CMYK/YCCK inputs are converted to RGB
/// (Adobe-marked files store inverted ink, as Photoshop writes them). Any libjpeg error or warning
/// (corrupt data, premature end of file) throws DataError naming `name`. Thread-safe.
torch::Tensor decode_jpeg(const uint8_t* data, size_t size, const std::string& name);

/// Reads and decodes a JPEG file (see decode_jpeg); a missing or unreadable file throws DataError
/// naming it. Returns [3, H, W] uint8.
torch::Tensor decode_jpeg_file(const std::filesystem::path& file);

/// Reads only the JPEG header of `file` and returns its size. Throws DataError naming the file when
/// it is missing or its header is not a valid JPEG header.
ImageSize jpeg_file_size(const std::filesystem::path& file);

/// Encodes `image` ([3, H, W] RGB, [1, H, W] grayscale or [4, H, W] CMYK; uint8, CPU) as a baseline
/// JPEG with 4:4:4 sampling at `quality` (1..100) and returns the bytes. CMYK is written with an
/// Adobe marker, values stored as given. Used by tests, benchmarks and tools.
std::string encode_jpeg(const torch::Tensor& image, int quality);

}  // namespace sfb::data
