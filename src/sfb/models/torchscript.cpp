#include "models/torchscript.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <system_error>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/output_file.hpp"

namespace sfb::models {
namespace {

constexpr uint64_t kProbeSeed = 20240601;

}  // namespace

TorchScriptModel::TorchScriptModel(const std::filesystem::path& file,
                                   const std::vector<int64_t>& image_shape, std::string spec)
    : spec_(std::move(spec)), file_(file.string()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw DataError("torchscript model " + file_ + ": no such file");
  }
  try {
    module_ = torch::jit::load(file_, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw DataError("torchscript model " + file_ +
                    ": cannot load (not a TorchScript archive?): " + e.what_without_backtrace());
  }
  std::vector<std::string> missing;
  for (const char* m : {"forward", "features", "head"}) {
    if (!module_.find_method(m)) missing.emplace_back(m);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw DataError("torchscript model " + file_ + ": missing method(s) " + list +
                    "; it needs forward, features and head (scripts/export_torchscript.py "
                    "wraps a PyTorch model that way)");
  }
  if (image_shape.size() != 3) {
    throw ConfigError("torchscript model " + file_ + ": image_shape must be {C, H, W}");
  }
  sha256_ = sha256_file(file);
  module_.eval();
  read_protocol();

  auto gen = at::make_generator<at::CPUGeneratorImpl>(kProbeSeed);
  // The probe takes the module's floating-point dtype (a fine-tune in float64 saves float64).
  torch::ScalarType dtype = torch::kFloat32;
  for (const auto& p : module_.parameters()) {
    if (p.is_floating_point()) {
      dtype = p.scalar_type();
      break;
    }
  }
  const torch::Tensor x =
      torch::rand({2, image_shape[0], image_shape[1], image_shape[2]}, gen).to(dtype);
  torch::NoGradGuard no_grad;
  torch::Tensor a, z, ref;
  try {
    a = features(x);
    z = head(a);
    ref = forward(x);
  } catch (const c10::Error& e) {
    throw DataError("torchscript model " + file_ + ": probe batch of shape " + c10::str(x.sizes()) +
                    " failed: " + e.what_without_backtrace());
  }
  if (a.dim() != 2 || a.size(0) != 2) {
    throw DataError("torchscript model " + file_ + ": features() must return [B, k], got " +
                    c10::str(a.sizes()));
  }
  if (z.dim() != 2 || z.size(0) != 2 || !z.sizes().equals(ref.sizes())) {
    throw DataError("torchscript model " + file_ +
                    ": head() and forward() must return [B, C], got " + c10::str(z.sizes()) +
                    " and " + c10::str(ref.sizes()));
  }
  const double diff = (z - ref).abs().max().item<double>();
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  if (!(diff <= kTorchScriptTolerance * scale)) {
    throw DataError("torchscript model " + file_ +
                    ": head(features(x)) differs from forward(x) by " + std::to_string(diff) +
                    " (allowed " + std::to_string(kTorchScriptTolerance * scale) +
                    "); features must be the input of the final linear layer");
  }
  num_features_ = a.size(1);
  num_classes_ = z.size(1);
}

namespace {

torch::jit::Module submodule(const torch::jit::Module& root, const std::string& path) {
  torch::jit::Module m = root;
  size_t begin = 0;
  while (begin <= path.size()) {
    const size_t dot = path.find('.', begin);
    const std::string part =
        path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (part.empty() || !m.hasattr(part) || !m.attr(part).isModule()) {
      throw std::out_of_range(part);
    }
    m = m.attr(part).toModule();
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  return m;
}

std::vector<std::string> string_list(const torch::jit::Module& m, const char* attr) {
  std::vector<std::string> out;
  for (const auto& v : m.attr(attr).toListRef()) out.push_back(v.toStringRef());
  return out;
}

torch::Tensor empty_tensor() { return torch::zeros({0}); }

}  // namespace

void TorchScriptModel::read_protocol() {
  if (!module_.hasattr("sfb_protocol")) return;
  auto bad = [&](const std::string& why) {
    return DataError("torchscript model " + file_ + ": " + why +
                     " (re-export it with scripts/export-model)");
  };
  try {
    protocol_ = module_.attr("sfb_protocol").toInt();
    if (protocol_ != 2) {
      throw bad("sfb_protocol " + std::to_string(protocol_) +
                " is not supported by this build (it reads protocol 2)");
    }
    for (const char* a : {"sfb_layers", "sfb_taps", "sfb_relus", "sfb_export"}) {
      if (!module_.hasattr(a)) throw bad(std::string("protocol 2 without attribute '") + a + "'");
    }
    layers_ = string_list(module_, "sfb_layers");
    const auto taps = string_list(module_, "sfb_taps");
    if (taps.size() != layers_.size()) {
      throw bad("sfb_layers names " + std::to_string(layers_.size()) + " layers but sfb_taps " +
                std::to_string(taps.size()));
    }
    for (const auto& l : layers_) {
      if (l == "features") throw bad("sfb_layers may not name 'features'");
    }
    for (size_t i = 0; i < taps.size(); ++i) {
      torch::jit::Module t;
      try {
        t = submodule(module_, taps[i]);
      } catch (const std::out_of_range&) {
        throw bad("tap module '" + taps[i] + "' of layer '" + layers_[i] + "' does not exist");
      }
      for (const char* a : {"mode", "stored", "value"}) {
        if (!t.hasattr(a)) throw bad("tap module '" + taps[i] + "' has no attribute '" + a + "'");
      }
      taps_.push_back(t);
    }
    for (const auto& path : string_list(module_, "sfb_relus")) {
      torch::jit::Module r;
      try {
        r = submodule(module_, path);
      } catch (const std::out_of_range&) {
        throw bad("ReLU module '" + path + "' does not exist");
      }
      for (const char* a : {"record", "outputs"}) {
        if (!r.hasattr(a)) throw bad("ReLU module '" + path + "' has no attribute '" + a + "'");
      }
      relus_.push_back(r);
    }
    export_record_ = module_.attr("sfb_export").toStringRef();
  } catch (const c10::Error& e) {
    throw bad(std::string("malformed protocol attributes: ") + e.what_without_backtrace());
  }
}

torch::Tensor TorchScriptModel::call(const char* method, const torch::Tensor& x) {
  const bool record = guided_ && std::string(method) != "head";
  if (!record) return module_.get_method(method)({x}).toTensor();
  // Guided backprop (SPEC §5): record every ReLU output of this forward and clamp the gradient
  // arriving at it to >= 0; the ReLU's own backward then applies its input mask.
  for (auto& r : relus_) {
    r.setattr("record", true);
    r.attr("outputs").toList().clear();
  }
  torch::Tensor out;
  try {
    out = module_.get_method(method)({x}).toTensor();
  } catch (...) {
    for (auto& r : relus_) {
      r.setattr("record", false);
      r.attr("outputs").toList().clear();
    }
    throw;
  }
  for (auto& r : relus_) {
    c10::List<c10::IValue> outputs = r.attr("outputs").toList();
    for (const c10::IValue& v : outputs) {
      const torch::Tensor t = v.toTensor();
      if (t.requires_grad()) t.register_hook([](const torch::Tensor& g) { return g.clamp_min(0); });
    }
    outputs.clear();
    r.setattr("record", false);
  }
  return out;
}

torch::Tensor TorchScriptModel::features(const torch::Tensor& x) { return call("features", x); }

torch::Tensor TorchScriptModel::head(const torch::Tensor& a) { return call("head", a); }

torch::Tensor TorchScriptModel::forward(const torch::Tensor& x) { return call("forward", x); }

std::vector<torch::Tensor> TorchScriptModel::parameters() {
  std::vector<torch::Tensor> out;
  for (const auto& p : module_.parameters()) out.push_back(p);
  return out;
}

std::optional<std::pair<torch::Tensor, torch::Tensor>> TorchScriptModel::linear_head() {
  if (protocol_ < 2 || !module_.hasattr("fc") || !module_.attr("fc").isModule()) {
    return std::nullopt;
  }
  const torch::jit::Module fc = module_.attr("fc").toModule();
  const auto type = fc.type()->name();
  if (!type || type->name() != "Linear" || !fc.hasattr("weight") || !fc.hasattr("bias") ||
      !fc.attr("bias").isTensor()) {
    return std::nullopt;
  }
  return std::make_pair(fc.attr("weight").toTensor(), fc.attr("bias").toTensor());
}

std::vector<std::string> TorchScriptModel::layer_names() const {
  std::vector<std::string> names = layers_;
  names.emplace_back("features");
  return names;
}

size_t TorchScriptModel::tap_index(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i] == name) return i;
  }
  std::string valid;
  for (const auto& l : layer_names()) valid += (valid.empty() ? "" : ", ") + l;
  throw ConfigError("torchscript model " + file_ + ": unknown layer '" + name +
                    "'; valid layers: " + valid +
                    (protocol_ < 2 ? " (a protocol-1 file; re-export it with scripts/export-model "
                                     "to tap its convolutional layers)"
                                   : ""));
}

torch::Tensor TorchScriptModel::forward_tapped(const torch::Tensor& x,
                                               const std::vector<std::string>& names,
                                               std::vector<torch::Tensor>& taps) {
  std::vector<size_t> index(names.size(), layers_.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != "features") index[i] = tap_index(names[i]);
  }
  auto reset = [&] {
    for (auto& t : taps_) {
      t.setattr("mode", int64_t{0});
      t.setattr("stored", empty_tensor());
    }
  };
  for (size_t i : index) {
    if (i < taps_.size()) taps_[i].setattr("mode", int64_t{1});
  }
  torch::Tensor a;
  try {
    a = features(x);
  } catch (...) {
    reset();
    throw;
  }
  taps.assign(names.size(), a);
  for (size_t i = 0; i < names.size(); ++i) {
    if (index[i] < taps_.size()) taps[i] = taps_[index[i]].attr("stored").toTensor();
  }
  reset();
  return head(a);
}

torch::Tensor TorchScriptModel::forward_replaced(const torch::Tensor& x, const std::string& name,
                                                 const torch::Tensor& value) {
  if (name == "features") {
    if (value.dim() != 2 || value.size(0) != x.size(0) || value.size(1) != num_features_) {
      throw ConfigError("torchscript model " + file_ +
                        ": replacement for layer 'features' must be [" + std::to_string(x.size(0)) +
                        ", " + std::to_string(num_features_) + "], got " + c10::str(value.sizes()));
    }
    return head(value);
  }
  torch::jit::Module& tap = taps_[tap_index(name)];
  tap.setattr("value", value);
  tap.setattr("mode", int64_t{2});
  torch::Tensor out;
  std::string error;
  try {
    out = forward(x);
  } catch (const std::exception& e) {  // c10::Error, or the tap's own raise (a JITException)
    const torch::Tensor seen = tap.attr("stored").toTensor();
    const auto* ce = dynamic_cast<const c10::Error*>(&e);
    error = seen.numel() > 0 && !seen.sizes().equals(value.sizes())
                ? "replacement for layer '" + name + "' must be " + c10::str(seen.sizes()) +
                      ", got " + c10::str(value.sizes())
                : std::string("forward with layer '") + name +
                      "' replaced failed: " + (ce ? ce->what_without_backtrace() : e.what());
  }
  tap.setattr("mode", int64_t{0});
  tap.setattr("value", empty_tensor());
  tap.setattr("stored", empty_tensor());
  if (!error.empty()) throw ConfigError("torchscript model " + file_ + ": " + error);
  return out;
}

void TorchScriptModel::set_activation(const std::string& kind) {
  if (kind == "relu") {
    guided_ = false;
    return;
  }
  if (kind == "guided-relu") {
    if (relus_.empty()) {
      throw ConfigError(
          "torchscript model " + file_ + ": cannot run guided backprop: " +
          (protocol_ < 2 ? std::string("a protocol-1 file has no switchable ReLUs; re-export it "
                                       "with scripts/export-model")
                         : std::string("the file has no switchable ReLUs (its model has none)")));
    }
    guided_ = true;
    return;
  }
  throw ConfigError("torchscript model " + file_ + ": cannot switch the activation to '" + kind +
                    "' (only 'relu' and 'guided-relu' on files with switchable ReLUs; its other "
                    "nonlinearities are compiled in)");
}

namespace {

std::vector<std::pair<std::string, torch::Tensor>> named(
    const torch::jit::named_parameter_list& list) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : list) out.emplace_back(p.name, p.value);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> named(
    const torch::jit::named_buffer_list& list) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : list) out.emplace_back(p.name, p.value);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> TorchScriptModel::named_parameters() const {
  return named(module_.named_parameters(/*recurse=*/true));
}

std::vector<std::pair<std::string, torch::Tensor>> TorchScriptModel::named_buffers() const {
  return named(module_.named_buffers(/*recurse=*/true));
}

void TorchScriptModel::save(const std::filesystem::path& file,
                            const std::unordered_map<std::string, std::string>& extra) const {
  NewFile out(file);  // exclusive temporary file, removed unless committed
  NewFileBuf buf(out);
  std::ostream os(&buf);
  try {
    torch::jit::Module copy = module_.clone();
    copy.to(torch::Device(torch::kCPU));
    copy.eval();
    copy.save(os, extra);
  } catch (const c10::Error& e) {
    throw IoError("cannot write " + file.string() + " (via " + out.path().string() + "): " +
                  (out.error() != 0 ? std::string(std::strerror(out.error()))
                                    : std::string(e.what_without_backtrace())));
  }
  if (!os) {
    throw IoError("cannot write " + file.string() + " (via " + out.path().string() +
                  "): " + std::strerror(out.error() != 0 ? out.error() : EIO));
  }
  out.commit();
}

void TorchScriptModel::load_state(const std::filesystem::path& file,
                                  std::unordered_map<std::string, std::string>& extra) {
  torch::jit::Module other;
  torch::jit::ExtraFilesMap files;
  for (const auto& kv : extra) files.emplace(kv.first, "");
  try {
    other = torch::jit::load(file.string(), torch::Device(torch::kCPU), files);
  } catch (const c10::Error& e) {
    throw DataError("torchscript model " + file.string() +
                    ": cannot load (not a TorchScript archive?): " + e.what_without_backtrace());
  }
  auto copy = [&](const std::vector<std::pair<std::string, torch::Tensor>>& mine,
                  const std::vector<std::pair<std::string, torch::Tensor>>& theirs,
                  const char* what) {
    for (size_t i = 0; i < std::max(mine.size(), theirs.size()); ++i) {
      if (i >= theirs.size()) {
        throw DataError("torchscript model " + file.string() + ": lacks " + what + " '" +
                        mine[i].first + "' of " + file_);
      }
      if (i >= mine.size() || mine[i].first != theirs[i].first) {
        throw DataError("torchscript model " + file.string() + ": unexpected " + what + " '" +
                        theirs[i].first + "' (not in " + file_ + ")");
      }
      if (!mine[i].second.sizes().equals(theirs[i].second.sizes())) {
        throw DataError("torchscript model " + file.string() + ": " + what + " '" +
                        theirs[i].first + "' is " + c10::str(theirs[i].second.sizes()) + ", " +
                        file_ + " has " + c10::str(mine[i].second.sizes()));
      }
    }
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < mine.size(); ++i) mine[i].second.copy_(theirs[i].second);
  };
  copy(named_parameters(), named(other.named_parameters(true)), "parameter");
  copy(named_buffers(), named(other.named_buffers(true)), "buffer");
  for (auto it = extra.begin(); it != extra.end();) {
    const auto f = files.find(it->first);
    if (f == files.end() || f->second.empty()) {
      it = extra.erase(it);
    } else {
      it->second = f->second;
      ++it;
    }
  }
}

}  // namespace sfb::models
