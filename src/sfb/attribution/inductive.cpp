// Inductive attacks of paper 002: Noise-I/II on the top-T pixels with random controls, and the
// inductive occlusion attack (Algorithm 1).
#include "attribution/inductive.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "attribution/gini.hpp"
#include "core/device.hpp"
#include "core/error.hpp"

namespace sfb::attribution {

torch::Tensor top_pixel_mask(const torch::Tensor& map, int64_t top) {
  if (map.dim() != 3) throw ConfigError("inductive noise: maps must be [N, H, W]");
  const int64_t n = map.size(1) * map.size(2);
  if (top <= 0 || top > n) {
    throw ConfigError("attribution.top_pixels = " + std::to_string(top) + " must be in [1, " +
                      std::to_string(n) + "]");
  }
  const torch::Tensor flat = map.flatten(1);
  const torch::Tensor thr = std::get<0>(flat.topk(top, 1)).select(1, top - 1).unsqueeze(1);
  return flat.ge(thr).view({map.size(0), 1, map.size(1), map.size(2)});
}

torch::Tensor random_pixel_mask(const torch::Tensor& keys, uint64_t seed, int64_t h, int64_t w,
                                int64_t top, const torch::Device& device) {
  if (top <= 0 || top > h * w) {
    throw ConfigError("attribution.top_pixels = " + std::to_string(top) + " must be in [1, " +
                      std::to_string(h * w) + "]");
  }
  const torch::Tensor k = keys.to(torch::kCPU, torch::kInt64).contiguous();
  torch::Tensor out = torch::zeros({k.numel(), h * w}, torch::kBool);
  for (int64_t i = 0; i < k.numel(); ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(
        seed * 0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(k[i].item<int64_t>()));
    const torch::Tensor pick = torch::randperm(h * w, gen, torch::kInt64).narrow(0, 0, top);
    out[i].index_fill_(0, pick, true);
  }
  return to_device(out.view({k.numel(), 1, h, w}), device);
}

torch::Tensor noise_one(const torch::Tensor& x, const torch::Tensor& mask,
                        const torch::Tensor& sigma) {
  return (x + mask.to(x.scalar_type()) * sigma).clamp(0.0, 1.0);
}

torch::Tensor noise_two(const torch::Tensor& x, const torch::Tensor& mask,
                        const torch::Tensor& sigma) {
  const torch::Tensor m = mask.to(x.scalar_type());
  return ((1.0 - m) * x + m * sigma).clamp(0.0, 1.0);
}

std::vector<std::string> occlusion_colors() { return {"black", "grey", "white"}; }

double occlusion_value(const std::string& color) {
  if (color == "black") return 0.0;
  if (color == "grey") return 0.5;
  if (color == "white") return 1.0;
  throw ConfigError("attribution.occlusion_colors: unknown colour '" + color +
                    "'; valid: black, grey, white");
}

torch::Tensor occlusion_mask(const torch::Tensor& order, int64_t n, int64_t r, int64_t region,
                             int64_t h, int64_t w) {
  const int64_t per_row = w / region;
  const torch::Tensor top = order.narrow(1, 0, std::min(n, order.size(1)));  // [B, n]
  const torch::Tensor cy = top.div(per_row, "floor") * region + region / 2;
  const torch::Tensor cx = top.remainder(per_row) * region + region / 2;
  const torch::Tensor ys = torch::arange(h, order.options()).view({1, 1, h, 1});
  const torch::Tensor xs = torch::arange(w, order.options()).view({1, 1, 1, w});
  const torch::Tensor in_y = (ys - cy.view({cy.size(0), cy.size(1), 1, 1})).abs().lt(r);
  const torch::Tensor in_x = (xs - cx.view({cx.size(0), cx.size(1), 1, 1})).abs().lt(r);
  return (in_y & in_x).any(1, /*keepdim=*/true);
}

OcclusionResult occlusion_attack(models::Classifier& model, const torch::Tensor& x,
                                 const torch::Tensor& y, const torch::Tensor& map,
                                 const OcclusionOptions& o) {
  if (o.max_count <= 0) throw ConfigError("attribution.occlusion_count must be > 0");
  if (o.max_radius <= 0) throw ConfigError("attribution.occlusion_radius must be > 0");
  if (o.internal_batch <= 0) throw ConfigError("attribution.internal_batch must be > 0");
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const torch::Tensor sums = region_sums(map, o.region);  // checks the region size
  // rank regions by descending sum; a stable sort keeps ties in index order
  const torch::Tensor order =
      std::get<1>(sums.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true)).to(x.device());
  const int64_t cands = o.max_count * o.max_radius;
  const int64_t used = std::min(o.max_count, order.size(1));  // regions any candidate occludes
  const int64_t per_row = w / o.region;
  const auto lopt = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
  const torch::Tensor top = order.narrow(1, 0, used);
  const torch::Tensor cy_all = top.div(per_row, "floor") * o.region + o.region / 2;  // [B, used]
  const torch::Tensor cx_all = top.remainder(per_row) * o.region + o.region / 2;
  const torch::Tensor ys = torch::arange(h, lopt).view({1, 1, h, 1});
  const torch::Tensor xs = torch::arange(w, lopt).view({1, 1, 1, w});
  const torch::Tensor slot = torch::arange(used, lopt).view({1, used});
  // candidate index of the first misclassifying (n, r) per image; cands = none
  torch::Tensor first = torch::full({b}, cands, lopt);
  const torch::Tensor yd = y.to(x.device(), torch::kInt64);
  torch::NoGradGuard no_grad;
  const int64_t rows = b * cands;
  for (int64_t s = 0; s < rows; s += o.internal_batch) {
    const int64_t e = std::min(rows, s + o.internal_batch);
    const torch::Tensor row = torch::arange(s, e, lopt);
    const torch::Tensor img = row.div(cands, "floor"), cand = row.remainder(cands);
    const torch::Tensor n = cand.div(o.max_radius, "floor") + 1;  // [rows]
    const torch::Tensor r = (cand.remainder(o.max_radius) + 1).view({-1, 1, 1, 1});
    const torch::Tensor cy = cy_all.index_select(0, img).unsqueeze(2).unsqueeze(3);
    const torch::Tensor cx = cx_all.index_select(0, img).unsqueeze(2).unsqueeze(3);
    const torch::Tensor active = slot.lt(n.unsqueeze(1)).unsqueeze(2).unsqueeze(3);
    // Chebyshev distance < r: a square of side 2r − 1 around each of the top-n centres
    const torch::Tensor m = ((ys - cy).abs().lt(r) & (xs - cx).abs().lt(r) & active)
                                .any(1, /*keepdim=*/true)
                                .to(x.scalar_type());
    const torch::Tensor xi = x.index_select(0, img);
    const torch::Tensor pred = model.forward((1.0 - m) * xi + m * o.color).argmax(1);
    const torch::Tensor hit = pred.ne(yd.index_select(0, img));
    const torch::Tensor c_hit = torch::where(hit, cand, torch::full_like(cand, cands));
    first.scatter_reduce_(0, img, c_hit, "amin", /*include_self=*/true);
  }
  OcclusionResult res;  // on x's device: the caller decides when the host waits for it
  res.flipped = first.lt(cands);
  res.count =
      torch::where(res.flipped, first.div(o.max_radius, "floor") + 1, torch::zeros_like(first));
  res.radius =
      torch::where(res.flipped, first.remainder(o.max_radius) + 1, torch::zeros_like(first));
  return res;
}

}  // namespace sfb::attribution
