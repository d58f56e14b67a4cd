#include "attacks/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/rng.hpp"

namespace sfb::attacks {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

double parse_double(const std::string& spec, const std::string& key, const std::string& v) {
  try {
    std::size_t used = 0;
    double d = std::stod(v, &used);
    // "8/255" is the usual way to write ε.
    if (used < v.size() && v[used] == '/')
      d /= std::stod(v.substr(used + 1));
    else if (used != v.size())
      throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("attack '{}': {}={} is not a number", spec, key, v));
  }
}

int64_t parse_int(const std::string& spec, const std::string& key, const std::string& v,
                  int64_t min) {
  try {
    std::size_t used = 0;
    const int64_t i = std::stoll(v, &used);
    if (used != v.size() || i < min) throw std::invalid_argument(v);
    return i;
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("attack '{}': {}={} is not an integer >= {}", spec, key, v, min));
  }
}

bool parse_bool(const std::string& spec, const std::string& key, const std::string& v) {
  std::string l = v;
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "true" || l == "1" || l == "yes") return true;
  if (l == "false" || l == "0" || l == "no") return false;
  throw ConfigError(
      fmt::format("attack '{}': {}={} is not a boolean (true/false, 1/0, yes/no)", spec, key, v));
}

uint64_t label_key(const std::string& label) {
  return std::stoull(sha256_hex(label).substr(0, 15), nullptr, 16);
}

const std::vector<std::string> kAutoAttackStandard = {"apgd-ce", "apgd-t", "fab-t", "square"};
const std::vector<std::string> kAutoAttackFast = {"apgd-ce", "apgd-t"};

}  // namespace

void AttackConfig::register_keys(ConfigSchema& s) {
  s.add("attack.list", &list,
        "attack specs name[:key=value...] (fgsm, pgd, cw-linf, cw-l2, apgd-ce, apgd-dlr, apgd-t, "
        "fab-t, square, autoattack)");
  s.add("attack.norm", &norm, "default threat model", {"linf", "l2"});
  s.add_float("attack.eps", &eps, "default radius (< 0: SPEC default for the norm and image size)",
              -1.0, 1e6);
  s.add("attack.resume", &resume, "continue an interrupted run from <out>.checkpoint.h5");
}

double default_eps(Norm norm, const std::vector<int64_t>& image_shape) {
  if (norm == Norm::kL2) return 0.5;
  const bool large = image_shape.size() == 3 && std::max(image_shape[1], image_shape[2]) > 64;
  return large ? 4.0 / 255 : 8.0 / 255;
}

bool is_minimal_norm(const std::string& attack) { return attack == "cw-l2"; }

bool is_black_box(const std::string& attack) {
  return attack == "square" || attack == "square-rescaled";
}

AttackOptions spec_defaults(const std::string& name, Norm norm, double eps) {
  AttackOptions o;
  o.norm = norm;
  o.eps = eps;
  o.step_size = norm == Norm::kLinf ? 2.0 / 255 : eps / 4;
  if (name == "pgd") o.steps = 10;
  if (name == "fgsm") o.steps = 1;
  if (name == "cw-linf") {
    o.loss = "cw";
    o.steps = 30;
    o.step_size = 0.8 / 255;
  }
  if (name == "apgd-ce" || name == "apgd-dlr" || name == "apgd-t" || name == "fab-t") o.steps = 100;
  if (name == "apgd-ce") o.loss = "ce";
  if (name == "apgd-dlr" || name == "apgd-t") o.loss = "dlr";
  if (name == "cw-l2") {
    o.norm = Norm::kL2;
    o.steps =
        1000;  // Adam steps per c, with a per-sample early abort (Carlini's code: up to 10000)
    o.binary_steps = 9;
    o.initial_const = 1e-3;
    o.learning_rate = 1e-2;
  }
  return o;
}

std::vector<AttackGroup> plan_attacks(const AttackConfig& cfg,
                                      const std::vector<int64_t>& image_shape, int64_t num_classes,
                                      uint64_t seed, std::vector<std::string>* notes) {
  const std::vector<std::string> known = attack_names();
  auto is_known = [&](const std::string& n) {
    return n == "autoattack" || std::find(known.begin(), known.end(), n) != known.end();
  };
  std::vector<AttackGroup> groups;
  std::set<std::string> labels;
  if (cfg.list.empty()) throw ConfigError("attack.list is empty: name at least one attack");
  for (const auto& spec : cfg.list) {
    const auto parts = split(spec, ':');
    const std::string name = parts.empty() ? "" : parts[0];
    if (!is_known(name)) {
      std::string valid = "autoattack";
      for (const auto& k : known) valid += ", " + k;
      throw ConfigError(
          fmt::format("attack.list: unknown attack '{}' in '{}'; valid: {}", name, spec, valid));
    }
    AttackGroup g;
    g.spec = spec;
    g.label = spec;
    std::replace(g.label.begin(), g.label.end(), ':', '_');
    std::replace(g.label.begin(), g.label.end(), '=', '-');
    std::replace(g.label.begin(), g.label.end(), '/', '|');
    if (!labels.insert(g.label).second) throw ConfigError("attack.list names '" + spec + "' twice");
    std::map<std::string, std::string> kv;
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto eq = parts[i].find('=');
      if (eq == std::string::npos)
        throw ConfigError(fmt::format("attack '{}': '{}' is not key=value", spec, parts[i]));
      kv[parts[i].substr(0, eq)] = parts[i].substr(eq + 1);
    }
    g.norm = parse_norm(kv.count("norm") ? kv["norm"]
                                         : (name == "cw-l2" ? std::string("l2") : cfg.norm));
    g.eps = kv.count("eps") ? parse_double(spec, "eps", kv["eps"])
                            : (cfg.eps >= 0 && g.norm == parse_norm(cfg.norm)
                                   ? cfg.eps
                                   : default_eps(g.norm, image_shape));
    {
      // A radius outside (0, max] cannot be meant: linf beyond 1 covers the whole image box, l2
      // beyond sqrt(d) too.
      double d = 1;
      for (auto e : image_shape) d *= static_cast<double>(e);
      const double max = g.norm == Norm::kLinf ? 1.0 : std::sqrt(d);
      if (!(g.eps > 0) || g.eps > max) {
        throw ConfigError(
            fmt::format("attack '{}': eps {} is outside ({}, {}] for the {} threat model "
                        "(pixel scale [0, 1]; write e.g. 8/255)",
                        spec, g.eps, 0, max, norm_name(g.norm)));
      }
    }
    if (kv.count("targets") && parse_int(spec, "targets", kv["targets"], 1) > num_classes - 1) {
      throw ConfigError(
          fmt::format("attack '{}': targets={} but the model has {} classes (at most {} targets)",
                      spec, kv["targets"], num_classes, num_classes - 1));
    }
    std::string version = kv.count("version") ? kv["version"] : "standard";
    if (name == "autoattack" && version != "standard" && version != "fast") {
      throw ConfigError(fmt::format("attack '{}': version must be standard or fast", spec));
    }
    const std::vector<std::string> stages =
        name == "autoattack" ? (version == "fast" ? kAutoAttackFast : kAutoAttackStandard)
                             : std::vector<std::string>{name};
    for (std::size_t s = 0; s < stages.size(); ++s) {
      const std::string& a = stages[s];
      if ((a == "apgd-t" || a == "fab-t") && num_classes < 4) {
        if (name != "autoattack") {
          throw ConfigError(fmt::format("attack '{}' needs at least 4 classes (the model has {})",
                                        spec, num_classes));
        }
        if (notes)
          notes->push_back(fmt::format("{}: {} skipped ({} classes < 4)", spec, a, num_classes));
        continue;
      }
      StagePlan st;
      st.attack = a;
      st.opts = spec_defaults(a, g.norm, g.eps);
      for (const auto& [key, v] : kv) {
        if (key == "eps" || key == "norm" || key == "version") continue;
        if (key == "steps")
          st.opts.steps = parse_int(spec, key, v, 1);
        else if (key == "restarts")
          st.opts.restarts = parse_int(spec, key, v, 1);
        else if (key == "step_size" || key == "alpha")
          st.opts.step_size = parse_double(spec, key, v);
        else if (key == "loss")
          st.opts.loss = v;
        else if (key == "random_start")
          st.opts.random_start = parse_bool(spec, key, v);
        else if (key == "targets")
          st.opts.targets = parse_int(spec, key, v, 1);
        else if (key == "queries")
          st.opts.queries = parse_int(spec, key, v, 1);
        else if (key == "p_init")
          st.opts.p_init = parse_double(spec, key, v);
        else if (key == "rho")
          st.opts.rho = parse_double(spec, key, v);
        else if (key == "binary_steps")
          st.opts.binary_steps = parse_int(spec, key, v, 1);
        else if (key == "initial_const")
          st.opts.initial_const = parse_double(spec, key, v);
        else if (key == "learning_rate")
          st.opts.learning_rate = parse_double(spec, key, v);
        else if (key == "confidence")
          st.opts.confidence = parse_double(spec, key, v);
        else {
          throw ConfigError(fmt::format(
              "attack '{}': unknown key '{}'; valid: eps, norm, steps, restarts, step_size, loss, "
              "random_start, targets, queries, p_init, rho, binary_steps, initial_const, "
              "learning_rate, confidence, version",
              spec, key));
        }
      }
      st.opts.targets = std::min<int64_t>(st.opts.targets, num_classes - 1);
      st.opts.seed = derive_seed(seed, {label_key(g.label), static_cast<uint64_t>(s)});
      g.stages.push_back(st);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

}  // namespace sfb::attacks
