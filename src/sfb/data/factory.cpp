#include "data/factory.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>

#include "core/error.hpp"
#include "data/cifar.hpp"
#include "data/imagenet_folder.hpp"
#include "data/imagenet_h5.hpp"
#include "data/subset.hpp"
#include "data/synthetic_shapes.hpp"

namespace sfb::data {
namespace {

std::string valid_forms() {
  std::string s;
  for (const auto& k : dataset_kinds()) s += (s.empty() ? "" : ", ") + k.form;
  return s;
}

// A non-negative decimal integer, or -1 when `text` is not one.
int64_t parse_count(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  return errno == ERANGE ? -1 : static_cast<int64_t>(v);
}

std::unique_ptr<Dataset> open_synthetic(const std::string& arg, const DataOptions& opts) {
  SyntheticShapesOptions o;
  o.split = opts.split;
  o.seed = opts.seed;
  o.image_size = opts.image_size;
  o.num_classes = opts.num_classes;
  if (!arg.empty()) {
    o.n = parse_count(arg);
    if (o.n < 0) {
      throw ConfigError(
          fmt::format("data spec 'synthetic-shapes:{}': n must be a non-negative "
                      "integer; valid forms: {}",
                      arg, valid_forms()));
    }
  }
  return std::make_unique<SyntheticShapes>(o);
}

std::unique_ptr<Dataset> open_cifar(CifarKind kind, const std::string& arg,
                                    const DataOptions& opts) {
  if (arg.empty()) {
    throw ConfigError(fmt::format("data spec '{}' needs a directory; valid forms: {}",
                                  kind == CifarKind::kCifar10 ? "cifar10" : "cifar100",
                                  valid_forms()));
  }
  CifarOptions o;
  o.kind = kind;
  o.split = opts.split;
  o.records_per_file = opts.cifar_records_per_file;
  return std::make_unique<CifarDataset>(arg, o);
}

void require_path(const char* kind, const std::string& arg) {
  if (arg.empty()) {
    throw ConfigError(
        fmt::format("data spec '{}' needs a path; valid forms: {}", kind, valid_forms()));
  }
}

std::unique_ptr<Dataset> open_imagenet_folder(const std::string& arg, const DataOptions& opts) {
  require_path("imagenet-folder", arg);
  ImageNetFolderOptions o;
  o.label_file = opts.imagenet_labels;
  o.num_classes = opts.imagenet_num_classes;
  o.threads = opts.decode_threads;
  return std::make_unique<ImageNetFolder>(arg, o);
}

std::unique_ptr<Dataset> open_imagenet_h5(const std::string& arg, const DataOptions&) {
  require_path("imagenet-h5", arg);
  return std::make_unique<ImageNetH5>(arg);
}

std::unique_ptr<Dataset> apply_subset(std::unique_ptr<Dataset> ds, const std::string& subset) {
  if (subset.empty()) return ds;
  const std::string first = subset.rfind("first:", 0) == 0 ? subset.substr(6) : subset;
  if (const int64_t n = parse_count(first); n >= 0) return SubsetDataset::first(std::move(ds), n);
  if (subset.rfind("file:", 0) == 0 && subset.size() > 5) {
    return SubsetDataset::from_file(std::move(ds), subset.substr(5));
  }
  throw ConfigError(fmt::format("data subset '{}': expected N, first:N or file:PATH", subset));
}

}  // namespace

const std::vector<DatasetKind>& dataset_kinds() {
  // One row per reader.
  static const std::vector<DatasetKind> kinds = {
      {"synthetic-shapes", "synthetic-shapes[:n]", open_synthetic},
      {"cifar10", "cifar10:DIR",
       [](const std::string& a, const DataOptions& o) {
         return open_cifar(CifarKind::kCifar10, a, o);
       }},
      {"cifar100", "cifar100:DIR",
       [](const std::string& a, const DataOptions& o) {
         return open_cifar(CifarKind::kCifar100, a, o);
       }},
      {"imagenet-folder", "imagenet-folder:DIR", open_imagenet_folder},
      {"imagenet-h5", "imagenet-h5:FILE", open_imagenet_h5},
  };
  return kinds;
}

std::unique_ptr<Dataset> make_dataset(const std::string& spec, const DataOptions& opts) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  for (const auto& k : dataset_kinds()) {
    if (k.kind == kind) return apply_subset(k.open(arg, opts), opts.subset);
  }
  throw ConfigError(fmt::format("unknown data spec '{}'; valid forms: {}", spec, valid_forms()));
}

Split parse_split(const std::string& s) {
  if (s == "train") return Split::kTrain;
  if (s == "test") return Split::kTest;
  throw ConfigError(fmt::format("split '{}': expected train or test", s));
}

}  // namespace sfb::data
