#pragma once
#include <memory>
#include <string>

#include "comm/context.hpp"
#include "core/config.hpp"
#include "data/dataset.hpp"
#include "data/factory.hpp"
#include "io/results_file.hpp"
#include "models/classifier.hpp"
#include "models/native_model.hpp"

namespace sfb::pipeline {

/// What a run reads: the dataset and model spec strings (DESIGN.md "Command line") and the
/// reader options. Top-level keys data, model, split, subset; section [imagenet].
struct InputConfig {
  std::string data;             ///< --data spec, e.g. "synthetic-shapes:1000", "cifar10:DIR"
  std::string model;            ///< --model spec, e.g. "zoo:cnn-small", "torchscript:m.pt"
  std::string split = "train";  ///< --split train|test
  std::string subset;           ///< "" | N | first:N | file:PATH
  std::string imagenet_labels;  ///< imagenet-folder label file ("" = DIR/<wnid>/<file>)
  int64_t imagenet_num_classes = 1000;
  int64_t decode_threads = 4;
  /// Registers the keys in `schema`.
  void register_keys(ConfigSchema& schema);
};

/// Opens the configured dataset on every rank (seeded by `seed`). Collective: an error on any
/// rank (bad spec, missing file) becomes an AgreedError with exit code 2.
std::unique_ptr<data::Dataset> open_dataset(Context& ctx, const InputConfig& in, uint64_t seed);

/// ModelOptions matching a dataset: its classes and image shape, and the normalization statistics
/// of its family (ImageNet, CIFAR-100, otherwise CIFAR-10's).
models::ModelOptions model_options_for(const data::Dataset& ds, const InputConfig& in,
                                       uint64_t seed);

/// Puts every 4-D parameter (convolution weight) of `model` in the channels-last (NHWC) memory
/// format; convolutions then produce channels-last activations (CommonConfig::channels_last).
/// Models without trainable parameters (frozen TorchScript) are left as they are.
void to_channels_last(models::Classifier& model);

/// Builds the configured model on every rank, on `ctx.device()`, in eval mode. Collective like
/// open_dataset(); a TorchScript file without features/head or a spec that does not parse is
/// an AgreedError with exit code 2.
std::shared_ptr<models::Classifier> open_model(Context& ctx, const InputConfig& in,
                                               const models::ModelOptions& options);

/// Writes the /dataset and /model groups of the results contract (DESIGN.md): spec, split, n,
/// num_classes, image_shape, masks, sha256 / spec, arch, num_classes, num_features, parameters,
/// sha256; and the same objects under "dataset" and "model" in the summary. Either pointer may be
/// null. Collective.
void record_inputs(io::ResultsFile& rf, const InputConfig& in, const data::Dataset* ds,
                   models::Classifier* model);

/// The description record_inputs() writes, as JSON objects (for tables and --json output). A
/// TorchScript model adds "protocol", "switchable_relus" and, when the file has one, "export".
nlohmann::json describe_dataset(const data::Dataset& ds, const InputConfig& in);
nlohmann::json describe_model(models::Classifier& model);

}  // namespace sfb::pipeline
