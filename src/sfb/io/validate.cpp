#include "io/validate.hpp"

#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "io/hdf5/objects.hpp"
#include "io/results_file.hpp"

namespace sfb::io {
namespace fs = std::filesystem;
namespace {

// True when `path` matches `pattern`, where '*' stands for exactly one path segment.
bool path_matches(const std::string& pattern, const std::string& path) {
  auto split = [](const std::string& s) {
    std::vector<std::string> parts;
    std::stringstream ss(s);
    for (std::string p; std::getline(ss, p, '/');) {
      if (!p.empty()) parts.push_back(p);
    }
    return parts;
  };
  auto a = split(pattern), b = split(path);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != "*" && a[i] != b[i]) return false;
  }
  return true;
}

std::string join_dims(const std::vector<uint64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

/// Checks the attributes `spec` names (key -> kind) on `obj`: each must exist (unless
/// `optional`) and have its kind.
void check_attributes(hid_t obj, const std::string& where, const nlohmann::json& spec,
                      ValidationReport& rep, bool optional = false) {
  for (auto& [key, kind] : spec.items()) {
    if (!h5::has_attr(obj, key)) {
      if (!optional) rep.problems.push_back(where + ": missing attribute '" + key + "'");
      continue;
    }
    try {
      auto v = h5::read_attr(obj, key);
      if (h5::attr_kind(v) != kind.get<std::string>()) {
        rep.problems.push_back(where + ": attribute '" + key + "' is " + h5::attr_kind(v) +
                               ", expected " + kind.get<std::string>());
      }
    } catch (const Error& e) {
      rep.problems.push_back(where + ": attribute '" + key + "' unreadable: " + e.what());
    }
  }
}

/// The string value of root attribute `key` ("" when absent or not a string).
std::string root_string(hid_t file, const std::string& key) {
  if (!h5::has_attr(file, key)) return "";
  try {
    auto v = h5::read_attr(file, key);
    if (auto* s = std::get_if<std::string>(&v)) return *s;
  } catch (const Error&) {
    // check_attributes reports an unreadable root attribute
  }
  return "";
}

/// True when `path` names a dataset of the layout (exactly or through a '*' pattern).
bool is_layout_dataset(const nlohmann::json& layout, const std::string& path) {
  for (auto& [pattern, spec] : layout["datasets"].items()) {
    if (path_matches(pattern, path)) return true;
  }
  return false;
}

/// Checks the outputs the file's command always writes (layout "required_by_command", keyed by
/// the root attribute subcommand): a group must exist; a dataset path (one of the layout's
/// datasets; '*' = any one path segment) must match at least one of `datasets`, the file's
/// datasets. A subcommand the layout does not list is noted (files of other writers, tests).
void check_command_outputs(hid_t file, const nlohmann::json& layout,
                           const std::vector<std::string>& datasets, ValidationReport& rep) {
  const std::string sub = root_string(file, "subcommand");
  if (sub.empty()) return;  // a missing subcommand is already a problem
  const auto& by_command = layout["required_by_command"];
  if (!by_command.contains(sub)) {
    rep.notes.push_back("subcommand '" + sub +
                        "' has no list of required outputs in results_layout.json");
    return;
  }
  for (const auto& item : by_command[sub]) {
    const auto path = item.get<std::string>();
    bool found = false;
    if (is_layout_dataset(layout, path)) {
      for (const auto& d : datasets) found = found || path_matches(path, d);
    } else {
      found = h5::exists(file, path);
    }
    if (!found) {
      const bool dataset = is_layout_dataset(layout, path);
      const bool pattern = path.find('*') != std::string::npos;
      rep.problems.push_back((pattern   ? "no dataset matches "
                              : dataset ? "missing dataset "
                                        : "missing group ") +
                             path + ", which `sfbench " + sub + "` always writes");
    }
  }
}

const char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";

/// The root attribute run_id of an HDF5 results file; "" when the file cannot be read or has none.
std::string h5_run_id(const fs::path& file) {
  try {
    h5::Handle f = h5::open_readonly(file);
    if (!h5::has_attr(f.get(), "run_id")) return "";
    const auto v = h5::read_attr(f.get(), "run_id");
    const auto* s = std::get_if<std::string>(&v);
    return s ? *s : "";
  } catch (const Error&) {
    return "";
  }
}

/// The run_id of a JSON summary; "" when it cannot be parsed or has none.
std::string json_run_id(const fs::path& file) {
  std::ifstream in(file);
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("run_id") || !doc["run_id"].is_string()) return "";
  return doc["run_id"].get<std::string>();
}

/// A results file and the summary next to it (same stem) are one run's: when both name a run_id
/// and they differ, `rep` gets a problem naming the other file. Files without a run_id (layout
/// version 1) are not compared.
void check_run_pair(const fs::path& h5_file, const fs::path& json_file, bool checking_h5,
                    ValidationReport& rep) {
  std::error_code ec;
  if (!fs::is_regular_file(h5_file, ec) || !fs::is_regular_file(json_file, ec)) return;
  const std::string a = h5_run_id(h5_file), b = json_run_id(json_file);
  if (a.empty() || b.empty() || a == b) return;
  const fs::path& other = checking_h5 ? json_file : h5_file;
  rep.problems.push_back("run_id " + (checking_h5 ? a : b) + " differs from run_id " +
                         (checking_h5 ? b : a) + " of '" + other.string() +
                         "' next to it: the results file and its summary are from different runs");
}

}  // namespace

ValidationReport validate_results(const fs::path& file) {
  ValidationReport rep;
  rep.kind = "results";
  const auto layout = nlohmann::json::parse(results_layout_text());
  h5::Handle f;
  try {
    f = h5::open_readonly(file);
  } catch (const Error& e) {
    rep.problems.push_back(e.what());
    return rep;
  }
  check_attributes(f.get(), "/", layout["root_attributes"], rep);
  if (h5::has_attr(f.get(), "complete")) {
    auto c = h5::read_attr(f.get(), "complete");
    if (auto i = std::get_if<int64_t>(&c); i && *i != 1) {
      rep.problems.push_back("root attribute complete = " + std::to_string(*i) +
                             ": the run that wrote this file did not finish");
    }
  }
  if (h5::has_attr(f.get(), "schema_version")) {
    auto v = h5::read_attr(f.get(), "schema_version");
    if (auto i = std::get_if<int64_t>(&v); i && *i > kSchemaVersion) {
      rep.problems.push_back("schema_version " + std::to_string(*i) +
                             " is newer than this sfbench "
                             "understands (" +
                             std::to_string(kSchemaVersion) + ")");
    }
  }
  if (h5::has_attr(f.get(), "config_toml") && h5::has_attr(f.get(), "config_sha256")) {
    auto toml = h5::read_attr(f.get(), "config_toml");
    auto sha = h5::read_attr(f.get(), "config_sha256");
    auto* ts = std::get_if<std::string>(&toml);
    auto* ss = std::get_if<std::string>(&sha);
    if (ts && ss && sha256_hex(*ts) != *ss) {
      rep.problems.push_back("config_sha256 does not match the SHA-256 of config_toml");
    }
  }
  for (auto& [gpath, gspec] : layout["groups"].items()) {
    if (!h5::exists(f.get(), gpath)) {
      if (gspec.value("required", false)) rep.problems.push_back("missing group " + gpath);
      continue;
    }
    auto g = h5::open_object(f.get(), gpath);
    check_attributes(g.get(), gpath, gspec["attributes"], rep);
    if (gspec.contains("optional_attributes")) {
      check_attributes(g.get(), gpath, gspec["optional_attributes"], rep, true);
    }
  }
  std::map<std::string, uint64_t> symbols;
  std::map<std::string, std::string> symbol_origin;
  std::vector<std::string> datasets;
  int64_t checked = 0;
  h5::visit_datasets(f.get(), [&](const std::string& path) {
    datasets.push_back(path);
    const nlohmann::json* spec = nullptr;
    for (auto& [pattern, s] : layout["datasets"].items()) {
      if (path_matches(pattern, path)) spec = &s;
    }
    h5::DatasetInfo info;
    try {
      auto d = h5::open_object(f.get(), path);
      info = h5::dataset_info(d.get());
      auto data = h5::read_dataset(f.get(), path);  // every element must read back
      ++checked;
    } catch (const Error& e) {
      rep.problems.push_back("dataset " + path + " cannot be read: " + e.what());
      return;
    }
    if (!spec) {
      rep.notes.push_back("dataset " + path + " " + info.dtype + join_dims(info.dims) +
                          " is not in the documented layout");
      return;
    }
    const auto want_dtype = (*spec)["dtype"].get<std::string>();
    if (info.dtype != want_dtype) {
      rep.problems.push_back("dataset " + path + " has dtype " + info.dtype + ", expected " +
                             want_dtype);
    }
    const auto& shape = (*spec)["shape"];
    if (shape.size() != info.dims.size()) {
      rep.problems.push_back("dataset " + path + " has shape " + join_dims(info.dims) +
                             ", expected " + std::to_string(shape.size()) + " dimensions " +
                             shape.dump());
      return;
    }
    for (size_t i = 0; i < shape.size(); ++i) {
      const auto sym = shape[i].get<std::string>();
      auto it = symbols.find(sym);
      if (it == symbols.end()) {
        symbols[sym] = info.dims[i];
        symbol_origin[sym] = path;
      } else if (it->second != info.dims[i]) {
        rep.problems.push_back("dataset " + path + " dimension " + std::to_string(i) + " (" + sym +
                               ") is " + std::to_string(info.dims[i]) + " but " +
                               symbol_origin[sym] + " has " + std::to_string(it->second));
      }
    }
  });
  check_command_outputs(f.get(), layout, datasets, rep);
  rep.notes.push_back(std::to_string(checked) + " datasets read back in full");
  return rep;
}

ValidationReport validate_summary(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    ValidationReport rep;
    rep.kind = "summary";
    rep.problems.push_back("'" + file.string() + "': cannot open");
    return rep;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return validate_summary_text(text.str(), file.string());
}

ValidationReport validate_summary_text(const std::string& text, const std::string& name) {
  ValidationReport rep;
  rep.kind = "summary";
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    rep.problems.push_back("'" + name + "' is not valid JSON (byte " + std::to_string(e.byte) +
                           "): " + e.what());
    return rep;
  }
  const auto schema_doc = nlohmann::json::parse(summary_schema_text());
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter doc_adapter(doc);
  if (!validator.validate(schema, doc_adapter, &results)) {
    valijson::ValidationResults::Error err;
    while (results.popError(err)) {
      std::string where;
      for (auto& c : err.context) where += c;
      rep.problems.push_back(where + ": " + err.description);
    }
  }
  if (doc.is_object() && doc.contains("config_toml") && doc.contains("config_sha256") &&
      doc["config_toml"].is_string() && doc["config_sha256"].is_string() &&
      sha256_hex(doc["config_toml"].get<std::string>()) !=
          doc["config_sha256"].get<std::string>()) {
    rep.problems.push_back("config_sha256 does not match the SHA-256 of config_toml");
  }
  return rep;
}

ValidationReport validate_path(const fs::path& file) {
  ValidationReport rep;
  rep.kind = "file";
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (!fs::exists(st)) {
    rep.problems.push_back("'" + file.string() + "': no such file");
    return rep;
  }
  // The input is read once, from its start, so a pipe or FIFO (`validate <(cat r.json)`) works:
  // its first bytes decide what it is, and a summary is parsed from the same stream.
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    rep.problems.push_back("'" + file.string() + "': cannot open for reading");
    return rep;
  }
  constexpr std::size_t kSignature = sizeof(kHdf5Signature) - 1;
  std::string head(kSignature, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  const bool regular = fs::is_regular_file(st);
  if (head == std::string(kHdf5Signature, kSignature)) {
    if (regular) {
      ValidationReport r = validate_results(file);
      check_run_pair(file, fs::path(file).replace_extension(".json"), true, r);
      return r;
    }
    rep.kind = "results";
    rep.problems.push_back("'" + file.string() +
                           "' is an HDF5 file read through a pipe or FIFO; HDF5 reads a results "
                           "file by seeking, so give its path instead");
    return rep;
  }
  const auto first = head.find_first_not_of(" \t\r\n");
  const bool looks_json = first != std::string::npos && head[first] == '{';
  if (looks_json || file.extension() == ".json" || (!regular && first == std::string::npos)) {
    std::ostringstream text;
    text << head << in.rdbuf();
    if (text.str().empty()) {
      rep.problems.push_back("'" + file.string() + "' is empty");
      return rep;
    }
    ValidationReport r = validate_summary_text(text.str(), file.string());
    if (regular) check_run_pair(fs::path(file).replace_extension(".h5"), file, false, r);
    return r;
  }
  // Anything else in a regular file (.h5.partial, damaged files, a user block) is checked as a
  // results file, so that HDF5's own reason for refusing it is reported.
  if (regular) return validate_results(file);
  rep.problems.push_back("'" + file.string() +
                         "' is neither a JSON summary (it does not start with '{') nor an HDF5 "
                         "results file");
  return rep;
}

}  // namespace sfb::io
