#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/classifier.hpp"
#include "models/native_model.hpp"

namespace sfb::models {

/// The spec forms make_model() accepts, for help texts and error messages.
std::vector<std::string> model_spec_forms();

/// Builds the classifier named by `spec` (DESIGN.md "Command line"):
///   zoo:NAME           native architecture NAME (zoo_names()), random init seeded by o.seed
///   zoo:NAME@FILE      the same, weights from FILE (an sfbench checkpoint of NAME or an archive
///                      written by torch::save of the module)
///   torchscript:FILE   a TorchScript module with forward/features/head (o.image_shape sizes the
///                      load-time probe; the other options are the module's business)
///   checkpoint:FILE    an sfbench checkpoint; its stored options replace `o`
/// The model is on the CPU in eval mode; name() returns `spec`. Throws ConfigError listing the
/// valid forms and zoo names for a spec that does not parse or an unknown zoo name, DataError
/// (exit code 2) for a missing or bad file.
std::shared_ptr<Classifier> make_model(const std::string& spec, const ModelOptions& o);

}  // namespace sfb::models
