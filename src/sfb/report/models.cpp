#include "report/models.hpp"

#include <map>
#include <set>

namespace sfb::report {
namespace {

constexpr std::size_t kMaxLabel = 48;

// Number of UTF-8 characters of `s` (continuation bytes not counted).
std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::string short_spec(const std::string& spec) {
  // A path starts after "kind:" or "@" and runs to the next "@" (zoo:NAME@FILE has one).
  std::string out;
  std::size_t pos = 0;
  while (pos < spec.size()) {
    std::size_t start = pos;
    if (pos == 0) {
      const std::size_t colon = spec.find(':');
      const std::size_t at = spec.find('@');
      start =
          (colon != std::string::npos && (at == std::string::npos || colon < at)) ? colon + 1 : 0;
      out += spec.substr(0, start);
    }
    const std::size_t at = spec.find('@', start);
    const std::string part =
        spec.substr(start, at == std::string::npos ? std::string::npos : at - start);
    const std::size_t slash = part.find_last_of('/');
    out += (slash == std::string::npos || slash + 1 == part.size()) ? part : part.substr(slash + 1);
    if (at == std::string::npos) break;
    out += '@';
    pos = at + 1;
  }
  if (utf8_length(out) <= kMaxLabel) return out;
  // Keep the end (the file name tells models apart), cut at a character boundary.
  std::size_t cut = out.size();
  for (std::size_t kept = 0; cut > 0 && kept < kMaxLabel - 1;) {
    --cut;
    if ((static_cast<unsigned char>(out[cut]) & 0xC0) != 0x80) ++kept;
  }
  return "\u2026" + out.substr(cut);
}

std::vector<ModelGroup> group_models(const std::vector<FileKey>& keys) {
  std::vector<ModelGroup> groups;
  std::map<std::string, std::size_t> by_fingerprint;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    if (k.fingerprint.empty()) continue;
    auto [it, added] = by_fingerprint.emplace(k.fingerprint, groups.size());
    if (added) {
      groups.push_back({});
      groups.back().fingerprint = k.fingerprint;
    }
    groups[it->second].files.push_back(i);
  }
  for (auto& g : groups) {
    std::string spec;
    for (const std::size_t f : g.files) {
      if (!keys[f].spec.empty()) {
        spec = keys[f].spec;
        break;
      }
    }
    g.label = spec.empty() ? keys[g.files.front()].stem : short_spec(spec);
    g.title = (spec.empty() ? "files " + keys[g.files.front()].stem : spec) + " (weights SHA-256 " +
              g.fingerprint + ")";
  }
  // Labels must tell the models apart: collisions get the stem of their first file, then a number.
  std::map<std::string, int> count;
  for (const auto& g : groups) ++count[g.label];
  for (auto& g : groups) {
    if (count[g.label] > 1) g.label += " [" + keys[g.files.front()].stem + "]";
  }
  std::set<std::string> seen;
  for (auto& g : groups) {
    const std::string base = g.label;
    for (int n = 2; !seen.insert(g.label).second; ++n) g.label = base + " #" + std::to_string(n);
  }
  return groups;
}

}  // namespace sfb::report
