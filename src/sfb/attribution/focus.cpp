// Foreground focus of attribution maps (paper 003): SNR in dB and confidence groups.
#include "attribution/focus.hpp"

#include <fmt/format.h>

#include <string>

#include "core/device.hpp"
#include "core/error.hpp"

namespace sfb::attribution {
namespace {

std::string dims(torch::IntArrayRef d) {
  std::string out;
  for (const int64_t v : d) out += (out.empty() ? "" : "x") + std::to_string(v);
  return out;
}

}  // namespace

torch::Tensor confidence_group(const torch::Tensor& p) {
  return (p.ge(0.5).to(torch::kInt64) + p.ge(0.9).to(torch::kInt64));
}

torch::Tensor snr_db(const torch::Tensor& map, const torch::Tensor& mask) {
  torch::Tensor m = mask.dim() == 4 && mask.size(1) == 1 ? mask.squeeze(1) : mask;
  if (map.dim() != 3 || m.sizes() != map.sizes()) {
    throw DataError(fmt::format("foreground masks of size {} do not match the attribution maps {}",
                                dims(mask.sizes()), dims(map.sizes())));
  }
  // The masks are checked where they are (on the host, as batches bring them: no wait for the
  // device), then copied to the maps' device without a wait.
  const torch::Tensor fg_here = m.ne(0).to(torch::kFloat64);
  const torch::Tensor n_fg_here = fg_here.sum({1, 2}).to(torch::kCPU);
  const double pixels = static_cast<double>(m.size(1) * m.size(2));
  for (int64_t i = 0; i < map.size(0); ++i) {
    const double f = n_fg_here[i].item<double>();
    if (f == 0 || f == pixels) {
      throw DataError(
          fmt::format("foreground mask of row {} is {}: SNR needs foreground and "
                      "background pixels",
                      i, f == 0 ? "empty" : "full"));
    }
  }
  const torch::Tensor fg = to_device(fg_here, map.device());
  const torch::Tensor bg = 1.0 - fg;
  const torch::Tensor n_fg = fg.sum({1, 2}), n_bg = bg.sum({1, 2});
  const torch::Tensor a = map.to(torch::kFloat64).abs();
  const torch::Tensor signal = (a * fg).sum({1, 2}) / n_fg;
  const torch::Tensor noise = (a * bg).sum({1, 2}) / n_bg;
  return 10.0 * torch::log10(signal / noise);
}

}  // namespace sfb::attribution
