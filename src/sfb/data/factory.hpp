#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace sfb::data {

/// Options shared by every dataset spec (filled from the config / command line).
struct DataOptions {
  Split split = Split::kTrain;  ///< --split train|test
  uint64_t seed = 0;            ///< run seed (keys generated data)
  /// Restriction to part of the dataset: "" = all samples, "N" or "first:N" = the first N,
  /// "file:PATH" = the indices listed in PATH (one per line, see SubsetDataset::from_file).
  std::string subset;
  int64_t image_size = 32;   ///< synthetic-shapes: image height = width
  int64_t num_classes = 10;  ///< synthetic-shapes: number of classes
  /// CIFAR: records expected per file; 0 = the official counts (tests use small files).
  int64_t cifar_records_per_file = 0;
  /// imagenet-folder: label file ("" = the DIR/<wnid>/<file> layout); the folder is one split.
  std::string imagenet_labels;
  int64_t imagenet_num_classes = 1000;  ///< imagenet-folder: labels lie in [0, this)
  int64_t decode_threads = 4;           ///< imagenet-folder: JPEG decoder threads per rank
};

/// Opens the dataset named by the argument part of a spec (text after the first ':', empty when
/// the spec has none) with the given options.
using DatasetOpener =
    std::function<std::unique_ptr<Dataset>(const std::string& arg, const DataOptions& opts)>;

/// One row of the spec table: a kind ("cifar10"), its documented form ("cifar10:DIR") and opener.
struct DatasetKind {
  std::string kind;
  std::string form;
  DatasetOpener open;
};

/// The spec table make_dataset() parses with, in the order the valid forms are listed:
/// synthetic-shapes[:n], cifar10:DIR, cifar100:DIR, imagenet-folder:DIR, imagenet-h5:FILE. A new
/// reader is one more row in factory.cpp's table.
const std::vector<DatasetKind>& dataset_kinds();

/// Builds a dataset from a spec "kind[:arg]" (see dataset_kinds()), then applies opts.subset.
/// Throws ConfigError listing the valid forms for an unknown kind or a malformed argument (e.g. a
/// non-numeric n, a missing DIR), and DataError from the reader for bad files.
std::unique_ptr<Dataset> make_dataset(const std::string& spec, const DataOptions& opts);

/// Parses "train" / "test" (ConfigError naming the value otherwise).
Split parse_split(const std::string& s);

}  // namespace sfb::data
