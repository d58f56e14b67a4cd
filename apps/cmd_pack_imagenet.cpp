// `sfbench pack-imagenet`: decodes and transforms a folder of ImageNet JPEGs on every rank and
// writes them into one packed HDF5 file (/images uint8 [N,3,224,224], /labels int64 [N]) with
// collective MPI-IO writes. Read it back with `--data imagenet-h5:FILE`.
#include <fmt/format.h>

#include <iostream>

#include "app.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "data/imagenet_h5.hpp"

namespace sfb::app {
namespace {

constexpr const char* kFolderPrefix = "imagenet-folder:";

std::string folder_of(const std::string& spec) {
  const std::string prefix = kFolderPrefix;
  if (spec.rfind(prefix, 0) != 0 || spec.size() == prefix.size()) {
    throw ConfigError("pack.data '" + spec + "' must be imagenet-folder:DIR (--data)");
  }
  return spec.substr(prefix.size());
}

}  // namespace

Command register_pack_imagenet(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("pack-imagenet",
                                 "pack an ImageNet JPEG folder into one HDF5 file (parallel)");
  add_flag_for_key(sub, inv, "--data", "pack.data", "imagenet-folder:DIR");
  add_flag_for_key(sub, inv, "--labels", "pack.labels",
                   "label file: lines '<relative path> <label>' (default: DIR/<wnid>/<file>)");
  add_flag_for_key(sub, inv, "--num-classes", "pack.num_classes", "number of classes (1000)");
  add_flag_for_key(sub, inv, "--decode-threads", "pack.threads", "JPEG decoder threads per rank");
  add_flag_for_key(sub, inv, "--chunk-rows", "pack.chunk_rows", "rows per rank per write");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "pack-imagenet", kPack);
            const auto& o = inv2.pack;
            if (inv2.common.out.empty()) {
              throw ConfigError("pack-imagenet needs --out packed.h5");
            }
            std::unique_ptr<data::ImageNetFolder> folder;
            ctx.agree([&] {
              data::ImageNetFolderOptions fo;
              fo.label_file = o.labels;
              fo.num_classes = o.num_classes;
              fo.threads = o.threads;
              folder = std::make_unique<data::ImageNetFolder>(folder_of(o.data), fo);
            });
            if (ctx.rank() == 0) {
              std::cout << fmt::format(
                  "# pack-imagenet: {} images, {} classes, {} ranks x {} "
                  "decoder threads -> {}\n",
                  folder->size(), folder->num_classes(), ctx.size(), o.threads, inv2.common.out);
              std::cout.flush();
            }
            Stopwatch sw;
            data::pack_imagenet(ctx, *folder, inv2.common.out, {o.chunk_rows});
            const double secs =
                comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
            if (ctx.rank() == 0) {
              std::cout << fmt::format("# packed {} images in {:.2f} s ({:.1f} images/s)\n",
                                       folder->size(), secs,
                                       static_cast<double>(folder->size()) / std::max(secs, 1e-9));
            }
            return 0;
          }};
}

}  // namespace sfb::app
