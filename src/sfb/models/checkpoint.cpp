#include "models/checkpoint.hpp"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <system_error>
#include <vector>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/output_file.hpp"
#include "models/state_dict.hpp"
#include "models/torch_save.hpp"
#include "models/zoo.hpp"

namespace sfb::models {
namespace {

constexpr int64_t kFormatVersion = 1;
const char* const kFormatKey = "sfbench_checkpoint";
const char* const kModelKey = "model";

std::string shape_str(const torch::Tensor& t) { return c10::str(t.sizes()); }

DataError bad_file(const std::filesystem::path& file, const std::string& why) {
  return DataError("checkpoint " + file.string() + ": " + why);
}

/// Opens `file` as a LibTorch archive on the CPU; DataError when it cannot be parsed.
void open_archive(const std::filesystem::path& file, torch::serialize::InputArchive& archive) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw bad_file(file, "no such file");
  try {
    archive.load_from(file.string(), torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw bad_file(file, std::string("not a readable LibTorch archive (truncated or corrupt?): ") +
                             e.what_without_backtrace());
  }
}

c10::IValue read_value(torch::serialize::InputArchive& archive, const std::string& key,
                       const std::filesystem::path& file) {
  c10::IValue v;
  if (!archive.try_read(key, v)) throw bad_file(file, "missing entry '" + key + "'");
  return v;
}

CheckpointInfo read_info(torch::serialize::InputArchive& archive,
                         const std::filesystem::path& file) {
  c10::IValue version;
  if (!archive.try_read(kFormatKey, version) || !version.isInt()) {
    throw bad_file(file, "not an sfbench checkpoint (no '" + std::string(kFormatKey) + "' entry)");
  }
  if (version.toInt() != kFormatVersion) {
    throw bad_file(file, "format version " + std::to_string(version.toInt()) +
                             " is not supported (this build reads " +
                             std::to_string(kFormatVersion) + ")");
  }
  try {
    CheckpointInfo info;
    info.arch = read_value(archive, "arch", file).toStringRef();
    info.config_toml = read_value(archive, "config_toml", file).toStringRef();
    info.epoch = read_value(archive, "epoch", file).toInt();
    ModelOptions& o = info.options;
    o.num_classes = read_value(archive, "num_classes", file).toInt();
    o.image_shape = read_value(archive, "image_shape", file).toIntVector();
    o.mean = read_value(archive, "mean", file).to<std::vector<double>>();
    o.std = read_value(archive, "std", file).to<std::vector<double>>();
    o.activation = read_value(archive, "activation", file).toStringRef();
    o.seed = static_cast<uint64_t>(read_value(archive, "seed", file).toInt());
    return info;
  } catch (const c10::Error& e) {
    throw bad_file(file, std::string("malformed metadata: ") + e.what_without_backtrace());
  }
}

/// Copies every parameter and buffer of `model` from `archive` (nested per submodule, as
/// Module::save writes it), checking presence and shape first.
void copy_tensors(NativeModel& model, torch::serialize::InputArchive& archive,
                  const std::filesystem::path& file) {
  auto fetch = [&](const std::string& dotted, bool is_buffer) {
    torch::serialize::InputArchive* node = &archive;
    std::vector<torch::serialize::InputArchive> path;
    path.reserve(dotted.size());
    std::size_t start = 0;
    for (std::size_t dot = dotted.find('.'); dot != std::string::npos;
         start = dot + 1, dot = dotted.find('.', start)) {
      path.emplace_back();
      if (!node->try_read(dotted.substr(start, dot - start), path.back())) {
        throw bad_file(file, "no tensor '" + dotted + "' (written by another architecture?)");
      }
      node = &path.back();
    }
    torch::Tensor t;
    if (!node->try_read(dotted.substr(start), t, is_buffer)) {
      throw bad_file(file, "no tensor '" + dotted + "' (written by another architecture?)");
    }
    return t;
  };
  torch::NoGradGuard no_grad;
  auto load_all = [&](const auto& named, bool is_buffer) {
    for (const auto& item : named) {
      const torch::Tensor src = fetch(item.key(), is_buffer);
      torch::Tensor dst = item.value();
      if (!src.sizes().equals(dst.sizes())) {
        throw bad_file(file, "tensor '" + item.key() + "' has shape " + shape_str(src) +
                                 ", model " + model.arch() + " expects " + shape_str(dst));
      }
      dst.copy_(src);
    }
  };
  load_all(model.named_parameters(), false);
  load_all(model.named_buffers(), true);
}

}  // namespace

void save_checkpoint(const std::filesystem::path& file, NativeModel& model,
                     const std::string& config_toml, int64_t epoch, const std::string& extra_key,
                     torch::serialize::OutputArchive* extra) {
  const ModelOptions& o = model.options();
  torch::serialize::OutputArchive archive;
  archive.write(kFormatKey, c10::IValue(kFormatVersion));
  archive.write("arch", c10::IValue(model.arch()));
  archive.write("config_toml", c10::IValue(config_toml));
  archive.write("epoch", c10::IValue(epoch));
  archive.write("num_classes", c10::IValue(o.num_classes));
  archive.write("image_shape", c10::IValue(o.image_shape));
  archive.write("mean", c10::IValue(o.mean));
  archive.write("std", c10::IValue(o.std));
  archive.write("activation", c10::IValue(o.activation));
  archive.write("seed", c10::IValue(static_cast<int64_t>(o.seed)));
  torch::serialize::OutputArchive weights;
  model.save(weights);
  archive.write(kModelKey, weights);
  if (extra != nullptr && !extra_key.empty()) archive.write(extra_key, *extra);

  NewFile out(file);  // exclusive temporary file, removed unless committed
  try {
    archive.save_to([&out](const void* data, size_t n) { return out.try_write(data, n) ? n : 0; });
  } catch (const c10::Error& e) {
    throw IoError("checkpoint " + file.string() + ": cannot write " + out.path().string() + ": " +
                  (out.error() != 0 ? std::string(std::strerror(out.error()))
                                    : std::string(e.what_without_backtrace())));
  }
  out.commit();
}

bool is_sfbench_checkpoint(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return false;
  try {
    // A TorchScript checkpoint of `sfbench train` carries extra files under "sfbench/".
    caffe2::serialize::PyTorchStreamReader reader(file.string());
    for (const auto& r : reader.getAllRecords()) {
      if (r.rfind("extra/sfbench/", 0) == 0) return true;
    }
  } catch (const c10::Error&) {
    return false;  // not a LibTorch archive at all
  }
  try {
    read_checkpoint_info(file);  // a native checkpoint: the format entry
    return true;
  } catch (const Error&) {
    return false;
  }
}

CheckpointInfo read_checkpoint_info(const std::filesystem::path& file) {
  torch::serialize::InputArchive archive;
  open_archive(file, archive);
  return read_info(archive, file);
}

std::shared_ptr<NativeModel> load_checkpoint(const std::filesystem::path& file,
                                             CheckpointInfo* info) {
  torch::serialize::InputArchive archive;
  open_archive(file, archive);
  CheckpointInfo meta = read_info(archive, file);
  std::shared_ptr<NativeModel> model;
  try {
    model = make_zoo_model(meta.arch, meta.options);
  } catch (const ConfigError& e) {
    throw bad_file(file, std::string("cannot rebuild its model: ") + e.what());
  }
  torch::serialize::InputArchive weights;
  if (!archive.try_read(kModelKey, weights)) throw bad_file(file, "no 'model' weights");
  copy_tensors(*model, weights, file);
  model->set_name("checkpoint:" + file.string());
  model->set_weights_sha256(sha256_file(file));
  model->eval();
  if (info != nullptr) *info = std::move(meta);
  return model;
}

void load_weights(NativeModel& model, const std::filesystem::path& file) {
  if (is_torch_save_file(file)) {
    load_state_dict_file(model, file);  // a state_dict from Python's torch.save
    return;
  }
  torch::serialize::InputArchive archive;
  open_archive(file, archive);
  c10::IValue version;
  if (archive.try_read(kFormatKey, version)) {
    const CheckpointInfo meta = read_info(archive, file);
    if (meta.arch != model.arch()) {
      throw bad_file(
          file, "holds a '" + meta.arch + "' model, cannot load it into '" + model.arch() + "'");
    }
    torch::serialize::InputArchive weights;
    if (!archive.try_read(kModelKey, weights)) throw bad_file(file, "no 'model' weights");
    copy_tensors(model, weights, file);
  } else {
    copy_tensors(model, archive, file);
  }
  model.set_weights_sha256(sha256_file(file));
}

}  // namespace sfb::models
