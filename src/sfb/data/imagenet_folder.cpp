#include "data/imagenet_folder.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "data/detail/text.hpp"

namespace sfb::data {
namespace fs = std::filesystem;

namespace {

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpeg" || ext == ".jpg";
}

}  // namespace

void parallel_for(int64_t n, int64_t threads, const std::function<void(int64_t)>& fn) {
  const int64_t t = std::max<int64_t>(1, std::min(threads, n));
  if (t <= 1) {
    for (int64_t k = 0; k < n; ++k) fn(k);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex mu;
  auto worker = [&] {
    while (!failed.load()) {
      const int64_t k = next.fetch_add(1);
      if (k >= n) return;
      try {
        fn(k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first) first = std::current_exception();
        failed.store(true);
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(t - 1));
  for (int64_t i = 1; i < t; ++i) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (first) std::rethrow_exception(first);
}

ImageNetFolder::ImageNetFolder(const fs::path& dir, ImageNetFolderOptions options)
    : dir_(dir), options_(std::move(options)) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    throw DataError("ImageNet folder '" + dir_.string() + "' does not exist or is not a folder");
  }
  if (options_.num_classes < 1) {
    throw DataError("ImageNet num_classes must be >= 1, got " +
                    std::to_string(options_.num_classes));
  }
  if (options_.label_file.empty()) {
    scan_class_folders();
  } else {
    load_label_file();
  }
  if (files_.empty()) throw DataError("ImageNet folder '" + dir_.string() + "' has no images");
}

void ImageNetFolder::load_label_file() {
  const fs::path& lf = options_.label_file;
  std::ifstream in(lf);
  if (!in) throw DataError("cannot open ImageNet label file '" + lf.string() + "'");
  identity_ = "label-file " + sha256_file(lf);
  detail::for_each_content_line(in, [&](int64_t line_no, const std::string& t) {
    const std::string where = "label file '" + lf.string() + "' line " + std::to_string(line_no);
    const auto sep = t.find_last_of(" \t");
    if (sep == std::string::npos) {
      throw DataError(where + ": expected '<relative path> <label>', got '" + t + "'");
    }
    const std::string rel = detail::trim(t.substr(0, sep));
    const std::string lab = t.substr(sep + 1);
    int64_t label = 0;
    size_t used = 0;
    try {
      label = std::stoll(lab, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != lab.size() || lab.empty()) {
      throw DataError(where + ": label '" + lab + "' is not an integer");
    }
    if (label < 0 || label >= options_.num_classes) {
      throw DataError(where + ": label " + std::to_string(label) + " is outside [0, " +
                      std::to_string(options_.num_classes) + ")");
    }
    const fs::path full = dir_ / rel;
    std::error_code ec;
    const auto bytes = fs::file_size(full, ec);
    if (ec || !fs::is_regular_file(full)) {
      throw DataError(where + ": image '" + full.string() + "' does not exist");
    }
    files_.push_back(rel);
    labels_.push_back(label);
    sizes_.push_back(bytes);
  });
  if (in.bad()) throw DataError("cannot read ImageNet label file '" + lf.string() + "'");
}

void ImageNetFolder::scan_class_folders() {
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  }
  std::sort(classes.begin(), classes.end());
  if (static_cast<int64_t>(classes.size()) > options_.num_classes) {
    throw DataError(
        "ImageNet folder '" + dir_.string() + "' has " + std::to_string(classes.size()) +
        " class folders, more than num_classes = " + std::to_string(options_.num_classes));
  }
  identity_ = "class-folders";
  for (size_t c = 0; c < classes.size(); ++c) {
    identity_ += "\n" + classes[c];
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_ / classes[c])) {
      if (e.is_regular_file() && is_jpeg_name(e.path()))
        names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      files_.push_back(classes[c] + "/" + n);
      labels_.push_back(static_cast<int64_t>(c));
      sizes_.push_back(fs::file_size(dir_ / classes[c] / n));
    }
  }
}

std::vector<int64_t> ImageNetFolder::image_shape() const {
  return {3, options_.transform.crop, options_.transform.crop};
}

void ImageNetFolder::check_index(int64_t i) const {
  if (i < 0 || i >= size()) {
    throw DataError("ImageNet folder '" + dir_.string() + "': sample index " + std::to_string(i) +
                    " is outside [0, " + std::to_string(size()) + ")");
  }
}

fs::path ImageNetFolder::path(int64_t i) const {
  check_index(i);
  return dir_ / files_[static_cast<size_t>(i)];
}

ImageSize ImageNetFolder::source_size(int64_t i) const { return jpeg_file_size(path(i)); }

torch::Tensor ImageNetFolder::transformed(int64_t i) const {
  const fs::path p = path(i);
  auto rgb = decode_jpeg_file(p);
  try {
    return apply_eval_transform(rgb, options_.transform);
  } catch (const DataError& e) {
    throw DataError("image '" + p.string() + "': " + e.what());
  }
}

Batch ImageNetFolder::get(const std::vector<int64_t>& indices) const {
  for (int64_t i : indices) check_index(i);
  const auto n = static_cast<int64_t>(indices.size());
  const int64_t c = options_.transform.crop;
  Batch b;
  b.images = torch::empty({n, 3, c, c}, torch::kFloat32);
  b.labels = torch::empty({n}, torch::kInt64);
  b.index = torch::tensor(indices, torch::kInt64);
  auto* lab = b.labels.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k)
    lab[k] = labels_[static_cast<size_t>(indices[static_cast<size_t>(k)])];
  parallel_for(n, options_.threads,
               [&](int64_t k) { b.images[k].copy_(transformed(indices[static_cast<size_t>(k)])); });
  return b;
}

std::string ImageNetFolder::spec() const { return "imagenet-folder:" + dir_.string(); }

std::string ImageNetFolder::fingerprint() const {
  std::ostringstream os;
  os << "sfbench imagenet-folder v1\n" << identity_ << "\n";
  os << "resize " << options_.transform.resize << " crop " << options_.transform.crop
     << " num_classes " << options_.num_classes << "\n";
  for (size_t i = 0; i < files_.size(); ++i) {
    os << files_[i] << "\t" << sizes_[i] << "\t" << labels_[i] << "\n";
  }
  return sha256_hex(os.str());
}

}  // namespace sfb::data
