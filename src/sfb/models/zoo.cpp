#include "models/zoo.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.hpp"

namespace sfb::models {
namespace {

/// Seeds LibTorch's default CPU generator for the lifetime of the guard, then restores its state,
/// so building a model neither depends on nor disturbs the caller's random stream.
class SeedGuard {
 public:
  explicit SeedGuard(uint64_t seed) : gen_(at::detail::getDefaultCPUGenerator()) {
    state_ = gen_.get_state();
    gen_.set_current_seed(seed);
  }
  ~SeedGuard() { gen_.set_state(state_); }
  SeedGuard(const SeedGuard&) = delete;
  SeedGuard& operator=(const SeedGuard&) = delete;

 private:
  at::Generator gen_;
  at::Tensor state_;
};

}  // namespace

std::vector<std::string> zoo_names() {
  return {"cnn-small",    "preact-resnet-18", "dm-preact-resnet-18", "wrn-28-10", "wrn-34-10",
          "dm-wrn-28-10", "dm-wrn-70-16",     "resnet-18",           "resnet-34", "resnet-50"};
}

std::shared_ptr<NativeModel> make_zoo_model(const std::string& arch, const ModelOptions& o) {
  validate(o);
  SeedGuard guard(o.seed);
  if (arch == "cnn-small") return make_cnn_small(o);
  if (arch == "preact-resnet-18") return make_preact_resnet18(o);
  if (arch == "wrn-28-10") return make_wide_resnet(o, 28, 10);
  if (arch == "wrn-34-10") return make_wide_resnet(o, 34, 10);
  if (arch == "dm-wrn-28-10" || arch == "dm-wrn-70-16" || arch == "dm-preact-resnet-18") {
    // DeepMind's models use Swish; "relu" (the default) means the published activation here.
    ModelOptions dm = o;
    if (dm.activation == "relu") dm.activation = "swish";
    if (arch == "dm-preact-resnet-18") return make_preact_resnet18(dm, true);
    return arch == "dm-wrn-28-10" ? make_wide_resnet(dm, 28, 10, true)
                                  : make_wide_resnet(dm, 70, 16, true);
  }
  if (arch == "resnet-18") return make_resnet(o, 18);
  if (arch == "resnet-34") return make_resnet(o, 34);
  if (arch == "resnet-50") return make_resnet(o, 50);
  std::string valid;
  for (const auto& n : zoo_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw ConfigError("unknown zoo model '" + arch + "'; valid: " + valid);
}

}  // namespace sfb::models
