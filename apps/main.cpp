// sfbench: robustness of image classifiers, from the inside. Thin entry point: parses the command
// line, resolves the configuration and runs one subcommand; every error ends here.
#include <cstdio>
#include <memory>

#include "app.hpp"
#include "core/version.hpp"

namespace {

int run(sfb::Context& ctx, int argc, char** argv) {
  using namespace sfb::app;
  Invocation inv;
  for (int i = 0; i < argc; ++i) inv.command_line += (i ? " " : "") + std::string(argv[i]);

  CLI::App app{"sfbench: interpretation-based robustness benchmarks for image classifiers"};
  app.set_version_flag("--version", std::string("sfbench ") + sfb::version() + " (" +
                                        sfb::git_commit() + (sfb::git_dirty() ? ", dirty)" : ")"));
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--config", inv.config_file, "TOML config file (configs/*.toml)");
  app.add_option("--set", inv.overrides, "override one config key: --set key=value (repeatable)");
  add_flag_for_key(&app, inv, "--seed", "seed", "seed of all random streams");
  add_flag_for_key(&app, inv, "--device", "device", "auto|cpu|cuda");
  add_flag_for_key(&app, inv, "--comm", "comm", "auto|mpi|nccl");
  add_flag_for_key(&app, inv, "--out", "out", "results file (.h5)");
  add_flag_for_key(&app, inv, "--log-level", "log_level", "trace|debug|info|warn|error|off");
  add_flag_for_key(&app, inv, "--threads", "threads", "intra-op threads per rank");
  add_flag_for_key(&app, inv, "--precision", "precision", "fp32|tf32|bf16 model arithmetic");
  app.add_flag_callback(
      "--channels-last", [&inv] { inv.flags["channels_last"] = "true"; },
      "NHWC memory format for convolution weights (config key 'channels_last')");
  add_flag_for_key(&app, inv, "--batch-size", "batch_size", "samples per batch on each rank");
  add_flag_for_key(
      &app, inv, "--data", "data",
      "synthetic-shapes[:n] | cifar10:DIR | cifar100:DIR | imagenet-folder:DIR | imagenet-h5:FILE");
  add_flag_for_key(&app, inv, "--model", "model",
                   "zoo:NAME[@FILE] | torchscript:FILE | checkpoint:FILE");
  add_flag_for_key(&app, inv, "--split", "split", "train|test");
  add_flag_for_key(&app, inv, "--subset", "subset", "N | first:N | file:PATH");

  std::vector<Command> commands{register_info(app, inv),        register_validate(app, inv),
                                register_commbench(app, inv),   register_pack_imagenet(app, inv),
                                register_sf(app, inv),          register_attack(app, inv),
                                register_eval(app, inv),        register_compare(app, inv),
                                register_train(app, inv),       register_interactions(app, inv),
                                register_attribution(app, inv), register_report(app, inv)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same argv, so every rank ends here; only rank 0 speaks.
    if (ctx.rank() == 0) {
      app.exit(e);
    }
    return e.get_exit_code() == 0 ? 0 : static_cast<int>(sfb::ExitCode::kBadInput);
  }
  for (auto& c : commands) {
    if (c.sub->parsed()) return c.run(ctx, inv);
  }
  return static_cast<int>(sfb::ExitCode::kBadInput);
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<sfb::Context> ctx;
  try {
    ctx = std::make_unique<sfb::Context>(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: cannot initialize MPI: %s\n", e.what());
    return static_cast<int>(sfb::ExitCode::kRuntime);
  }
  int code = 0;
  try {
    code = run(*ctx, argc, argv);
  } catch (const sfb::AgreedError& e) {
    // Every rank holds the same error: print it once and leave together.
    if (ctx->rank() == 0) std::fprintf(stderr, "[rank %d] error: %s\n", e.origin_rank(), e.what());
    code = static_cast<int>(e.exit_code());
    if (ctx->abort_at_exit()) {
      // A parallel file that failed to write cannot be closed: MPI_Finalize would hang or crash.
      std::fflush(stderr);
      ctx->abort(code);
    }
  } catch (const std::exception& e) {
    const auto* se = dynamic_cast<const sfb::Error*>(&e);
    code = static_cast<int>(se ? se->exit_code() : sfb::ExitCode::kRuntime);
    std::fprintf(stderr, "[rank %d] error: %s\n", ctx->rank(), e.what());
    std::fflush(stderr);
    // Other ranks may be waiting in a collective: end the whole job, never leave one hanging.
    if (ctx->size() > 1) ctx->abort(code);
  }
  std::fflush(stdout);
  ctx.reset();  // MPI_Finalize
  return code;
}
