// CIFAR-10/100 readers against small files written here in the real binary format, including
// truncated, mis-sized and bad-label files that must be rejected with the file and byte offset.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "data/cifar.hpp"
#include "data/factory.hpp"

namespace sfb::data {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kRecords = 7;  // records per file in these tests
constexpr int64_t kPixels = 3072;

unsigned char pixel_byte(int64_t file, int64_t record, int64_t p) {
  return static_cast<unsigned char>((file * 13 + record * 31 + p * 7) % 256);
}
int64_t fine_label(int64_t file, int64_t record, int64_t classes) {
  return (file * 3 + record * 5) % classes;
}

// Writes `records` records of a file in the CIFAR format (1 or 2 label bytes + 3072 pixels).
void write_file(const fs::path& path, int64_t file_no, int64_t records, bool cifar100) {
  std::ofstream out(path, std::ios::binary);
  for (int64_t r = 0; r < records; ++r) {
    if (cifar100) {
      const int64_t fine = fine_label(file_no, r, 100);
      out.put(static_cast<char>(fine / 5));
      out.put(static_cast<char>(fine));
    } else {
      out.put(static_cast<char>(fine_label(file_no, r, 10)));
    }
    for (int64_t p = 0; p < kPixels; ++p) out.put(static_cast<char>(pixel_byte(file_no, r, p)));
  }
}

class CifarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sfb_cifar_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_cifar10() {
    int64_t f = 0;
    for (const auto& name : CifarDataset::file_names(CifarKind::kCifar10, Split::kTrain)) {
      write_file(dir_ / name, f++, kRecords, false);
    }
    write_file(dir_ / "test_batch.bin", 5, kRecords, false);
  }
  void write_cifar100() {
    write_file(dir_ / "train.bin", 0, kRecords, true);
    write_file(dir_ / "test.bin", 1, kRecords, true);
  }
  static CifarOptions opts(CifarKind kind, Split split) {
    CifarOptions o;
    o.kind = kind;
    o.split = split;
    o.records_per_file = kRecords;
    return o;
  }
  // The DataError message from opening dir_ (fails the test when nothing is thrown).
  std::string open_error(const CifarOptions& o) {
    try {
      CifarDataset ds(dir_, o);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError";
    return "";
  }
  // Overwrites one byte of a file.
  static void poke(const fs::path& file, int64_t offset, unsigned char value) {
    std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(offset);
    f.put(static_cast<char>(value));
  }

  fs::path dir_;
};

TEST_F(CifarTest, Cifar10TrainReadsEveryRecordInFileOrder) {
  write_cifar10();
  CifarDataset ds(dir_, opts(CifarKind::kCifar10, Split::kTrain));
  ASSERT_EQ(ds.size(), 5 * kRecords);
  EXPECT_EQ(ds.num_classes(), 10);
  EXPECT_EQ(ds.image_shape(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_FALSE(ds.has_masks());
  const std::vector<int64_t> idx = {0, 8, 34, 13, 8};
  const Batch b = ds.get(idx);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  EXPECT_EQ(b.images.dtype(), torch::kFloat32);
  EXPECT_FALSE(b.masks.defined());
  for (size_t k = 0; k < idx.size(); ++k) {
    const int64_t file = idx[k] / kRecords, rec = idx[k] % kRecords;
    EXPECT_EQ(b.labels[static_cast<int64_t>(k)].item<int64_t>(), fine_label(file, rec, 10));
    EXPECT_EQ(b.index[static_cast<int64_t>(k)].item<int64_t>(), idx[k]);
    auto flat = b.images[static_cast<int64_t>(k)].reshape({-1});
    const float* v = flat.data_ptr<float>();
    // Exactly byte / 255 in float32 (correctly rounded), for every byte value (p·7 mod 256 runs
    // through all 256): multiplying by float32(1/255) is one ulp off for 126 of them.
    for (int64_t p = 0; p < kPixels; ++p) {
      ASSERT_EQ(v[p], static_cast<float>(pixel_byte(file, rec, p)) / 255.0f) << idx[k] << " " << p;
    }
    // Plane order: channel 1 (green) starts at byte 1024 of the pixel block.
    EXPECT_FLOAT_EQ(b.images[static_cast<int64_t>(k)][1][0][0].item<float>(),
                    static_cast<float>(pixel_byte(file, rec, 1024)) / 255.0f);
  }
  EXPECT_THROW(ds.get({5 * kRecords}), DataError);
  EXPECT_THROW(ds.get({-1}), DataError);
}

TEST_F(CifarTest, Cifar10TestSplitAndCifar100FineLabels) {
  write_cifar10();
  write_cifar100();
  CifarDataset test10(dir_, opts(CifarKind::kCifar10, Split::kTest));
  ASSERT_EQ(test10.size(), kRecords);
  EXPECT_EQ(test10.get({3}).labels[0].item<int64_t>(), fine_label(5, 3, 10));

  CifarDataset train100(dir_, opts(CifarKind::kCifar100, Split::kTrain));
  CifarDataset test100(dir_, opts(CifarKind::kCifar100, Split::kTest));
  EXPECT_EQ(train100.num_classes(), 100);
  ASSERT_EQ(train100.size(), kRecords);
  for (int64_t r = 0; r < kRecords; ++r) {
    const Batch b = test100.get({r});
    EXPECT_EQ(b.labels[0].item<int64_t>(), fine_label(1, r, 100));
    // The pixel block starts after both label bytes.
    EXPECT_FLOAT_EQ(b.images[0][0][0][0].item<float>(), pixel_byte(1, r, 0) / 255.0f);
    EXPECT_FLOAT_EQ(b.images[0][2][31][31].item<float>(), pixel_byte(1, r, 3071) / 255.0f);
  }
  EXPECT_EQ(train100.spec(), "cifar100:" + dir_.string());
}

TEST_F(CifarTest, FingerprintHashesTheFileHashesInOrder) {
  write_cifar10();
  CifarDataset ds(dir_, opts(CifarKind::kCifar10, Split::kTrain));
  std::string text;
  for (const auto& name : CifarDataset::file_names(CifarKind::kCifar10, Split::kTrain)) {
    text += name + " " + sha256_file(dir_ / name) + "\n";
  }
  EXPECT_EQ(ds.fingerprint(), sha256_hex(text));
  poke(dir_ / "data_batch_4.bin", 100, 0xAB);
  CifarDataset changed(dir_, opts(CifarKind::kCifar10, Split::kTrain));
  EXPECT_NE(changed.fingerprint(), ds.fingerprint());
}

TEST_F(CifarTest, MissingDirectoryAndFilesAreNamed) {
  const fs::path missing = dir_ / "nope";
  try {
    CifarDataset ds(missing, opts(CifarKind::kCifar10, Split::kTrain));
    ADD_FAILURE() << "no DataError for a missing directory";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  write_cifar10();
  fs::remove(dir_ / "data_batch_2.bin");
  const std::string e2 = open_error(opts(CifarKind::kCifar10, Split::kTrain));
  EXPECT_NE(e2.find("data_batch_2.bin"), std::string::npos) << e2;
  EXPECT_EQ(e2.find("data_batch_1.bin"), std::string::npos) << e2;
}

TEST_F(CifarTest, TruncatedFileNamesFileAndOffsetOfTheCutRecord) {
  write_cifar10();
  const fs::path f = dir_ / "data_batch_3.bin";
  fs::resize_file(f, 3 * 3073 + 100);
  const std::string e = open_error(opts(CifarKind::kCifar10, Split::kTrain));
  EXPECT_NE(e.find(f.string()), std::string::npos) << e;
  EXPECT_NE(e.find("byte offset 9219"), std::string::npos) << e;
}

TEST_F(CifarTest, WrongRecordCountIsRejected) {
  write_cifar10();
  write_file(dir_ / "test_batch.bin", 5, kRecords + 1, false);
  const std::string e = open_error(opts(CifarKind::kCifar10, Split::kTest));
  EXPECT_NE(e.find("test_batch.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("holds 8 records"), std::string::npos) << e;
  // With the official counts, the small files are rejected too.
  write_file(dir_ / "test_batch.bin", 5, kRecords, false);
  auto official = opts(CifarKind::kCifar10, Split::kTest);
  official.records_per_file = 0;
  const std::string e2 = open_error(official);
  EXPECT_NE(e2.find("expected 10000"), std::string::npos) << e2;
}

TEST_F(CifarTest, LabelOutOfRangeNamesFileAndByteOffset) {
  write_cifar10();
  poke(dir_ / "data_batch_5.bin", 4 * 3073, 10);
  const std::string e = open_error(opts(CifarKind::kCifar10, Split::kTrain));
  EXPECT_NE(e.find("data_batch_5.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("byte offset 12292"), std::string::npos) << e;
  EXPECT_NE(e.find("label 10"), std::string::npos) << e;

  write_cifar100();
  poke(dir_ / "train.bin", 2 * 3074 + 1, 100);  // fine label of record 2
  const std::string e100 = open_error(opts(CifarKind::kCifar100, Split::kTrain));
  EXPECT_NE(e100.find("train.bin"), std::string::npos) << e100;
  EXPECT_NE(e100.find("byte offset 6148"), std::string::npos) << e100;
  write_cifar100();
  poke(dir_ / "test.bin", 6 * 3074, 20);  // coarse label of record 6
  const std::string e_coarse = open_error(opts(CifarKind::kCifar100, Split::kTest));
  EXPECT_NE(e_coarse.find("byte offset 18444"), std::string::npos) << e_coarse;
  EXPECT_NE(e_coarse.find("coarse"), std::string::npos) << e_coarse;
}

TEST_F(CifarTest, FactoryRoutesCifarSpecs) {
  write_cifar10();
  write_cifar100();
  DataOptions o;
  o.split = Split::kTest;
  o.cifar_records_per_file = kRecords;
  auto c10 = make_dataset("cifar10:" + dir_.string(), o);
  EXPECT_EQ(c10->num_classes(), 10);
  EXPECT_EQ(c10->size(), kRecords);
  auto c100 = make_dataset("cifar100:" + dir_.string(), o);
  EXPECT_EQ(c100->num_classes(), 100);
  o.subset = "3";
  EXPECT_EQ(make_dataset("cifar10:" + dir_.string(), o)->size(), 3);
  EXPECT_THROW(make_dataset("cifar10", o), ConfigError);
  EXPECT_THROW(make_dataset("cifar10:" + (dir_ / "missing").string(), o), DataError);
}

}  // namespace
}  // namespace sfb::data
