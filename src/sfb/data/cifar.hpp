#pragma once
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace sfb::data {

/// Which CIFAR variant a directory holds.
enum class CifarKind { kCifar10, kCifar100 };

/// Where and what to read.
struct CifarOptions {
  CifarKind kind = CifarKind::kCifar10;
  Split split = Split::kTrain;
  /// Records expected in each file; 0 = the official counts (10000 per CIFAR-10 file, 50000 /
  /// 10000 for CIFAR-100 train / test). Tests and benchmarks set a small count to use small files.
  int64_t records_per_file = 0;
};

/// The CIFAR-10 / CIFAR-100 binary releases ("cifar-10-batches-bin", "cifar-100-binary").
/// CIFAR-10: data_batch_1.bin .. data_batch_5.bin (train), test_batch.bin (test); each record is
/// 1 label byte + 3072 pixel bytes. CIFAR-100: train.bin / test.bin; each record is 1 coarse label
/// byte + 1 fine label byte + 3072 pixel bytes; the fine label (100 classes) is used. Pixels are
/// stored as three 32x32 planes (R, G, B), row-major.
///
/// Opening validates everything: the directory and each file exist, each file's size is a multiple
/// of the record size and holds exactly the expected number of records, every label is below the
/// number of classes (CIFAR-100: coarse < 20 and fine < 100). A DataError names the file and, for a
/// truncated record or a bad label, its byte offset. Each file is read with one read into memory;
/// get() is const and thread-safe.
class CifarDataset : public Dataset {
 public:
  /// Opens and validates `dir`. Throws DataError as described above.
  CifarDataset(const std::filesystem::path& dir, const CifarOptions& opts);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  /// 10 or 100.
  int64_t num_classes() const override;
  /// {3, 32, 32}.
  std::vector<int64_t> image_shape() const override { return {3, 32, 32}; }
  /// images [B,3,32,32] float32 = byte / 255, labels [B] int64, index [B] int64 (= indices),
  /// masks undefined; all on the CPU. Sample i is record i of the files concatenated in order.
  /// Throws DataError naming the first index outside [0, size()).
  Batch get(const std::vector<int64_t>& indices) const override;
  /// "cifar10:DIR" or "cifar100:DIR".
  std::string spec() const override;
  /// SHA-256 of the text "<file name> <SHA-256 of the file>\n" for every file in read order (the
  /// file hashes equal sha256_file(); they are computed from the bytes already in memory, once).
  std::string fingerprint() const override;

  /// The files read, in sample order (full paths).
  const std::vector<std::filesystem::path>& files() const { return files_; }
  /// Bytes per record: 3073 (CIFAR-10) or 3074 (CIFAR-100).
  int64_t record_size() const;
  /// The file names of a variant and split, in sample order.
  static std::vector<std::string> file_names(CifarKind kind, Split split);

 private:
  void load_file(const std::filesystem::path& file, int64_t expected_records);

  std::filesystem::path dir_;
  CifarOptions opts_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::vector<unsigned char>> bytes_;   // raw contents of each file
  std::vector<int64_t> labels_;                     // label of every sample
  std::vector<std::pair<int32_t, int64_t>> where_;  // sample -> (file, byte offset of pixels)
  mutable std::once_flag fingerprint_once_;
  mutable std::string fingerprint_;
};

}  // namespace sfb::data
