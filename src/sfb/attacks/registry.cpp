// The table of attacks (HOUSE_STYLE: one file per attack, registered here by name).
#include <functional>
#include <string>
#include <vector>

#include "attacks/attack.hpp"
#include "attacks/detail/factories.hpp"
#include "core/error.hpp"

namespace sfb::attacks {
namespace {

struct Entry {
  const char* name;
  std::unique_ptr<Attack> (*make)(const AttackOptions&);
};

const std::vector<Entry>& table() {
  static const std::vector<Entry> t{
      // attacks: one line each, in the order `sfbench attack --help` lists them
      {"fgsm", detail::make_fgsm},       {"pgd", detail::make_pgd},
      {"cw-linf", detail::make_cw_linf}, {"cw-l2", detail::make_cw_l2},
      {"apgd-ce", detail::make_apgd_ce}, {"apgd-dlr", detail::make_apgd_dlr},
      {"apgd-t", detail::make_apgd_t},   {"fab-t", detail::make_fab_t},
      {"square", detail::make_square},   {"square-rescaled", detail::make_square_rescaled},
  };
  return t;
}

}  // namespace

std::unique_ptr<Attack> make_attack(const std::string& name, const AttackOptions& opts) {
  for (const auto& e : table()) {
    if (name == e.name) return e.make(opts);
  }
  std::string valid;
  for (const auto& e : table()) valid += (valid.empty() ? "" : ", ") + std::string(e.name);
  throw ConfigError("unknown attack '" + name + "'; valid: " + valid);
}

std::vector<std::string> attack_names() {
  std::vector<std::string> names;
  for (const auto& e : table()) names.emplace_back(e.name);
  return names;
}

}  // namespace sfb::attacks
