#include "pipeline/inputs.hpp"

#include "models/factory.hpp"
#include "models/torchscript.hpp"

namespace sfb::pipeline {

void InputConfig::register_keys(ConfigSchema& s) {
  s.add("data", &data,
        "dataset spec: synthetic-shapes[:n] | cifar10:DIR | cifar100:DIR | "
        "imagenet-folder:DIR | imagenet-h5:FILE");
  s.add("model", &model, "model spec: zoo:NAME[@FILE] | torchscript:FILE | checkpoint:FILE");
  s.add("split", &split, "dataset split", {"train", "test"});
  s.add("subset", &subset, "samples to use: empty (all), N, first:N or file:PATH");
  s.add("imagenet.labels", &imagenet_labels, "label file of an imagenet-folder dataset");
  s.add_int("imagenet.num_classes", &imagenet_num_classes, "classes of ImageNet data", 1, 1000000);
  s.add_int("imagenet.decode_threads", &decode_threads, "JPEG decoder threads per rank", 1, 256);
}

std::unique_ptr<data::Dataset> open_dataset(Context& ctx, const InputConfig& in, uint64_t seed) {
  std::unique_ptr<data::Dataset> ds;
  ctx.agree([&] {
    if (in.data.empty()) throw ConfigError("no dataset given (--data or config key 'data')");
    data::DataOptions o;
    o.split = data::parse_split(in.split);
    o.seed = seed;
    o.subset = in.subset;
    o.imagenet_labels = in.imagenet_labels;
    o.imagenet_num_classes = in.imagenet_num_classes;
    o.decode_threads = in.decode_threads;
    ds = data::make_dataset(in.data, o);
  });
  return ds;
}

models::ModelOptions model_options_for(const data::Dataset& ds, const InputConfig& in,
                                       uint64_t seed) {
  models::ModelOptions o = in.data.rfind("imagenet", 0) == 0   ? models::imagenet_options()
                           : in.data.rfind("cifar100", 0) == 0 ? models::cifar100_options()
                                                               : models::cifar10_options();
  o.num_classes = ds.num_classes();
  o.image_shape = ds.image_shape();
  o.seed = seed;
  return o;
}

void to_channels_last(models::Classifier& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

std::shared_ptr<models::Classifier> open_model(Context& ctx, const InputConfig& in,
                                               const models::ModelOptions& options) {
  std::shared_ptr<models::Classifier> m;
  ctx.agree([&] {
    if (in.model.empty()) throw ConfigError("no model given (--model or config key 'model')");
    m = models::make_model(in.model, options);
    m->to(ctx.device());
    m->train(false);
    if (ctx.channels_last()) to_channels_last(*m);
  });
  return m;
}

nlohmann::json describe_dataset(const data::Dataset& ds, const InputConfig& in) {
  return {{"spec", ds.spec()},
          {"split", in.split},
          {"n", ds.size()},
          {"num_classes", ds.num_classes()},
          {"image_shape", ds.image_shape()},
          {"masks", ds.has_masks()},
          {"sha256", ds.fingerprint()}};
}

nlohmann::json describe_model(models::Classifier& model) {
  int64_t params = 0;
  for (const auto& t : model.parameters()) params += t.numel();
  nlohmann::json d = {{"spec", model.name()},
                      {"arch", model.arch()},
                      {"num_classes", model.num_classes()},
                      {"num_features", model.num_features()},
                      {"parameters", params},
                      {"layers", model.layer_names()},
                      {"sha256", model.fingerprint()}};
  if (const auto* ts = dynamic_cast<const models::TorchScriptModel*>(&model)) {
    // What the file offers (docs/usage.md, "TorchScript models"): the protocol, the ReLUs that
    // guided backprop can switch, and the export record of scripts/export_torchscript.py.
    d["protocol"] = ts->protocol();
    d["switchable_relus"] = ts->num_switchable_relus();
    if (!ts->export_record().empty()) {
      nlohmann::json e = nlohmann::json::parse(ts->export_record(), nullptr, false);
      d["export"] = e.is_discarded() ? nlohmann::json(ts->export_record()) : e;
    }
  }
  return d;
}

void record_inputs(io::ResultsFile& rf, const InputConfig& in, const data::Dataset* ds,
                   models::Classifier* model) {
  if (ds) {
    const auto d = describe_dataset(*ds, in);
    rf.set_attr("/dataset", "spec", d["spec"].get<std::string>());
    rf.set_attr("/dataset", "split", in.split);
    rf.set_attr("/dataset", "n", ds->size());
    rf.set_attr("/dataset", "num_classes", ds->num_classes());
    rf.set_attr("/dataset", "image_shape", ds->image_shape());
    rf.set_attr("/dataset", "masks", static_cast<int64_t>(ds->has_masks()));
    rf.set_attr("/dataset", "sha256", d["sha256"].get<std::string>());
    rf.summary()["dataset"] = d;
  }
  if (model) {
    const auto m = describe_model(*model);
    rf.set_attr("/model", "spec", model->name());
    rf.set_attr("/model", "arch", model->arch());
    rf.set_attr("/model", "num_classes", model->num_classes());
    rf.set_attr("/model", "num_features", model->num_features());
    rf.set_attr("/model", "parameters", m["parameters"].get<int64_t>());
    rf.set_attr("/model", "sha256", m["sha256"].get<std::string>());
    rf.summary()["model"] = m;
  }
}

}  // namespace sfb::pipeline
