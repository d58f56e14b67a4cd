#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <variant>
#include <vector>

namespace sfb {

/// Binds dotted config keys ("seed", "commbench.iters") to fields of plain config structs, and
/// fills them from a TOML file and from `--set key=value` overrides with strict validation: an
/// unknown key, a value of the wrong type, or a value outside its allowed choices/range throws
/// ConfigError naming the key, the value, where it came from and what was expected.
///
/// Precedence (later wins): struct defaults < config file < `--set` overrides, in command-line
/// order.
class ConfigSchema {
 public:
  using Field = std::variant<bool*, int64_t*, double*, std::string*, std::vector<double>*,
                             std::vector<int64_t>*, std::vector<std::string>*>;

  /// Registers `key` bound to `field`; `help` is a one-line description shown in errors and docs.
  /// `choices` restricts string values. Keys are unique; a section is the part before the last dot.
  void add(const std::string& key, Field field, const std::string& help,
           std::vector<std::string> choices = {});
  /// Like add(), for an integer with an inclusive range.
  void add_int(const std::string& key, int64_t* field, const std::string& help, int64_t min,
               int64_t max);
  /// Like add(), for a float with an inclusive range.
  void add_float(const std::string& key, double* field, const std::string& help, double min,
                 double max);

  /// Reads a TOML file and applies every key in it. Throws ConfigError for a missing/unreadable
  /// file, a TOML syntax error (with line and column), an unknown key or a bad value.
  void load_file(const std::filesystem::path& file);
  /// Parses TOML text (what load_file reads); `origin` names the source in errors.
  void load_string(const std::string& toml_text, const std::string& origin);
  /// Applies one `key=value` override. The value is read as a TOML value (`3`, `1e-3`, `true`,
  /// `[1, 2]`, `"text"`); for string keys unquoted text is taken literally.
  void apply_override(const std::string& key_equals_value);
  /// Sets one key from text as apply_override does; `origin` names the source in errors.
  void set(const std::string& key, const std::string& value, const std::string& origin);

  /// The resolved configuration (every registered key with its current value) as TOML text with
  /// keys in sorted order; equal configurations give byte-identical text.
  std::string to_toml() const;
  /// The resolved configuration as a JSON object nested by section.
  nlohmann::json to_json() const;
  /// True when `key` is registered.
  bool has(const std::string& key) const;
  /// The registered keys in sorted order.
  std::vector<std::string> keys() const;
  /// Removes every registered key for which `drop(key)` is true (a command that reads one key of
  /// another section registers the section, then drops the rest).
  void remove_if(const std::function<bool(const std::string&)>& drop);

  /// Scopes this schema to one command: `scope` names it in errors ("sfbench sf") and `others`
  /// holds the keys of every command. A config file may hold sections of other commands: their
  /// keys are validated against `others` (a typo still fails) and otherwise ignored, so they are
  /// not part of to_toml(). A `--set` or flag for a key only `others` knows throws ConfigError
  /// saying that `scope` does not read it. `others` must outlive this schema's loads.
  void set_scope(std::string scope, const ConfigSchema* others);

 private:
  struct Entry {
    Field field;
    std::string help;
    std::vector<std::string> choices;
    bool has_int_range = false;
    int64_t imin = 0, imax = 0;
    bool has_float_range = false;
    double fmin = 0, fmax = 0;
  };
  const Entry& lookup(const std::string& key, const std::string& origin) const;
  void check(const std::string& key, const Entry& e, const std::string& shown,
             const std::string& origin) const;
  std::map<std::string, Entry> entries_;
  std::string scope_;
  const ConfigSchema* others_ = nullptr;
};

/// Options every command shares (top-level keys of the config).
struct CommonConfig {
  int64_t seed = 0;             ///< seed of every random stream (derive_seed keys it per sample)
  std::string device = "auto";  ///< auto | cpu | cuda
  std::string comm = "auto";    ///< auto | mpi | nccl
  std::string out;              ///< results file (.h5); empty = no results file
  std::string log_level = "info";
  bool log_all_ranks = false;  ///< info-level logs from every rank, not only rank 0
  int64_t threads = 0;         ///< intra-op threads per rank; 0 = cores of the node / local ranks
  int64_t batch_size = 256;    ///< samples per batch on each rank (evaluation stages)
  /// Arithmetic of the model evaluations: fp32 (strict float32: TF32 off), tf32 (TF32 tensor-core
  /// matmuls and convolutions on CUDA; no effect on CPUs) or bf16 (autocast to bfloat16 for
  /// the ops autocast lists, on CUDA and CPU). float64 reference evaluations are never autocast.
  std::string precision = "fp32";
  /// Convolution weights (and so activations) in NHWC memory format: "true", "false", or "auto"
  /// (NHWC on CPU ranks, where oneDNN's NHWC convolutions are the faster ones, and NCHW on CUDA
  /// ranks). A TOML boolean is accepted for true/false.
  std::string channels_last = "auto";
  /// Registers the keys above in `schema`.
  void register_keys(ConfigSchema& schema);
};

}  // namespace sfb
