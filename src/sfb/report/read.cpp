// load(): reads what the report shows from each results file (HDF5 through io::H5Node only) and
// groups the files into models.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "attribution/command.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "io/h5_node.hpp"
#include "report/report.hpp"

namespace sfb::report {
namespace fs = std::filesystem;
using io::H5Node;
using io::H5Value;

const Values* InteractionsData::find(const std::string& name) const {
  for (const auto& [n, v] : curves) {
    if (n == name) return &v;
  }
  return nullptr;
}

namespace {

std::string str_attr(const H5Node& o, const std::string& key) {
  if (!o.has_attr(key)) return "";
  const H5Value v = o.attr(key);
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : "";
}

double num_attr(const H5Node& o, const std::string& key) {
  if (!o.has_attr(key)) return std::nan("");
  const H5Value v = o.attr(key);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return std::nan("");
}

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<std::string> strings_attr(const H5Node& o, const std::string& key) {
  if (!o.has_attr(key)) return {};
  const H5Value v = o.attr(key);
  if (const auto* l = std::get_if<std::vector<std::string>>(&v)) return *l;
  if (const auto* s = std::get_if<std::string>(&v)) return split(*s);
  return {};
}

std::vector<double> doubles_attr(const H5Node& o, const std::string& key) {
  if (!o.has_attr(key)) return {};
  const H5Value v = o.attr(key);
  if (const auto* l = std::get_if<std::vector<double>>(&v)) return *l;
  if (const auto* d = std::get_if<double>(&v)) return {*d};
  return {};
}

// Any attribute as one line of text (lists joined by "; ").
std::string attr_text(const H5Node& o, const std::string& key) {
  if (!o.has_attr(key)) return "";
  const H5Value v = o.attr(key);
  std::ostringstream os;
  std::visit(
      [&os](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string> || std::is_arithmetic_v<T>) {
          os << x;
        } else {
          for (std::size_t i = 0; i < x.size(); ++i) os << (i ? "; " : "") << x[i];
        }
      },
      v);
  return os.str();
}

std::vector<double> doubles(const H5Node& f, const std::string& path) {
  if (!f.exists(path)) return {};
  const torch::Tensor t = f.read(path).to(torch::kFloat64).contiguous();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

std::vector<int64_t> int64s(const H5Node& f, const std::string& path) {
  if (!f.exists(path)) return {};
  const torch::Tensor t = f.read(path).to(torch::kInt64).contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

void read_provenance(const H5Node& f, FileData& d) {
  auto add = [&d](const std::string& name, const std::string& value) {
    if (!value.empty()) d.provenance.emplace_back(name, value);
  };
  const std::string dirty = attr_text(f, "git_dirty") == "1" ? " (dirty)" : "";
  add("subcommand", d.subcommand);
  add("created (UTC)", attr_text(f, "created_utc"));
  add("sfbench", attr_text(f, "sfbench_version"));
  add("git commit", attr_text(f, "git_commit") + dirty);
  add("config SHA-256", attr_text(f, "config_sha256"));
  add("seed", attr_text(f, "seed"));
  add("world size", attr_text(f, "world_size"));
  add("command", attr_text(f, "command"));
  add("data", d.dataset_spec + (d.split.empty() ? "" : " (" + d.split + ")"));
  add("data SHA-256", d.dataset_sha256);
  add("model", d.model_spec);
  add("model SHA-256", d.model_sha256);
  if (f.exists("/provenance")) {
    const H5Node p = f.open("/provenance");
    for (const char* key : {"devices", "hosts", "libtorch", "cuda", "nccl", "mpi", "hdf5",
                            "precision", "compiler", "build_type", "cpu_model", "slurm_job_id"}) {
      add(key, attr_text(p, key));
    }
  }
}

void read_attacks(const H5Node& f, FileData& d) {
  for (const auto& [label, adv] : d.record.adv_acc) {
    if (label == "worst_case") continue;
    const std::string base = "/attacks/" + label;
    const H5Node g = f.open(base);
    AttackData a;
    a.label = label;
    a.spec = str_attr(g, "spec");
    a.adv_acc = adv;
    a.clean_acc = num_attr(g, "clean_acc");
    a.accuracy_drop = num_attr(g, "accuracy_drop");
    if (f.exists(base + "/robust")) {
      const auto dims = f.open(base + "/robust").info().dims;
      a.n = dims.empty() ? 0 : static_cast<int64_t>(dims.front());
    }
    a.stage_names = strings_attr(g, "stage_names");
    a.stage_adv_acc = doubles_attr(g, "stage_adv_acc");
    if (a.stage_names.size() != a.stage_adv_acc.size()) a.stage_names.clear();
    a.activation_diff = doubles(f, base + "/activation_diff");
    d.attacks.push_back(std::move(a));
  }
}

void read_interactions(const H5Node& f, FileData& d) {
  if (!f.exists("/interactions")) return;
  InteractionsData x;
  const H5Node g = f.open("/interactions");
  x.n = static_cast<int64_t>(num_attr(g, "n"));
  x.grid = static_cast<int64_t>(num_attr(g, "grid"));
  x.order_ratio = doubles(f, "/interactions/order_ratio");
  x.orders = int64s(f, "/interactions/orders");
  for (const char* name : {"I_nor", "I_adv", "J_nor", "J_adv", "dI", "dJ", "D_nor", "D_adv"}) {
    const std::string p = std::string("/interactions/") + name;
    if (!f.exists(p)) continue;
    Values v{doubles(f, p), doubles(f, p + "_stderr")};
    if (v.se.size() != v.value.size()) v.se.clear();
    if (v.value.size() == x.order_ratio.size()) x.curves.emplace_back(name, std::move(v));
  }
  d.interactions = std::move(x);
}

void read_attribution(const H5Node& f, FileData& d) {
  if (!f.exists("/attribution")) return;
  AttributionData a;
  const H5Node g = f.open("/attribution");
  a.n = static_cast<int64_t>(num_attr(g, "n"));
  a.accuracy = num_attr(g, "accuracy");
  a.top_pixels = int64s(f, "/attribution/top_pixels");
  a.colours = split(str_attr(g, "occlusion_colors"));
  a.random_noise1 = doubles(f, "/attribution/random/noise1_error_rate");
  a.random_noise2 = doubles(f, "/attribution/random/noise2_error_rate");
  a.random_noise1_ci = doubles(f, "/attribution/random/noise1_error_ci");
  a.random_noise2_ci = doubles(f, "/attribution/random/noise2_error_ci");
  if (f.exists("/attribution/agreement")) {
    a.agreement_pairs = split(str_attr(f.open("/attribution/agreement"), "pairs"));
    a.agreement_mean = doubles(f, "/attribution/agreement/mean");
    if (a.agreement_mean.size() != a.agreement_pairs.size()) a.agreement_pairs.clear();
  }
  // The saved maps' rows: "index i, label y, pred p", from the per-sample datasets.
  std::vector<int64_t> map_index = int64s(f, "/attribution/maps/index");
  if (static_cast<int64_t>(map_index.size()) > kMontageRows) map_index.resize(kMontageRows);
  const auto index = int64s(f, "/samples/index"), label = int64s(f, "/samples/label"),
             pred = int64s(f, "/samples/pred");
  std::map<int64_t, std::size_t> row_of;
  for (std::size_t r = 0; r < index.size(); ++r) row_of[index[r]] = r;
  for (const int64_t i : map_index) {
    const auto it = row_of.find(i);
    std::string row = "index " + std::to_string(i);
    if (it != row_of.end() && it->second < label.size() && it->second < pred.size()) {
      row += ", label " + std::to_string(label[it->second]) + ", pred " +
             std::to_string(pred[it->second]);
    }
    a.map_rows.push_back(row);
  }
  for (const auto& name : split(str_attr(g, "methods"))) {
    const std::string p = "/attribution/" + name;
    if (!f.exists(p)) {
      throw IoError(d.path + ": /attribution lists method '" + name + "' but has no group " + p,
                    ExitCode::kBadInput);
    }
    const H5Node m = f.open(p);
    AttributionData::Method x;
    x.name = name;
    x.gini = num_attr(m, "gini");
    x.gini_se = num_attr(m, "gini_stderr");
    x.gini_regional = num_attr(m, "gini_regional");
    x.gini_regional_se = num_attr(m, "gini_regional_stderr");
    x.noise1 = doubles(f, p + "/noise1_error_rate");
    x.noise2 = doubles(f, p + "/noise2_error_rate");
    x.noise1_ci = doubles(f, p + "/noise1_error_ci");
    x.noise2_ci = doubles(f, p + "/noise2_error_ci");
    x.occlusion = doubles(f, p + "/occlusion_error_rate");
    x.occlusion_ci = doubles(f, p + "/occlusion_error_ci");
    x.snr = doubles(f, p + "/snr_db_by_group");
    x.snr_se = doubles(f, p + "/snr_db_stderr_by_group");
    x.snr_count = int64s(f, p + "/snr_count_by_group");
    const std::string maps = "/attribution/maps/" + name;
    if (!map_index.empty() && f.exists(maps)) {
      x.maps = f.read(maps).narrow(0, 0, static_cast<int64_t>(map_index.size()));
    }
    a.methods.push_back(std::move(x));
  }
  const fs::path montage = attribution::montage_path(d.path);
  std::error_code ec;
  if (fs::is_regular_file(montage, ec)) a.run_montage = montage;
  d.attribution = std::move(a);
}

void read_train(const H5Node& f, FileData& d) {
  if (!f.exists("/train")) return;
  TrainData t;
  const H5Node g = f.open("/train");
  t.loss = str_attr(g, "loss");
  t.checkpoint = str_attr(g, "checkpoint");
  t.epoch = doubles(f, "/train/epoch/epoch");
  for (const char* term : {"ce", "ce_clean", "ce_adv", "bce_adv", "kl_robust", "sf", "total"}) {
    const std::string p = std::string("/train/epoch/") + term;
    if (f.exists(p)) t.terms.emplace_back(term, doubles(f, p));
  }
  t.sf = doubles(f, "/train/epoch/sf");
  t.accuracy = doubles(f, "/train/epoch/accuracy");
  t.adv_accuracy = doubles(f, "/train/epoch/adv_accuracy");
  d.train = std::move(t);
}

// The fingerprint of the weights a train run wrote: what /model sha256 of a run that loads its
// checkpoint holds (the checkpoint file's SHA-256), else its parameters' SHA-256.
std::string trained_fingerprint(const H5Node& f, const FileData& d) {
  const std::string& ckpt = d.train->checkpoint;
  if (!ckpt.empty()) {
    std::error_code ec;
    for (const fs::path& p :
         {fs::path(ckpt), fs::path(d.path).parent_path() / fs::path(ckpt).filename()}) {
      if (fs::is_regular_file(p, ec)) return sha256_file(p);
    }
  }
  const std::string w = str_attr(f.open("/train"), "weights_sha256");
  return w.empty() ? "" : "parameters:" + w;
}

FileData read_file(const std::string& file) {
  FileData d;
  d.path = file;
  d.stem = fs::path(file).stem().string();
  try {
    d.record = io::read_record(file);
  } catch (const IoError& e) {
    // read_record speaks for `compare`; the same refusal, worded for this command.
    std::string what = e.what();
    if (what.rfind("compare: ", 0) == 0) what = what.substr(9);
    throw IoError("report: " + what, e.exit_code());
  }
  const H5Node f = H5Node::open_readonly(file);
  d.subcommand = str_attr(f, "subcommand");
  if (f.exists("/model")) {
    const H5Node m = f.open("/model");
    d.model_spec = str_attr(m, "spec");
    d.model_arch = str_attr(m, "arch");
    d.model_sha256 = str_attr(m, "sha256");
  }
  if (f.exists("/dataset")) {
    const H5Node ds = f.open("/dataset");
    d.dataset_spec = str_attr(ds, "spec");
    d.dataset_sha256 = str_attr(ds, "sha256");
    d.split = str_attr(ds, "split");
  }
  if (f.exists("/samples/correct")) {
    const torch::Tensor c = f.read("/samples/correct");
    d.n = c.numel();
    d.correct = c.to(torch::kInt64).sum().item<int64_t>();
  }
  read_provenance(f, d);
  d.sf_sorted = doubles(f, "/sf/sorted");
  read_attacks(f, d);
  read_interactions(f, d);
  read_attribution(f, d);
  read_train(f, d);
  d.key.stem = d.stem;
  if (d.train) {
    d.provenance.emplace_back("checkpoint written", d.train->checkpoint);
    d.key.fingerprint = trained_fingerprint(f, d);
  } else {
    d.key.fingerprint = d.model_sha256;
    d.key.spec = d.model_spec;
  }
  return d;
}

}  // namespace

Zoo load(const std::vector<std::string>& files) {
  Zoo z;
  for (const auto& file : files) {
    for (const auto& other : z.files) {
      std::error_code ec;
      if (fs::equivalent(other.path, file, ec)) {
        throw IoError("report: " + file + " is given twice", ExitCode::kBadInput);
      }
    }
    z.files.push_back(read_file(file));
  }
  std::vector<FileKey> keys;
  for (const auto& d : z.files) keys.push_back(d.key);
  z.models = group_models(keys);
  for (const auto& d : z.files) {
    if (d.key.fingerprint.empty()) {
      z.notes.push_back(d.path + " (" + d.subcommand +
                        ") is about no model; it appears under provenance only");
    }
  }
  std::vector<std::string> att_files;
  for (const auto& d : z.files) {
    if (d.attribution) att_files.push_back(d.path);
  }
  if (att_files.size() >= 2) z.agreement = attribution::compare_attribution(att_files);
  return z;
}

}  // namespace sfb::report
