// pack_imagenet under mpirun: every rank decodes its share and writes it collectively; the packed
// file read back with ImageNetH5 equals the folder's transformed images quantized to uint8, byte
// for byte, for chunk sizes that leave ranks with partial and empty rounds. Also HDF5 masks over
// it.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "data/image_fixtures.hpp"
#include "data/imagenet_h5.hpp"
#include "data/masks.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {
namespace fs = std::filesystem;

// A folder of n JPEGs + label file every rank sees (rank 0 writes it).
fs::path shared_folder(const std::string& tag, int64_t n) {
  std::string d;
  if (ctx().rank() == 0) {
    const auto dir = temp_dir("pack_" + tag);
    write_labels(dir / "labels.txt", write_folder(dir / "images", n, 4));
    d = dir.string();
  }
  d = comm::broadcast_string(ctx().host_comm(), d, 0);
  ctx().host_comm().barrier();
  return d;
}

data::ImageNetFolderOptions options(const fs::path& dir) {
  data::ImageNetFolderOptions o;
  o.label_file = dir / "labels.txt";
  o.num_classes = 4;
  o.threads = 2;
  return o;
}

TEST(PackImageNet, RoundTripIsByteIdenticalForEveryChunkSize) {
  const int64_t n = 7;
  const auto dir = shared_folder("rt", n);
  data::ImageNetFolder folder(dir / "images", options(dir));
  const auto expect = data::quantize_u8(folder.get({0, 1, 2, 3, 4, 5, 6}).images);
  for (int64_t chunk : {1, 2, 64}) {
    const auto out = dir / ("packed_" + std::to_string(chunk) + ".h5");
    data::pack_imagenet(ctx(), folder, out, {chunk});
    ASSERT_TRUE(fs::exists(out));
    for (const auto& e : fs::directory_iterator(dir)) {
      EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << "left: " << e.path();
    }
    data::ImageNetH5 packed(out);
    ASSERT_EQ(packed.size(), n);
    EXPECT_EQ(packed.num_classes(), 4);
    EXPECT_EQ(packed.image_shape(), (std::vector<int64_t>{3, 224, 224}));
    std::vector<int64_t> all{0, 1, 2, 3, 4, 5, 6};
    EXPECT_TRUE(torch::equal(packed.get_u8(all), expect)) << "chunk " << chunk;
    // Non-contiguous and repeated indices, float view and labels.
    const auto b = packed.get({5, 2, 3, 3});
    EXPECT_TRUE(torch::equal(
        b.images, expect.index_select(0, torch::tensor({5, 2, 3, 3})).to(torch::kFloat32) / 255.0));
    for (int64_t k = 0; k < 4; ++k) {
      EXPECT_EQ(b.labels[k].item<int64_t>(), folder.label(b.index[k].item<int64_t>()));
    }
    EXPECT_THROW(packed.get({n}), DataError);
    EXPECT_EQ(packed.fingerprint().size(), 64u);
    EXPECT_NE(packed.spec().find(out.string()), std::string::npos);
  }
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) fs::remove_all(dir);
}

TEST(PackImageNet, DecodeErrorOnOneRankFailsEveryRankAndLeavesNoOutput) {
  const int64_t n = 5;
  const auto dir = shared_folder("bad", n);
  data::ImageNetFolder folder(dir / "images", options(dir));
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) fs::resize_file(folder.path(n - 1), 100);  // owned by the last rank
  ctx().host_comm().barrier();
  const auto out = dir / "packed.h5";
  try {
    data::pack_imagenet(ctx(), folder, out, {2});
    ADD_FAILURE() << "no error for a truncated image";
  } catch (const AgreedError& e) {
    EXPECT_NE(std::string(e.what()).find(folder.path(n - 1).string()), std::string::npos)
        << e.what();
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
  }
  EXPECT_FALSE(fs::exists(out));
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) fs::remove_all(dir);
}

void write_masks_h5(const fs::path& file, const torch::Tensor& masks) {
  hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  std::vector<hsize_t> dims(masks.sizes().begin(), masks.sizes().end());
  hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t d = H5Dcreate2(f, "/masks", H5T_NATIVE_UINT8, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(
      H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, masks.contiguous().data_ptr()),
      0);
  H5Dclose(d);
  H5Sclose(s);
  H5Fclose(f);
}

TEST(PackImageNet, Hdf5MasksOverPackedData) {
  const int64_t n = 3;
  const auto dir = shared_folder("masks", n);
  data::ImageNetFolder folder(dir / "images", options(dir));
  const auto packed_path = dir / "packed.h5";
  data::pack_imagenet(ctx(), folder, packed_path, {2});
  auto packed = std::make_shared<data::ImageNetH5>(packed_path);
  auto masks = torch::zeros({n, 224, 224}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i)
    masks[i].narrow(0, 10 * i, 20).narrow(1, 5, 30).fill_(static_cast<uint8_t>(i + 1));
  // One file per rank and version (a file still open in a MaskedDataset cannot be truncated).
  auto mine = dir / ("masks_" + std::to_string(ctx().rank()) + "_a.h5");
  write_masks_h5(mine, masks);
  data::MaskedDataset md(packed, {data::MaskSource::Kind::kHdf5, mine, false});
  const auto b = md.get({2, 0});
  ASSERT_EQ(b.masks.sizes(), (std::vector<int64_t>{2, 1, 224, 224}));
  EXPECT_TRUE(torch::equal(b.masks[0][0], (masks[2] > 0).to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(b.masks[1][0], (masks[0] > 0).to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(b.images, packed->get({2, 0}).images));

  masks[1].zero_();
  mine = dir / ("masks_" + std::to_string(ctx().rank()) + "_b.h5");
  write_masks_h5(mine, masks);
  data::MaskedDataset md_empty(packed, {data::MaskSource::Kind::kHdf5, mine, false});
  try {
    md_empty.get({1});
    ADD_FAILURE() << "no error for an empty mask";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 1"), std::string::npos) << e.what();
  }
  mine = dir / ("masks_" + std::to_string(ctx().rank()) + "_c.h5");
  write_masks_h5(mine, torch::ones({n, 100, 224}, torch::kUInt8));
  try {
    data::MaskedDataset bad(packed, {data::MaskSource::Kind::kHdf5, mine, false});
    ADD_FAILURE() << "no error for a mask size mismatch";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("100x224"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("224x224"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(mine.string()), std::string::npos) << e.what();
  }
  mine = dir / ("masks_" + std::to_string(ctx().rank()) + "_d.h5");
  write_masks_h5(mine, torch::ones({n + 1, 224, 224}, torch::kUInt8));
  EXPECT_THROW(data::MaskedDataset(packed, {data::MaskSource::Kind::kHdf5, mine, false}),
               DataError);
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace sfb::test
