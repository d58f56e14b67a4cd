#include "data/cifar.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <string_view>

#include "core/error.hpp"
#include "core/hash.hpp"

namespace sfb::data {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

const char* kind_name(CifarKind kind) {
  return kind == CifarKind::kCifar10 ? "cifar10" : "cifar100";
}

int64_t official_records(CifarKind kind, Split split) {
  if (kind == CifarKind::kCifar10) return 10000;
  return split == Split::kTrain ? 50000 : 10000;
}

}  // namespace

std::vector<std::string> CifarDataset::file_names(CifarKind kind, Split split) {
  if (kind == CifarKind::kCifar100) return {split == Split::kTrain ? "train.bin" : "test.bin"};
  if (split == Split::kTest) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
          "data_batch_5.bin"};
}

int64_t CifarDataset::num_classes() const { return opts_.kind == CifarKind::kCifar10 ? 10 : 100; }

int64_t CifarDataset::record_size() const {
  return (opts_.kind == CifarKind::kCifar10 ? 1 : 2) + kPixels;
}

CifarDataset::CifarDataset(const fs::path& dir, const CifarOptions& opts) : dir_(dir), opts_(opts) {
  if (opts_.records_per_file < 0) {
    throw ConfigError(fmt::format("{}: records_per_file = {} is negative", kind_name(opts_.kind),
                                  opts_.records_per_file));
  }
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    throw DataError(fmt::format("{}: directory '{}' does not exist or is not a directory",
                                kind_name(opts_.kind), dir_.string()));
  }
  const int64_t expected = opts_.records_per_file > 0 ? opts_.records_per_file
                                                      : official_records(opts_.kind, opts_.split);
  for (const auto& name : file_names(opts_.kind, opts_.split)) files_.push_back(dir_ / name);
  // Check that every file is there before reading any of them (cheap, and names all that is
  // missing).
  std::string missing;
  for (const auto& f : files_) {
    if (!fs::is_regular_file(f, ec)) missing += (missing.empty() ? "'" : ", '") + f.string() + "'";
  }
  if (!missing.empty()) {
    throw DataError(fmt::format("{}: missing file(s) {} in '{}'", kind_name(opts_.kind), missing,
                                dir_.string()));
  }
  labels_.reserve(static_cast<size_t>(expected) * files_.size());
  where_.reserve(labels_.capacity());
  for (const auto& f : files_) load_file(f, expected);
}

void CifarDataset::load_file(const fs::path& file, int64_t expected_records) {
  const char* kind = kind_name(opts_.kind);
  const int64_t rec = record_size();
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(file, ec));
  if (ec)
    throw DataError(fmt::format("{}: cannot stat '{}': {}", kind, file.string(), ec.message()));
  if (size % rec != 0) {
    const int64_t last = size / rec * rec;
    throw DataError(fmt::format(
        "{}: '{}' is {} bytes, not a multiple of the {}-byte record: the record at byte offset {} "
        "(record {}) is truncated to {} bytes",
        kind, file.string(), size, rec, last, size / rec, size - last));
  }
  if (size / rec != expected_records) {
    throw DataError(fmt::format("{}: '{}' holds {} records ({} bytes), expected {} ({} bytes)",
                                kind, file.string(), size / rec, size, expected_records,
                                expected_records * rec));
  }
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  std::ifstream in(file, std::ios::binary);
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
    throw DataError(fmt::format("{}: cannot read {} bytes from '{}'", kind, size, file.string()));
  }
  const auto file_no = static_cast<int32_t>(bytes_.size());
  const int64_t classes = num_classes();
  for (int64_t r = 0; r < expected_records; ++r) {
    const int64_t off = r * rec;
    int64_t label = bytes[static_cast<size_t>(off)];
    if (opts_.kind == CifarKind::kCifar100) {
      const int64_t coarse = label;
      if (coarse >= 20) {
        throw DataError(fmt::format(
            "{}: '{}' record {} at byte offset {}: coarse label {} is not below 20 classes", kind,
            file.string(), r, off, coarse));
      }
      label = bytes[static_cast<size_t>(off + 1)];
    }
    if (label >= classes) {
      throw DataError(
          fmt::format("{}: '{}' record {} at byte offset {}: label {} is not below {} classes",
                      kind, file.string(), r, off, label, classes));
    }
    labels_.push_back(label);
    where_.emplace_back(file_no, off + rec - kPixels);
  }
  bytes_.push_back(std::move(bytes));
}

Batch CifarDataset::get(const std::vector<int64_t>& indices) const {
  const int64_t n = size();
  for (int64_t i : indices) {
    if (i < 0 || i >= n) {
      throw DataError(fmt::format("{}: sample index {} outside [0, {})", spec(), i, n));
    }
  }
  const auto b = static_cast<int64_t>(indices.size());
  Batch batch;
  batch.images = torch::empty({b, 3, 32, 32}, torch::kFloat32);
  batch.labels = torch::empty({b}, torch::kInt64);
  batch.index = torch::tensor(indices, torch::kInt64).reshape({b});
  float* out = batch.images.data_ptr<float>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  // byte / 255 in float32, correctly rounded like every other loader (multiplying by the rounded
  // float32(1/255) is one ulp off for 126 of the 256 byte values).
  for (int64_t k = 0; k < b; ++k) {
    const auto i = static_cast<size_t>(indices[static_cast<size_t>(k)]);
    const auto& [file_no, off] = where_[i];
    const unsigned char* src = bytes_[static_cast<size_t>(file_no)].data() + off;
    float* dst = out + k * kPixels;
    for (int64_t p = 0; p < kPixels; ++p) dst[p] = static_cast<float>(src[p]) / 255.0f;
    labels[k] = labels_[i];
  }
  return batch;
}

std::string CifarDataset::spec() const {
  return fmt::format("{}:{}", kind_name(opts_.kind), dir_.string());
}

std::string CifarDataset::fingerprint() const {
  std::call_once(fingerprint_once_, [this] {
    std::string text;
    for (size_t f = 0; f < files_.size(); ++f) {
      const auto& b = bytes_[f];
      const std::string_view view(reinterpret_cast<const char*>(b.data()), b.size());
      text += files_[f].filename().string() + " " + sha256_hex(view) + "\n";
    }
    fingerprint_ = sha256_hex(text);
  });
  return fingerprint_;
}

}  // namespace sfb::data
