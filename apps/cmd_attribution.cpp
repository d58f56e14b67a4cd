// `sfbench attribution`: attribution maps, their Gini inequality and foreground SNR (SPEC §5,
// papers 002 and 003).
#include "app.hpp"
#include "attribution/command.hpp"
#include "core/error.hpp"
#include "data/masks.hpp"

namespace sfb::app {

Command register_attribution(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("attribution",
                                 "attribution maps, Gini and foreground SNR (papers 002, 003)");
  add_flag_for_key(sub, inv, "--methods", "attribution.methods",
                   "methods, e.g. [\"saliency\",\"grad-cam\"]");
  add_flag_for_key(sub, inv, "--steps", "attribution.steps", "integrated gradients steps");
  add_flag_for_key(sub, inv, "--samples", "attribution.samples", "SmoothGrad/GradientShap samples");
  add_flag_for_key(sub, inv, "--region", "attribution.region", "r of the regional Gini");
  add_flag_for_key(sub, inv, "--masks", "attribution.masks", "png:DIR | h5:FILE foreground masks");
  add_flag_for_key(sub, inv, "--internal-batch", "attribution.internal_batch",
                   "rows per forward/backward inside a method");
  add_flag_for_key(sub, inv, "--top-pixels", "attribution.top_pixels",
                   "inductive noise pixel counts, e.g. [100,500]");
  add_flag_for_key(sub, inv, "--occlusion-colors", "attribution.occlusion_colors",
                   "inductive occlusion colours, e.g. [\"black\"] ([] = none)");
  add_flag_for_key(sub, inv, "--maps", "attribution.maps", "save the maps of the first N images");
  add_flag_for_key(sub, inv, "--montage", "attribution.montage", "images in the PNG montage");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "attribution", kInputs | kAttribution);
            // User masks of the wrong size, empty or full stop here, before any result file.
            pipeline::DatasetWrapper masks;
            if (!inv2.attribution.masks.empty()) {
              masks = [&inv2](std::shared_ptr<const data::Dataset> ds, const Range& shard) {
                const bool folder = inv2.inputs.data.rfind("imagenet-folder:", 0) == 0;
                auto masked = std::make_shared<data::MaskedDataset>(
                    ds, attribution::mask_source(inv2.attribution.masks, folder));
                for (int64_t i = shard.begin; i < shard.end(); ++i) {
                  if (masked->mask(i).min().item<float>() > 0) {
                    throw DataError("mask of sample " + std::to_string(i) +
                                    " is full: no background pixel for the SNR");
                  }
                }
                return std::shared_ptr<const data::Dataset>(masked);
              };
            }
            const auto build = [&](const data::Dataset& ds, models::Classifier& model) {
              inv2.attribution =
                  attribution::resolve_config(inv2.attribution, ds.image_shape(), ds.size());
              auto stage = std::make_unique<attribution::AttributionCommandStage>(
                  model, inv2.attribution, model.num_classes(), ds.has_masks(),
                  static_cast<uint64_t>(inv2.common.seed), ctx.device(), inv2.common.batch_size,
                  ds.size(), ds.image_shape());
              stage->stage().check_layers(ds.get({0}));  // a bad layer stops before any file
              return stage;
            };
            return pipeline::run_command(ctx, command_spec(inv2, "attribution"), build, masks);
          }};
}

}  // namespace sfb::app
