// `sfbench info`: provenance plus the device and communicator each rank got.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "build_config.hpp"
#include "io/h5_node.hpp"
#include "models/native_model.hpp"

namespace sfb::app {
namespace {

// With --data and/or --model: open them on every rank (agreed errors, exit 2 for bad specs or
// files) and describe them, with their SHA-256 fingerprints, under "dataset" and "model"; with
// --out, also record them (and the provenance) in a results file.
void describe_inputs(Context& ctx, Invocation& inv, nlohmann::json& out) {
  const auto& in = inv.inputs;
  if (in.data.empty() && in.model.empty()) return;
  const auto seed = static_cast<uint64_t>(inv.common.seed);
  std::unique_ptr<data::Dataset> ds;
  std::shared_ptr<models::Classifier> model;
  models::ModelOptions mo = models::cifar10_options();
  mo.seed = seed;
  if (!in.data.empty()) {
    ds = pipeline::open_dataset(ctx, in, seed);
    mo = pipeline::model_options_for(*ds, in, seed);
    out["dataset"] = pipeline::describe_dataset(*ds, in);
  }
  if (!in.model.empty()) {
    model = pipeline::open_model(ctx, in, mo);
    out["model"] = pipeline::describe_model(*model);
  }
  if (!inv.common.out.empty()) {
    io::ResultsFile rf(ctx, inv.common.out, run_info(inv, "info"));
    pipeline::record_inputs(rf, in, ds.get(), model.get());
    rf.finish();
  }
}

}  // namespace

Command register_info(CLI::App& app, Invocation& /*inv*/) {
  auto* sub =
      app.add_subcommand("info", "show versions, hosts, and each rank's device and communicator");
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "print the provenance as JSON");
  return {sub, [json](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "info", kInputs);
            nlohmann::json p = ctx.provenance().to_json();
            p["hdf5"] = io::H5Node::library_version();
            p["communicator"] = ctx.comm().name();
            describe_inputs(ctx, inv2, p);
            if (ctx.rank() != 0) return 0;
            if (*json) {
              std::cout << p.dump(2) << "\n";
              return 0;
            }
            std::cout << fmt::format("sfbench {} (commit {}{}), {} build, {}\n",
                                     p["sfbench_version"].get<std::string>(),
                                     p["git_commit"].get<std::string>().substr(0, 12),
                                     p["git_dirty"].get<bool>() ? ", dirty" : "",
                                     p["build_type"].get<std::string>(), build::kCompiler);
            for (const char* k : {"libtorch", "cuda", "nccl", "mpi", "hdf5", "cpu_model",
                                  "allocator", "precision"}) {
              std::cout << fmt::format("  {:<10} {}\n", k, p[k].get<std::string>());
            }
            std::cout << fmt::format("  {:<10} {}\n", "features",
                                     fmt::format("cuda={} nccl={}", SFB_WITH_CUDA, SFB_WITH_NCCL));
            std::cout << fmt::format("  {:<10} {}\n", "world", ctx.size());
            std::cout << "# ranks\n";
            for (const auto& d : p["devices"]) std::cout << "  " << d.get<std::string>() << "\n";
            for (const char* k : {"dataset", "model"}) {
              if (!p.contains(k)) continue;
              std::cout << "# " << k << "\n";
              for (auto& [key, v] : p[k].items()) {
                std::cout << fmt::format("  {:<14} {}\n", key,
                                         v.is_string() ? v.get<std::string>() : v.dump());
              }
            }
            return 0;
          }};
}

}  // namespace sfb::app
