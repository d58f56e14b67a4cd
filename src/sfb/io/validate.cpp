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
  int64_t checked = 0;
  h5::visit_datasets(f.get(), [&](const std::string& path) {
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
  rep.notes.push_back(std::to_string(checked) + " datasets read back in full");
  return rep;
}

ValidationReport validate_summary(const fs::path& file) {
  ValidationReport rep;
  rep.kind = "summary";
  std::ifstream in(file);
  if (!in) {
    rep.problems.push_back("'" + file.string() + "': cannot open");
    return rep;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    rep.problems.push_back("'" + file.string() + "' is not valid JSON (byte " +
                           std::to_string(e.byte) + "): " + e.what());
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
  if (!fs::exists(file)) {
    ValidationReport rep;
    rep.kind = "file";
    rep.problems.push_back("'" + file.string() + "': no such file");
    return rep;
  }
  // JSON summaries start with '{'; everything else (.h5, .h5.partial, damaged files) is checked as
  // a results file so HDF5's own reason for refusing it is reported.
  const bool json =
      file.extension() == ".json" || (file.extension() != ".h5" && !h5::is_hdf5(file) && [&] {
        std::ifstream in(file);
        char c = 0;
        in >> c;
        return c == '{';
      }());
  return json ? validate_summary(file) : validate_results(file);
}

}  // namespace sfb::io
