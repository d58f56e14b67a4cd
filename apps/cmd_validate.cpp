// `sfbench validate FILE...`: checks results files (.h5) and summaries (.json) against
// results_schema/. Rank 0 checks; the verdict is shared so every rank exits with the same code.
#include <iostream>

#include "app.hpp"
#include "io/validate.hpp"

namespace sfb::app {

Command register_validate(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("validate", "check results files (.h5) and summaries (.json)");
  sub->add_option("files", inv.files, "files to check")->required();
  return {
      sub, [](Context& ctx, Invocation& inv2) {
        resolve(ctx, inv2, "validate", kNoSections);
        int bad = 0;
        if (ctx.rank() == 0) {
          for (const auto& f : inv2.files) {
            const auto rep = io::validate_path(f);
            if (rep.ok()) {
              std::cout << "OK      " << rep.kind << " " << f << "\n";
              for (const auto& n : rep.notes) std::cout << "        note: " << n << "\n";
            } else {
              ++bad;
              std::cout << "INVALID " << rep.kind << " " << f << "\n";
              for (const auto& p : rep.problems) std::cout << "        " << p << "\n";
            }
          }
          std::cout.flush();
        }
        bad = static_cast<int>(comm::allreduce_scalar(ctx.host_comm(), bad, comm::ReduceOp::kMax));
        return bad ? static_cast<int>(ExitCode::kBadInput) : 0;
      }};
}

}  // namespace sfb::app
