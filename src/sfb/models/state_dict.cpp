#include "models/state_dict.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "models/torch_save.hpp"

namespace sfb::models {
namespace {

DataError bad_state_dict(const std::filesystem::path& file, const std::string& why) {
  return DataError("state_dict " + file.string() + ": " + why);
}

/// One renaming rule: a key matching `pattern` becomes `replacement` ($1 to $9: its groups); an
/// empty replacement drops the key.
struct Rule {
  std::regex pattern;
  std::string replacement;
};

/// A layout: its description, the key that identifies it, and its renaming rules (first match
/// wins; a key no rule matches keeps its name and is reported when the model has no such tensor).
struct Layout {
  StateDictLayout info;
  std::string marker;                ///< a key only this layout has
  std::vector<Rule> rules;           ///< published name -> native name
  std::vector<double> mean, stddev;  ///< normalization when the file has none; empty: keep
};

Rule rule(const std::string& pattern, std::string replacement) {
  return {std::regex(pattern), std::move(replacement)};
}

/// The rules of DeepMind's pre-activation blocks (dm_wide_resnet.py): the file's group g, block i
/// (keys `<head>g<tail>`, the block index captured by `tail`) -> native block{g+1}.i; batchnorm_0,
/// batchnorm_1 -> bn1, bn2; the convolutions `conv1`, `conv2` (the file's names) -> conv1, conv2;
/// shortcut -> shortcut.
void add_dm_block_rules(Layout& l, int groups, const std::string& head, const std::string& tail,
                        const std::string& conv1, const std::string& conv2) {
  for (int g = 0; g < groups; ++g) {
    const std::string from = head + std::to_string(g) + tail;
    const std::string to = "block" + std::to_string(g + 1) + ".$1.";
    l.rules.push_back(rule(from + R"(batchnorm_0\.(\w+)$)", to + "bn1.$2"));
    l.rules.push_back(rule(from + conv1 + R"(\.weight$)", to + "conv1.weight"));
    l.rules.push_back(rule(from + R"(batchnorm_1\.(\w+)$)", to + "bn2.$2"));
    l.rules.push_back(rule(from + conv2 + R"(\.weight$)", to + "conv2.weight"));
    l.rules.push_back(rule(from + R"(shortcut\.weight$)", to + "shortcut.weight"));
  }
}

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> kLayouts = [] {
    std::vector<Layout> v;
    v.push_back(
        {{"robustbench-wrn",
          "RobustBench model_zoo/architectures/wide_resnet.py WideResNet",
          {"wrn-28-10", "wrn-34-10"}},
         "block1.layer.0.conv1.weight",
         {rule(R"(^block([1-3])\.layer\.(\d+)\.(bn1|conv1|bn2|conv2)\.(\w+)$)", "block$1.$2.$3.$4"),
          rule(R"(^block([1-3])\.layer\.(\d+)\.convShortcut\.weight$)",
               "block$1.$2.shortcut.weight"),
          rule(R"(^sub_block1\..*$)", ""), rule(R"(^bn1\.(\w+)$)", "bn.$1"),
          rule(R"(^mu$)", "mean"), rule(R"(^sigma$)", "std")},
         {0.0, 0.0, 0.0},
         {1.0, 1.0, 1.0}});
    v.push_back(
        {{"robustbench-preact",
          "RobustBench model_zoo/architectures/resnet.py PreActResNet (bn_before_fc)",
          {"preact-resnet-18"}},
         "linear.weight",
         {rule(R"(^layer([1-4])\.(\d+)\.(bn1|conv1|bn2|conv2)\.(\w+)$)", "block$1.$2.$3.$4"),
          rule(R"(^layer([1-4])\.(\d+)\.shortcut\.0\.weight$)", "block$1.$2.shortcut.weight"),
          rule(R"(^linear\.(weight|bias)$)", "fc.$1"), rule(R"(^mu$)", "mean"),
          rule(R"(^sigma$)", "std")},
         {0.0, 0.0, 0.0},
         {1.0, 1.0, 1.0}});
    v.push_back({{"torchvision-resnet",
                  "torchvision models/resnet.py resnet18/34/50",
                  {"resnet-18", "resnet-34", "resnet-50"}},
                 "layer1.0.conv1.weight",
                 {},
                 kImageNetMean,
                 kImageNetStd});
    Layout dm{{"deepmind-wrn",
               "RobustBench model_zoo/architectures/dm_wide_resnet.py DMWideResNet",
               {"dm-wrn-28-10", "dm-wrn-70-16"}},
              "init_conv.weight",
              {rule(R"(^init_conv\.weight$)", "conv1.weight"),
               rule(R"(^batchnorm\.(\w+)$)", "bn.$1"), rule(R"(^logits\.(weight|bias)$)", "fc.$1")},
              {},
              {}};
    add_dm_block_rules(dm, 3, R"(^layer\.)", R"(\.block\.(\d+)\.)", "conv_0", "conv_1");
    v.push_back(std::move(dm));
    Layout dmp{
        {"deepmind-preact",
         "RobustBench model_zoo/architectures/dm_wide_resnet.py DMPreActResNet",
         {"dm-preact-resnet-18"}},
        "conv_2d.weight",
        {rule(R"(^conv_2d\.weight$)", "conv1.weight"), rule(R"(^batchnorm\.(\w+)$)", "bn.$1"),
         rule(R"(^logits\.(weight|bias)$)", "fc.$1")},
        {},
        {}};
    add_dm_block_rules(dmp, 4, R"(^layer_)", R"(\.(\d+)\.)", "conv_2d_1", "conv_2d_2");
    v.push_back(std::move(dmp));
    return v;
  }();
  return kLayouts;
}

/// The state_dict inside `v`: v itself, or the dict under one of the usual checkpoint keys.
const SavedValue::Dict& find_state_dict(const SavedValue& v, const std::filesystem::path& file) {
  if (!v.is_dict())
    throw bad_state_dict(file, "the file holds " + v.describe() + ", not a state_dict");
  for (const char* key : {"state_dict", "model_state_dict", "model", "net"}) {
    for (const auto& [k, val] : v.dict()) {
      if (k.is_string() && std::get<std::string>(k.v) == key && val.is_dict()) {
        return find_state_dict(val, file);
      }
    }
  }
  return v.dict();
}

std::string strip_prefixes(std::string key) {
  for (bool again = true; again;) {
    again = false;
    for (const std::string p : {"module.", "model."}) {
      if (key.rfind(p, 0) == 0) {
        key = key.substr(p.size());
        again = true;
      }
    }
  }
  return key;
}

std::string rename(const Rule& r, const std::smatch& m) {
  std::string out;
  for (std::size_t i = 0; i < r.replacement.size(); ++i) {
    const char c = r.replacement[i];
    if (c == '$' && i + 1 < r.replacement.size() && std::isdigit(r.replacement[i + 1]) != 0) {
      out += m[r.replacement[i + 1] - '0'].str();
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

std::string shape(const torch::Tensor& t) { return c10::str(t.sizes()); }

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

const std::vector<StateDictLayout>& state_dict_layouts() {
  static const std::vector<StateDictLayout> kInfo = [] {
    std::vector<StateDictLayout> v;
    for (const auto& l : layouts()) v.push_back(l.info);
    return v;
  }();
  return kInfo;
}

void load_state_dict_file(NativeModel& model, const std::filesystem::path& file) {
  const SavedValue root = read_torch_save(file);
  const SavedValue::Dict& sd = find_state_dict(root, file);
  // The file's tensors under their stripped names; `origin` remembers each one's name in the file.
  std::map<std::string, torch::Tensor> tensors;
  std::map<std::string, std::string> origin;
  for (const auto& [k, val] : sd) {
    if (!k.is_string()) throw bad_state_dict(file, "a state_dict key that is not a string");
    const std::string& key = std::get<std::string>(k.v);
    if (!val.is_tensor()) {
      throw bad_state_dict(file,
                           "entry '" + key + "' holds " + val.describe() +
                               ", not a tensor (is this a state_dict? expected a dict of tensors, "
                               "possibly under 'state_dict')");
    }
    const std::string name = strip_prefixes(key);
    tensors[name] = std::get<torch::Tensor>(val.v);
    origin[name] = key;
  }
  if (tensors.empty()) throw bad_state_dict(file, "holds no tensors");

  // The native names of the model: identity when the file already uses them.
  std::map<std::string, torch::Tensor> native;
  for (const auto& p : model.named_parameters()) native[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) native[b.key()] = b.value();
  // The layout: the first whose marker key the file has, else sfbench's own names.
  const Layout* layout = nullptr;
  for (const auto& l : layouts()) {
    if (tensors.count(l.marker) > 0) {
      layout = &l;
      break;
    }
  }
  std::string layout_name = "sfbench's own parameter names";
  if (layout == nullptr) {
    for (const auto& [name, t] : native) {
      if (name != "mean" && name != "std" &&
          name.find("num_batches_tracked") == std::string::npos && tensors.count(name) == 0) {
        std::vector<std::string> first;
        for (const auto& [n, t2] : tensors) {
          if (first.size() < 4) first.push_back(origin[n]);
        }
        throw bad_state_dict(file,
                             "its keys (" + join(first) +
                                 ", ...) are in no layout sfbench maps onto zoo:" + model.arch() +
                                 " (RobustBench WideResNet and PreActResNet, torchvision "
                                 "ResNet, sfbench's own names: '" +
                                 name + "' is missing)");
      }
    }
  } else {
    if (std::find(layout->info.archs.begin(), layout->info.archs.end(), model.arch()) ==
        layout->info.archs.end()) {
      throw bad_state_dict(file, "holds a " + layout->info.source +
                                     " state_dict; load it into zoo:" + join(layout->info.archs) +
                                     ", not zoo:" + model.arch());
    }
    layout_name = layout->info.source;
    std::map<std::string, torch::Tensor> mapped;
    std::map<std::string, std::string> mapped_origin;
    for (const auto& [name, t] : tensors) {
      std::string to = name;
      for (const auto& r : layout->rules) {
        std::smatch m;
        if (std::regex_match(name, m, r.pattern)) {
          to = rename(r, m);
          break;
        }
      }
      if (to.empty()) continue;  // dropped (a tensor the published forward never uses)
      mapped[to] = t;
      mapped_origin[to] = origin[name];
    }
    tensors = std::move(mapped);
    origin = std::move(mapped_origin);
  }

  // Every native tensor present with its shape, nothing left over, then copy.
  for (const auto& [name, t] : tensors) {
    if (native.count(name) == 0) {
      throw bad_state_dict(file, "unexpected tensor '" + origin[name] + "' (read as " +
                                     layout_name + "): zoo:" + model.arch() + " has no '" + name +
                                     "'");
    }
  }
  for (const auto& [name, dst] : native) {
    const bool optional =
        name == "mean" || name == "std" || name.find("num_batches_tracked") != std::string::npos;
    const auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (optional) continue;
      throw bad_state_dict(file, "missing tensor '" + name + "' of zoo:" + model.arch() +
                                     " (read as " + layout_name + ")");
    }
    const torch::Tensor src =
        name == "mean" || name == "std" ? it->second.reshape({1, -1, 1, 1}) : it->second;
    if (!src.sizes().equals(dst.sizes())) {
      throw bad_state_dict(file, "tensor '" + origin[name] + "' has shape " + shape(src) +
                                     ", zoo:" + model.arch() + " expects " + shape(dst) + " for '" +
                                     name + "'");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, dst] : native) {
    const auto it = tensors.find(name);
    if (it == tensors.end() || name == "mean" || name == "std") continue;
    dst.copy_(it->second);
  }
  std::string norm = "the file's";
  if (tensors.count("mean") > 0 && tensors.count("std") > 0) {
    const auto to_vec = [](const torch::Tensor& t) {
      const torch::Tensor c = t.to(torch::kFloat64).flatten().contiguous();
      return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    };
    model.set_normalization(to_vec(tensors["mean"]), to_vec(tensors["std"]));
  } else if (layout != nullptr && !layout->mean.empty()) {
    model.set_normalization(layout->mean, layout->stddev);
    norm = "the layout's";
  } else if (layout != nullptr && layout->info.name.rfind("deepmind-", 0) == 0) {
    // DeepMind's mean/std are not in its state_dicts (persistent=False): its CIFAR-100 or
    // CIFAR-10 constants (dm_wide_resnet.py; its CIFAR-10 std differs from sfbench's in the 4th
    // digit, 0.2471).
    if (model.num_classes() == 100) {
      model.set_normalization(kCifar100Mean, kCifar100Std);
    } else {
      model.set_normalization({0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616});
    }
    norm = "DeepMind's";
  } else {
    norm = "the dataset's";
  }
  log::info(fmt::format("{}: read as {}; normalization {} (mean [{}], std [{}])", file.string(),
                        layout_name, norm, fmt::join(model.options().mean, ", "),
                        fmt::join(model.options().std, ", ")));
  model.set_weights_sha256(sha256_file(file));
}

}  // namespace sfb::models
