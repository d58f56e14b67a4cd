#include "data/masks.hpp"

#include <png.h>
#include <torch/torch.h>

#include <sstream>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "data/imagenet_folder.hpp"
#include "io/hyperslab.hpp"

namespace sfb::data {
namespace fs = std::filesystem;

namespace {

std::string size_text(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

}  // namespace

torch::Tensor read_png_mask(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw DataError("mask '" + file.string() + "' does not exist");
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, file.c_str())) {
    throw DataError("cannot read PNG mask '" + file.string() + "': " + image.message);
  }
  image.format = PNG_FORMAT_RGB;
  const auto h = static_cast<int64_t>(image.height);
  const auto w = static_cast<int64_t>(image.width);
  auto rgb = torch::empty({h, w, 3}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, rgb.data_ptr(), 0, nullptr)) {
    const std::string msg = image.message;
    png_image_free(&image);
    throw DataError("cannot decode PNG mask '" + file.string() + "': " + msg);
  }
  return (rgb > 0).any(2).to(torch::kUInt8);
}

void write_png_gray(const fs::path& file, const torch::Tensor& mask) {
  SFB_ASSERT(mask.dim() == 2 && mask.scalar_type() == torch::kUInt8,
             "write_png_gray: [H, W] uint8");
  auto m = mask.cpu().contiguous();
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(m.size(1));
  image.height = static_cast<png_uint_32>(m.size(0));
  image.format = PNG_FORMAT_GRAY;
  if (!png_image_write_to_file(&image, file.c_str(), 0, m.data_ptr(), 0, nullptr)) {
    throw IoError("cannot write PNG '" + file.string() + "': " + image.message);
  }
}

MaskedDataset::MaskedDataset(std::shared_ptr<const Dataset> base, MaskSource source)
    : base_(std::move(base)), source_(std::move(source)) {
  SFB_ASSERT(base_ != nullptr, "MaskedDataset needs a base dataset");
  folder_ = dynamic_cast<const ImageNetFolder*>(base_.get());
  const auto shape = base_->image_shape();
  if (source_.kind == MaskSource::Kind::kPngFolder) {
    if (!fs::is_directory(source_.path)) {
      throw DataError("mask folder '" + source_.path.string() + "' does not exist");
    }
    if (!source_.by_index && folder_ == nullptr) {
      throw DataError("masks in '" + source_.path.string() +
                      "' are named by image path, which "
                      "needs an imagenet-folder dataset; name them <index>.png instead");
    }
    return;
  }
  try {
    h5_ = io::H5Node::open_readonly(source_.path);
  } catch (const Error& e) {
    throw DataError(std::string("mask file: ") + e.what());
  }
  if (!h5_.exists("/masks")) {
    throw DataError("mask file '" + source_.path.string() + "' has no /masks dataset");
  }
  masks_ = h5_.open("/masks");
  const auto info = masks_.info();
  if (info.dtype != "uint8" || info.dims.size() != 3) {
    throw DataError("mask file '" + source_.path.string() + "': /masks is " + info.dtype +
                    " with " + std::to_string(info.dims.size()) +
                    " dims, expected uint8 [N, H, W]");
  }
  if (static_cast<int64_t>(info.dims[0]) != base_->size()) {
    throw DataError("mask file '" + source_.path.string() + "' has " +
                    std::to_string(info.dims[0]) + " masks for " + std::to_string(base_->size()) +
                    " samples");
  }
  if (static_cast<int64_t>(info.dims[1]) != shape[1] ||
      static_cast<int64_t>(info.dims[2]) != shape[2]) {
    throw DataError(
        "mask file '" + source_.path.string() + "': masks are " +
        size_text(static_cast<int64_t>(info.dims[1]), static_cast<int64_t>(info.dims[2])) +
        ", images are " + size_text(shape[1], shape[2]));
  }
}

fs::path MaskedDataset::png_path(int64_t i) const {
  if (source_.by_index) return source_.path / (std::to_string(i) + ".png");
  fs::path rel = folder_->relative_path(i);
  return source_.path / rel.replace_extension(".png");
}

torch::Tensor MaskedDataset::mask(int64_t i) const {
  if (i < 0 || i >= size()) {
    throw DataError("mask of sample " + std::to_string(i) + ": index outside [0, " +
                    std::to_string(size()) + ")");
  }
  const auto shape = base_->image_shape();
  torch::Tensor m;
  std::string where;
  if (source_.kind == MaskSource::Kind::kHdf5) {
    where = "'" + source_.path.string() + "' /masks[" + std::to_string(i) + "]";
    auto row = torch::empty({1, shape[1], shape[2]}, torch::kUInt8);
    {
      std::lock_guard<std::mutex> lock(mu_);
      masks_.read_slab(io::per_sample_slab(size(), i, 1, {shape[1], shape[2]}), row);
    }
    m = (row > 0).to(torch::kFloat32);
  } else {
    const fs::path p = png_path(i);
    where = "'" + p.string() + "'";
    auto bin = read_png_mask(p);
    if (folder_ != nullptr) {
      const ImageSize src = folder_->source_size(i);
      if (bin.size(0) != src.height || bin.size(1) != src.width) {
        throw DataError("mask " + where + " is " + size_text(bin.size(0), bin.size(1)) +
                        ", its image '" + folder_->path(i).string() + "' is " +
                        size_text(src.height, src.width));
      }
      m = apply_eval_geometry_nearest(bin.unsqueeze(0), folder_->options().transform);
    } else {
      if (bin.size(0) != shape[1] || bin.size(1) != shape[2]) {
        throw DataError("mask " + where + " is " + size_text(bin.size(0), bin.size(1)) +
                        ", sample " + std::to_string(i) + " images are " +
                        size_text(shape[1], shape[2]));
      }
      m = bin.unsqueeze(0).to(torch::kFloat32);
    }
  }
  if (!m.any().item<bool>()) {
    throw DataError("mask of sample " + std::to_string(i) + " (" + where +
                    ") is empty: no foreground pixel" +
                    (folder_ != nullptr && source_.kind == MaskSource::Kind::kPngFolder
                         ? " after resize and center crop"
                         : ""));
  }
  return m;
}

Batch MaskedDataset::get(const std::vector<int64_t>& indices) const {
  Batch b = base_->get(indices);
  const auto shape = base_->image_shape();
  b.masks =
      torch::empty({static_cast<int64_t>(indices.size()), 1, shape[1], shape[2]}, torch::kFloat32);
  const int64_t threads = folder_ != nullptr ? folder_->options().threads : 1;
  parallel_for(static_cast<int64_t>(indices.size()), threads,
               [&](int64_t k) { b.masks[k].copy_(mask(indices[static_cast<size_t>(k)])); });
  return b;
}

std::string MaskedDataset::spec() const {
  return base_->spec() + "+masks:" + source_.path.string();
}

std::string MaskedDataset::fingerprint() const {
  std::ostringstream os;
  os << "sfbench masks v1\n" << base_->fingerprint() << "\n";
  if (source_.kind == MaskSource::Kind::kHdf5) {
    os << "hdf5 " << fs::file_size(source_.path) << "\n";
  } else {
    os << "png " << (source_.by_index ? "by-index" : "by-path") << "\n";
    for (int64_t i = 0; i < size(); ++i) {
      const fs::path p = png_path(i);
      std::error_code ec;
      const auto bytes = fs::file_size(p, ec);
      os << p.filename().string() << "\t" << (ec ? 0 : bytes) << "\n";
    }
  }
  return sha256_hex(os.str());
}

}  // namespace sfb::data
