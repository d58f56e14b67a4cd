#include "models/factory.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "models/checkpoint.hpp"
#include "models/torchscript.hpp"
#include "models/zoo.hpp"

namespace sfb::models {
namespace {

[[noreturn]] void bad_spec(const std::string& spec, const std::string& why) {
  std::string forms, names;
  for (const auto& f : model_spec_forms()) forms += (forms.empty() ? "" : ", ") + f;
  for (const auto& n : zoo_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError("model spec '" + spec + "': " + why + "; valid forms: " + forms +
                    "; zoo names: " + names);
}

}  // namespace

std::vector<std::string> model_spec_forms() {
  return {"zoo:NAME", "zoo:NAME@FILE", "torchscript:FILE", "checkpoint:FILE"};
}

std::shared_ptr<Classifier> make_model(const std::string& spec, const ModelOptions& o) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) bad_spec(spec, "no 'kind:' prefix");
  const std::string kind = spec.substr(0, colon);
  const std::string rest = spec.substr(colon + 1);
  if (rest.empty()) bad_spec(spec, "nothing after '" + kind + ":'");

  if (kind == "zoo") {
    const auto at = rest.find('@');
    const std::string arch = rest.substr(0, at);
    const auto names = zoo_names();
    if (std::find(names.begin(), names.end(), arch) == names.end()) {
      bad_spec(spec, "unknown zoo model '" + arch + "'");
    }
    auto model = make_zoo_model(arch, o);
    if (at != std::string::npos) {
      const std::string file = rest.substr(at + 1);
      if (file.empty()) bad_spec(spec, "no weights file after '@'");
      load_weights(*model, file);
    }
    model->set_name(spec);
    model->eval();
    return model;
  }
  if (kind == "torchscript") {
    return std::make_shared<TorchScriptModel>(rest, o.image_shape, spec);
  }
  if (kind == "checkpoint") {
    auto model = load_checkpoint(rest);
    model->set_name(spec);
    return model;
  }
  bad_spec(spec, "unknown kind '" + kind + "'");
}

}  // namespace sfb::models
