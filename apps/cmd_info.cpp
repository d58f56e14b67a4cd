// `sfbench info`: provenance plus the device and communicator each rank got.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "build_config.hpp"
#include "io/hdf5/h5.hpp"

namespace sfb::app {

Command register_info(CLI::App& app, Invocation& /*inv*/) {
  auto* sub = app.add_subcommand("info", "show versions, hosts, and each rank's device and communicator");
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "print the provenance as JSON");
  return {sub, [json](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2);
            nlohmann::json p = ctx.provenance().to_json();
            p["hdf5"] = io::h5::library_version();
            p["communicator"] = ctx.comm().name();
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
            for (const char* k : {"libtorch", "cuda", "nccl", "mpi", "hdf5", "cpu_model"}) {
              std::cout << fmt::format("  {:<10} {}\n", k, p[k].get<std::string>());
            }
            std::cout << fmt::format("  {:<10} {}\n", "features",
                                     fmt::format("cuda={} nccl={}", SFB_WITH_CUDA, SFB_WITH_NCCL));
            std::cout << fmt::format("  {:<10} {}\n", "world", ctx.size());
            std::cout << "# ranks\n";
            for (const auto& d : p["devices"]) std::cout << "  " << d.get<std::string>() << "\n";
            return 0;
          }};
}

}  // namespace sfb::app
