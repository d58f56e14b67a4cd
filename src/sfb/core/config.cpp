#include "core/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"

namespace sfb {
namespace {

std::string type_name(const ConfigSchema::Field& f) {
  struct V {
    std::string operator()(bool*) const { return "a boolean (true/false)"; }
    std::string operator()(int64_t*) const { return "an integer"; }
    std::string operator()(double*) const { return "a number"; }
    std::string operator()(std::string*) const { return "a string"; }
    std::string operator()(std::vector<double>*) const { return "an array of numbers"; }
    std::string operator()(std::vector<int64_t>*) const { return "an array of integers"; }
    std::string operator()(std::vector<std::string>*) const { return "an array of strings"; }
  };
  return std::visit(V{}, f);
}

std::string node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::string render(const toml::node& n) {
  std::ostringstream os;
  if (auto s = n.as_string()) {
    os << '"' << s->get() << '"';
  } else {
    n.visit([&](auto&& v) { os << toml::toml_formatter{v}; });
  }
  return os.str();
}

// Levenshtein distance, for "did you mean" suggestions on unknown keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

[[noreturn]] void type_error(const std::string& key, const std::string& shown,
                             const std::string& got, const ConfigSchema::Field& f,
                             const std::string& origin) {
  throw ConfigError("config key '" + key + "': value " + shown + " (" + origin + ") is " + got +
                    ", expected " + type_name(f));
}

// A string key whose choices include "true" and "false" also takes a TOML boolean.
bool takes_bool(const std::vector<std::string>& choices) {
  const auto has = [&](const char* c) {
    return std::find(choices.begin(), choices.end(), c) != choices.end();
  };
  return has("true") && has("false");
}

// Assigns a parsed TOML node to a typed field, with exact type checks (an integer is accepted
// where a number is expected; nothing else converts).
void assign(const std::string& key, const ConfigSchema::Field& field, const toml::node& n,
            const std::string& origin, bool bool_as_string = false) {
  const std::string shown = render(n);
  const std::string got = node_type_name(n);
  auto as_double = [&](const toml::node& x, double* out) {
    if (auto d = x.as_floating_point()) {
      *out = d->get();
      return true;
    }
    if (auto i = x.as_integer()) {
      *out = static_cast<double>(i->get());
      return true;
    }
    return false;
  };
  if (auto p = std::get_if<bool*>(&field)) {
    auto b = n.as_boolean();
    if (!b) type_error(key, shown, got, field, origin);
    **p = b->get();
  } else if (auto p = std::get_if<int64_t*>(&field)) {
    auto i = n.as_integer();
    if (!i) type_error(key, shown, got, field, origin);
    **p = i->get();
  } else if (auto p = std::get_if<double*>(&field)) {
    if (!as_double(n, *p)) type_error(key, shown, got, field, origin);
  } else if (auto p = std::get_if<std::string*>(&field)) {
    auto s = n.as_string();
    auto b = n.as_boolean();
    if (s) {
      **p = s->get();
    } else if (b && bool_as_string) {  // a key whose choices include true and false
      **p = b->get() ? "true" : "false";
    } else {
      type_error(key, shown, got, field, origin);
    }
  } else {
    auto arr = n.as_array();
    if (!arr) type_error(key, shown, got, field, origin);
    if (auto p = std::get_if<std::vector<double>*>(&field)) {
      std::vector<double> v;
      for (auto& e : *arr) {
        double d = 0;
        if (!as_double(e, &d))
          type_error(key, shown, "an array containing " + node_type_name(e), field, origin);
        v.push_back(d);
      }
      **p = v;
    } else if (auto p = std::get_if<std::vector<int64_t>*>(&field)) {
      std::vector<int64_t> v;
      for (auto& e : *arr) {
        auto i = e.as_integer();
        if (!i) type_error(key, shown, "an array containing " + node_type_name(e), field, origin);
        v.push_back(i->get());
      }
      **p = v;
    } else if (auto p = std::get_if<std::vector<std::string>*>(&field)) {
      std::vector<std::string> v;
      for (auto& e : *arr) {
        auto s = e.as_string();
        if (!s) type_error(key, shown, "an array containing " + node_type_name(e), field, origin);
        v.push_back(s->get());
      }
      **p = v;
    }
  }
}

}  // namespace

void ConfigSchema::add(const std::string& key, Field field, const std::string& help,
                       std::vector<std::string> choices) {
  if (entries_.count(key)) throw Error("config key '" + key + "' registered twice");
  Entry e;
  e.field = field;
  e.help = help;
  e.choices = std::move(choices);
  entries_.emplace(key, std::move(e));
}

void ConfigSchema::add_int(const std::string& key, int64_t* field, const std::string& help,
                           int64_t min, int64_t max) {
  add(key, field, help);
  auto& e = entries_.at(key);
  e.has_int_range = true;
  e.imin = min;
  e.imax = max;
}

void ConfigSchema::add_float(const std::string& key, double* field, const std::string& help,
                             double min, double max) {
  add(key, field, help);
  auto& e = entries_.at(key);
  e.has_float_range = true;
  e.fmin = min;
  e.fmax = max;
}

bool ConfigSchema::has(const std::string& key) const { return entries_.count(key) > 0; }

std::vector<std::string> ConfigSchema::keys() const {
  std::vector<std::string> k;
  for (auto& [name, e] : entries_) k.push_back(name);
  return k;
}

void ConfigSchema::remove_if(const std::function<bool(const std::string&)>& drop) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = drop(it->first) ? entries_.erase(it) : std::next(it);
  }
}

void ConfigSchema::set_scope(std::string scope, const ConfigSchema* others) {
  scope_ = std::move(scope);
  others_ = others;
}

const ConfigSchema::Entry& ConfigSchema::lookup(const std::string& key,
                                                const std::string& origin) const {
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second;
  if (others_ != nullptr && others_->has(key)) {
    std::vector<std::string> sections{"top-level keys"};
    for (const auto& [name, e] : entries_) {
      const auto dot = name.rfind('.');
      const std::string section = dot == std::string::npos ? "" : "[" + name.substr(0, dot) + "]";
      if (!section.empty() &&
          std::find(sections.begin(), sections.end(), section) == sections.end()) {
        sections.push_back(section);
      }
    }
    throw ConfigError("config key '" + key + "' (" + origin + ") belongs to another command; " +
                      scope_ + " reads only its " + join(sections, ", "));
  }
  std::string best;
  size_t best_d = 4;
  for (auto& [name, e] : entries_) {
    size_t d = edit_distance(key, name);
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  const auto dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
  std::vector<std::string> same;
  for (auto& [name, e] : entries_) {
    auto d2 = name.rfind('.');
    std::string s2 = d2 == std::string::npos ? "" : name.substr(0, d2 + 1);
    if (s2 == section) same.push_back(name);
  }
  std::string msg = "unknown config key '" + key + "' (" + origin + ")";
  if (!best.empty()) msg += "; did you mean '" + best + "'?";
  if (!same.empty())
    msg += " Valid keys" +
           (section.empty() ? std::string(" at top level")
                            : " in [" + section.substr(0, section.size() - 1) + "]") +
           ": " + join(same, ", ");
  throw ConfigError(msg);
}

void ConfigSchema::check(const std::string& key, const Entry& e, const std::string& shown,
                         const std::string& origin) const {
  if (!e.choices.empty()) {
    auto p = std::get_if<std::string*>(&e.field);
    if (p && std::find(e.choices.begin(), e.choices.end(), **p) == e.choices.end()) {
      throw ConfigError("config key '" + key + "': value " + shown + " (" + origin +
                        ") is not one of " + join(e.choices, "|"));
    }
  }
  if (e.has_int_range) {
    int64_t v = **std::get_if<int64_t*>(&e.field);
    if (v < e.imin || v > e.imax) {
      throw ConfigError("config key '" + key + "': value " + shown + " (" + origin +
                        ") is outside the allowed range [" + std::to_string(e.imin) + ", " +
                        std::to_string(e.imax) + "]");
    }
  }
  if (e.has_float_range) {
    double v = **std::get_if<double*>(&e.field);
    if (!(v >= e.fmin && v <= e.fmax)) {
      std::ostringstream os;
      os << "config key '" << key << "': value " << shown << " (" << origin
         << ") is outside the allowed range [" << e.fmin << ", " << e.fmax << "]";
      throw ConfigError(os.str());
    }
  }
}

void ConfigSchema::load_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw ConfigError(
        "cannot read config file '" + file.string() + "'" +
        (std::filesystem::exists(file) ? " (permission denied?)" : " (no such file)"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  load_string(ss.str(), file.string());
}

void ConfigSchema::load_string(const std::string& text, const std::string& origin) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, origin);
  } catch (const toml::parse_error& err) {
    const auto& b = err.source().begin;
    throw ConfigError("config file '" + origin + "' line " + std::to_string(b.line) + ", column " +
                      std::to_string(b.column) + ": " + std::string(err.description()));
  }
  // Walk nested tables; leaves are keys "section.sub.key".
  std::vector<std::pair<std::string, const toml::table*>> stack{{"", &tbl}};
  while (!stack.empty()) {
    auto [prefix, t] = stack.back();
    stack.pop_back();
    for (auto&& [k, node] : *t) {
      const std::string key = prefix + std::string(k.str());
      const std::string where = origin + " line " + std::to_string(node.source().begin.line);
      if (auto sub = node.as_table()) {
        bool known_section = false;
        for (auto& [name, e] : entries_) known_section |= name.rfind(key + ".", 0) == 0;
        if (others_ != nullptr) {
          for (const auto& name : others_->keys()) known_section |= name.rfind(key + ".", 0) == 0;
        }
        if (!known_section) lookup(key, where);  // throws "unknown config key"
        stack.emplace_back(key + ".", sub);
        continue;
      }
      // Another command's key is checked against that command's schema, and not kept here.
      const bool foreign = entries_.count(key) == 0 && others_ != nullptr && others_->has(key);
      const ConfigSchema& owner = foreign ? *others_ : *this;
      const Entry& e = owner.lookup(key, where);
      assign(key, e.field, node, where, takes_bool(e.choices));
      owner.check(key, e, render(node), where);
    }
  }
}

void ConfigSchema::apply_override(const std::string& kv) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set expects key=value, got '" + kv + "'");
  }
  set(kv.substr(0, eq), kv.substr(eq + 1), "--set " + kv);
}

void ConfigSchema::set(const std::string& key, const std::string& value,
                       const std::string& origin) {
  const Entry& e = lookup(key, origin);
  if (auto p = std::get_if<std::string*>(&e.field)) {
    // Strings: take unquoted text literally (paths, spec strings); a quoted TOML string is
    // unquoted.
    std::string v = value;
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      toml::table t;
      try {
        t = toml::parse("v = " + v);
        v = t["v"].value_or(std::string{});
      } catch (const toml::parse_error&) {
      }
    }
    **p = v;
    check(key, e, "\"" + v + "\"", origin);
    return;
  }
  toml::table t;
  try {
    t = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    throw ConfigError("config key '" + key + "': value '" + value + "' (" + origin + ") is not " +
                      type_name(e.field));
  }
  assign(key, e.field, *t.get("v"), origin, takes_bool(e.choices));
  check(key, e, value, origin);
}

std::string ConfigSchema::to_toml() const {
  toml::table root;
  for (auto& [key, e] : entries_) {
    toml::table* t = &root;
    size_t start = 0;
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
      const std::string part = key.substr(start, dot - start);
      if (!t->contains(part)) t->insert(part, toml::table{});
      t = (*t)[part].as_table();
      start = dot + 1;
    }
    const std::string leaf = key.substr(start);
    std::visit(
        [&](auto* p) {
          using T = std::decay_t<decltype(*p)>;
          if constexpr (std::is_same_v<T, std::vector<double>> ||
                        std::is_same_v<T, std::vector<int64_t>> ||
                        std::is_same_v<T, std::vector<std::string>>) {
            toml::array a;
            for (auto& x : *p) a.push_back(x);
            t->insert(leaf, std::move(a));
          } else {
            t->insert(leaf, *p);
          }
        },
        e.field);
  }
  std::ostringstream os;
  os << toml::toml_formatter{
      root, toml::toml_formatter::default_flags & ~toml::format_flags::indentation};
  os << "\n";
  return os.str();
}

nlohmann::json ConfigSchema::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [key, e] : entries_) {
    nlohmann::json::json_pointer ptr("/" + [&] {
      std::string s = key;
      std::replace(s.begin(), s.end(), '.', '/');
      return s;
    }());
    std::visit([&](auto* p) { j[ptr] = *p; }, e.field);
  }
  return j;
}

void CommonConfig::register_keys(ConfigSchema& s) {
  s.add_int("seed", &seed, "seed of every random stream", 0, INT64_MAX);
  s.add("device", &device, "device of each rank", {"auto", "cpu", "cuda"});
  s.add("comm", &comm, "communicator backend", {"auto", "mpi", "nccl"});
  s.add("out", &out, "results file (.h5); the JSON summary goes next to it");
  s.add("log_level", &log_level, "log level", {"trace", "debug", "info", "warn", "error", "off"});
  s.add("log_all_ranks", &log_all_ranks, "log from every rank at the chosen level");
  s.add_int("threads", &threads, "intra-op threads per rank (0 = cores / local ranks)", 0, 4096);
  s.add_int("batch_size", &batch_size, "samples per batch on each rank", 1, 1 << 20);
  s.add("precision", &precision, "model arithmetic", {"fp32", "tf32", "bf16"});
  s.add("channels_last", &channels_last,
        "NHWC memory format for convolution weights (auto: on CPU ranks only)",
        {"auto", "true", "false"});
}

}  // namespace sfb
