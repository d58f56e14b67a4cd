#include "data/imagenet_h5.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <variant>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/output_file.hpp"
#include "core/partition.hpp"
#include "core/progress.hpp"
#include "io/hyperslab.hpp"

namespace sfb::data {
namespace fs = std::filesystem;
using io::H5Node;

namespace {

int64_t int_attr(const H5Node& obj, const std::string& key, const fs::path& file) {
  if (!obj.has_attr(key)) {
    throw DataError("packed ImageNet '" + file.string() + "' lacks attribute '" + key + "'");
  }
  const auto v = obj.attr(key);
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  throw DataError("packed ImageNet '" + file.string() + "': attribute '" + key +
                  "' is not an integer");
}

std::string dims_text(const std::vector<uint64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace

ImageNetH5::ImageNetH5(const fs::path& file) : file_(file) {
  try {
    h5_ = H5Node::open_readonly(file_);
  } catch (const Error& e) {
    throw DataError(std::string("packed ImageNet: ") + e.what());
  }
  const H5Node& f = h5_;
  const std::string name = "packed ImageNet '" + file_.string() + "'";
  if (!f.exists("/images") || !f.exists("/labels")) {
    throw DataError(name + " lacks /images or /labels");
  }
  if (int_attr(f, "sfbench_packed_imagenet", file_) != kPackedImageNetVersion) {
    throw DataError(name + " has layout version " +
                    std::to_string(int_attr(f, "sfbench_packed_imagenet", file_)) +
                    ", this sfbench reads " + std::to_string(kPackedImageNetVersion));
  }
  num_classes_ = int_attr(f, "num_classes", file_);
  if (f.has_attr("source_fingerprint")) {
    const auto v = f.attr("source_fingerprint");
    if (const auto* s = std::get_if<std::string>(&v)) source_fingerprint_ = *s;
  }
  images_ = f.open("/images");
  const auto info = images_.info();
  if (info.dtype != "uint8" || info.dims.size() != 4 || info.dims[1] != 3) {
    throw DataError(name + ": /images is " + info.dtype + " " + dims_text(info.dims) +
                    ", expected uint8 [N,3,H,W]");
  }
  n_ = static_cast<int64_t>(info.dims[0]);
  height_ = static_cast<int64_t>(info.dims[2]);
  width_ = static_cast<int64_t>(info.dims[3]);
  labels_ = f.read("/labels");
  if (labels_.scalar_type() != torch::kInt64 || labels_.dim() != 1 || labels_.size(0) != n_) {
    throw DataError(name + ": /labels must be int64 [" + std::to_string(n_) + "], got " +
                    std::to_string(labels_.dim()) + "-d " +
                    std::string(c10::toString(labels_.scalar_type())));
  }
  if (n_ > 0) {
    const int64_t lo = labels_.min().item<int64_t>();
    const int64_t hi = labels_.max().item<int64_t>();
    if (lo < 0 || hi >= num_classes_) {
      const auto bad = ((labels_ < 0) | (labels_ >= num_classes_)).nonzero()[0][0].item<int64_t>();
      throw DataError(name + ": /labels[" + std::to_string(bad) +
                      "] = " + std::to_string(labels_[bad].item<int64_t>()) + " is outside [0, " +
                      std::to_string(num_classes_) + ")");
    }
  }
}

torch::Tensor ImageNetH5::get_u8(const std::vector<int64_t>& indices) const {
  for (int64_t i : indices) {
    if (i < 0 || i >= n_) {
      throw DataError("packed ImageNet '" + file_.string() + "': sample index " +
                      std::to_string(i) + " is outside [0, " + std::to_string(n_) + ")");
    }
  }
  const auto b = static_cast<int64_t>(indices.size());
  auto out = torch::empty({b, 3, height_, width_}, torch::kUInt8);
  std::lock_guard<std::mutex> lock(mu_);
  // One hyperslab read per run of consecutive indices.
  for (int64_t k = 0; k < b;) {
    int64_t run = 1;
    while (k + run < b &&
           indices[static_cast<size_t>(k + run)] == indices[static_cast<size_t>(k)] + run) {
      ++run;
    }
    auto slab = io::per_sample_slab(n_, indices[static_cast<size_t>(k)], run, {3, height_, width_});
    auto dst = out.narrow(0, k, run);
    images_.read_slab(slab, dst);
    k += run;
  }
  return out;
}

Batch ImageNetH5::get(const std::vector<int64_t>& indices) const {
  Batch batch;
  batch.images = get_u8(indices).to(torch::kFloat32).div_(255.0);
  batch.index = torch::tensor(indices, torch::kInt64);
  batch.labels =
      indices.empty() ? torch::empty({0}, torch::kInt64) : labels_.index_select(0, batch.index);
  return batch;
}

std::string ImageNetH5::spec() const { return "imagenet-h5:" + file_.string(); }

std::string ImageNetH5::fingerprint() const {
  std::ostringstream os;
  os << "sfbench imagenet-h5 v" << kPackedImageNetVersion << "\n"
     << n_ << " " << height_ << " " << width_ << " " << num_classes_ << "\n"
     << source_fingerprint_ << "\n";
  return sha256_hex(os.str());
}

void PackConfig::register_keys(ConfigSchema& s) {
  s.add("pack.data", &data, "dataset to pack: imagenet-folder:DIR");
  s.add("pack.labels", &labels, "label file of the folder (empty = DIR/<wnid>/<file> layout)");
  s.add_int("pack.num_classes", &num_classes, "labels must lie in [0, num_classes)", 1, 1000000);
  s.add_int("pack.threads", &threads, "JPEG decoder threads per rank", 1, 256);
  s.add_int("pack.chunk_rows", &chunk_rows, "rows per rank per collective write", 1, 1 << 20);
}

void pack_imagenet(Context& ctx, const ImageNetFolder& folder, const fs::path& out,
                   const PackOptions& options) {
  if (options.chunk_rows < 1) throw ConfigError("pack chunk_rows must be >= 1");
  const int64_t n = folder.size();
  const int64_t side = folder.options().transform.crop;
  const std::vector<int64_t> trailing{3, side, side};
  H5Node file;
  ctx.agree([&] {
    const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
    if (!fs::is_directory(dir)) {
      throw IoError("output directory '" + dir.string() + "' does not exist", ExitCode::kBadInput);
    }
    check_name_length(out);
    // A second pack into `out` is refused at once; what packs that died left of it goes.
    if (ctx.rank() == 0 && lock_output(out)) remove_stale_partials(out);
    std::error_code ec;
    if (fs::exists(out, ec)) {
      bool ours = false;
      if (fs::is_regular_file(out, ec) && H5Node::is_hdf5(out)) {
        try {
          ours = H5Node::open_readonly(out).has_attr("sfbench_packed_imagenet");
        } catch (const Error&) {
          ours = false;
        }
      }
      if (!ours) {
        throw IoError("output '" + out.string() +
                          "' exists and is not a packed ImageNet file; "
                          "refusing to overwrite it",
                      ExitCode::kBadInput);
      }
    }
  });
  // A temporary name unique to this run, created exclusively (no existing file, no symlink).
  const fs::path partial = partial_path(
      out, comm::broadcast_string(ctx.host_comm(), ctx.rank() == 0 ? random_tag() : "", 0));
  ctx.agree([&] { file = H5Node::create_parallel(partial, ctx.mpi_comm()); });
  const std::string source = folder.spec();
  const std::string fp = folder.fingerprint();
  {
    const auto& t = folder.options().transform;
    file.write_attr("sfbench_packed_imagenet", kPackedImageNetVersion);
    file.write_attr("num_classes", folder.num_classes());
    file.write_attr("source", source);
    file.write_attr("source_fingerprint", fp);
    file.write_attr("transform", "resize=" + std::to_string(t.resize) +
                                     " crop=" + std::to_string(t.crop) +
                                     " bilinear antialias; uint8 = round(x * 255)");
  }
  auto images = file.create_dataset(
      "/images", torch::kUInt8,
      {static_cast<uint64_t>(n), 3, static_cast<uint64_t>(side), static_cast<uint64_t>(side)});
  auto labels = file.create_dataset("/labels", torch::kInt64, {static_cast<uint64_t>(n)});
  const Range mine = balanced_range(n, ctx.size(), ctx.rank());
  // Every rank makes the same number of collective writes: as many as the largest share needs.
  const int64_t largest = balanced_range(n, ctx.size(), 0).count;
  const int64_t rounds = (largest + options.chunk_rows - 1) / options.chunk_rows;
  // Rank 0's share is the largest; its rows/s and ETA stand for the job.
  Progress progress("pack-imagenet rows", largest, ctx.rank() == 0);
  try {
    for (int64_t r = 0; r < rounds; ++r) {
      const int64_t begin = std::min(mine.count, r * options.chunk_rows);
      const int64_t rows = std::min(options.chunk_rows, mine.count - begin);
      torch::Tensor pixels;
      ctx.agree([&] {
        std::vector<int64_t> idx(static_cast<size_t>(rows));
        for (int64_t k = 0; k < rows; ++k) idx[static_cast<size_t>(k)] = mine.begin + begin + k;
        pixels = quantize_u8(folder.get(idx).images).contiguous();
      });
      auto slab = io::per_sample_slab(n, mine.begin + begin, rows, trailing);
      images.write_slab(slab, pixels, true);
      progress.advance(rows);
    }
    progress.finish();
    std::vector<int64_t> my_labels(static_cast<size_t>(mine.count));
    for (int64_t k = 0; k < mine.count; ++k)
      my_labels[static_cast<size_t>(k)] = folder.label(mine.begin + k);
    auto lab = torch::tensor(my_labels, torch::kInt64);
    labels.write_slab(io::per_sample_slab(n, mine.begin, mine.count, {}), lab, true);
  } catch (const AgreedError&) {
    // Every rank holds the same error, so every rank can close the file collectively; the
    // .partial file is removed and `out` is untouched.
    images.close();
    labels.close();
    file.close();
    if (ctx.rank() == 0) {
      std::error_code ec;
      fs::remove(partial, ec);
    }
    throw;
  } catch (...) {
    // Other ranks may be gone after an error of this rank alone, so no collective close is
    // attempted: the .partial file is left, `out` untouched.
    images.abandon();
    labels.abandon();
    file.abandon();
    throw;
  }
  images.close();
  labels.close();
  file.flush();
  file.close();  // collective close
  ctx.host_comm().barrier();
  ctx.agree([&] {
    if (ctx.rank() != 0) return;
    std::error_code ec;
    fs::rename(partial, out, ec);
    if (ec) {
      throw IoError("cannot rename '" + partial.string() + "' to '" + out.string() +
                    "': " + ec.message());
    }
  });
}

}  // namespace sfb::data
