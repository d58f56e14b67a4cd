#include "data/synthetic_shapes.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/counter_rng.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/rng.hpp"

namespace sfb::data {
namespace {

using sfb::CounterRng;

constexpr uint64_t kGeneratorKey = 0x5346425348415045ULL;  // "SFBSHAPE"
constexpr uint64_t kParamStream = 0;
constexpr uint64_t kNoiseStream = 1;
constexpr uint64_t kLabelStream = 2;
constexpr double kMinRadius = 0.22;  // object half-size as a fraction of the image size
constexpr double kMaxRadius = 0.40;
constexpr double kMaxAspect = 1.15;
constexpr double kMinContrast = 0.35;  // RGB distance of the object colour to the background
constexpr int kColourAttempts = 32;
constexpr double kPi = 3.14159265358979323846;

const char* const kShapeNames[SyntheticShapes::kMaxClasses] = {
    "disk", "square",          "triangle",      "plus",    "ring",
    "star", "horizontal-bars", "vertical-bars", "diamond", "crescent"};

uint64_t split_key(Split s) { return s == Split::kTrain ? 0 : 1; }
const char* split_text(Split s) { return s == Split::kTrain ? "train" : "test"; }

// Membership of the unit-size shape `label` at object coordinates (u, v); v grows downwards.
bool inside_shape(int64_t label, double u, double v) {
  const double au = std::abs(u), av = std::abs(v);
  switch (label) {
    case 0:  // disk
      return u * u + v * v < 0.90 * 0.90;
    case 1:  // square
      return au < 0.72 && av < 0.72;
    case 2:  // triangle, apex up
      return v < 0.60 && v > -0.95 && au < 0.90 * (v + 0.95) / 1.55;
    case 3:  // plus
      return (au < 0.28 && av < 0.92) || (av < 0.28 && au < 0.92);
    case 4: {  // ring
      const double r2 = u * u + v * v;
      return r2 > 0.50 * 0.50 && r2 < 0.92 * 0.92;
    }
    case 5: {  // five-pointed star, one point up
      const double r = std::sqrt(u * u + v * v);
      if (r >= 0.95) return false;
      const double phi = std::atan2(v, u) + kPi / 2;
      const double lobe = 0.5 * (std::cos(5 * phi) + 1);
      return r < 0.38 + 0.57 * lobe * lobe;
    }
    case 6:  // three horizontal bars
      return au < 0.90 && av < 0.90 && static_cast<int>((v + 0.90) / 0.36) % 2 == 0;
    case 7:  // three vertical bars
      return au < 0.90 && av < 0.90 && static_cast<int>((u + 0.90) / 0.36) % 2 == 0;
    case 8:  // diamond
      return au + av < 0.95;
    case 9:  // crescent: a disk minus a disk shifted to the right
      return u * u + v * v < 0.90 * 0.90 && (u - 0.45) * (u - 0.45) + v * v > 0.70 * 0.70;
    default:
      return false;
  }
}

std::array<float, 3> random_colour(CounterRng& rng) {
  return {static_cast<float>(rng.uniform()), static_cast<float>(rng.uniform()),
          static_cast<float>(rng.uniform())};
}

// Euclidean RGB distance from p to the segment [a, b] (the colours a blend of a and b can take).
double distance_to_segment(const std::array<float, 3>& p, const std::array<float, 3>& a,
                           const std::array<float, 3>& b) {
  double ab2 = 0, t = 0;
  for (int c = 0; c < 3; ++c) {
    ab2 += (b[c] - a[c]) * (b[c] - a[c]);
    t += (p[c] - a[c]) * (b[c] - a[c]);
  }
  t = ab2 > 0 ? std::clamp(t / ab2, 0.0, 1.0) : 0.0;
  double d2 = 0;
  for (int c = 0; c < 3; ++c) {
    const double q = a[c] + t * (b[c] - a[c]);
    d2 += (p[c] - q) * (p[c] - q);
  }
  return std::sqrt(d2);
}

// Texture of the background: two plane waves with random direction, frequency and phase.
struct Texture {
  double fx[2] = {0, 0}, fy[2] = {0, 0}, phase[2] = {0, 0};
};

Texture draw_texture(CounterRng& rng) {
  Texture t;
  for (int k = 0; k < 2; ++k) {
    const double dir = rng.uniform(0, 2 * kPi);
    const double freq = rng.uniform(0.15, 1.0);  // radians per pixel
    t.fx[k] = freq * std::cos(dir);
    t.fy[k] = freq * std::sin(dir);
    t.phase[k] = rng.uniform(0, 2 * kPi);
  }
  return t;
}

}  // namespace

SyntheticShapes::SyntheticShapes(const SyntheticShapesOptions& opts) : opts_(opts) {
  if (opts_.n < -1) throw ConfigError(fmt::format("synthetic-shapes: n = {} is negative", opts_.n));
  if (opts_.image_size < 8 || opts_.image_size > 1024) {
    throw ConfigError(
        fmt::format("synthetic-shapes: image_size = {} outside [8, 1024]", opts_.image_size));
  }
  if (opts_.num_classes < 2 || opts_.num_classes > kMaxClasses) {
    throw ConfigError(fmt::format("synthetic-shapes: num_classes = {} outside [2, {}]",
                                  opts_.num_classes, kMaxClasses));
  }
  if (!(opts_.noise >= 0 && opts_.noise <= 1)) {
    throw ConfigError(fmt::format("synthetic-shapes: noise = {} outside [0, 1]", opts_.noise));
  }
  if (opts_.n == -1) opts_.n = opts_.split == Split::kTrain ? 10000 : 2000;
  n_ = opts_.n;
}

std::vector<int64_t> SyntheticShapes::image_shape() const {
  return {3, opts_.image_size, opts_.image_size};
}

std::string SyntheticShapes::spec() const { return fmt::format("synthetic-shapes:{}", n_); }

std::string SyntheticShapes::fingerprint() const {
  return sha256_hex(fmt::format(
      "synthetic-shapes|version={}|n={}|split={}|seed={}|size={}|classes={}|noise={:.17g}|"
      "textured={}",
      kVersion, n_, split_text(opts_.split), opts_.seed, opts_.image_size, opts_.num_classes,
      opts_.noise, opts_.textured ? 1 : 0));
}

std::vector<std::string> SyntheticShapes::class_names() const {
  return std::vector<std::string>(kShapeNames, kShapeNames + opts_.num_classes);
}

void SyntheticShapes::check_index(int64_t index) const {
  if (index < 0 || index >= n_) {
    throw DataError(fmt::format("synthetic-shapes ({} split): sample index {} outside [0, {})",
                                split_text(opts_.split), index, n_));
  }
}

int64_t SyntheticShapes::label(int64_t index) const {
  check_index(index);
  // Block b of C consecutive indices holds a random permutation of the C classes.
  const int64_t c = opts_.num_classes;
  const int64_t block = index / c;
  CounterRng rng(derive_seed(opts_.seed, {kGeneratorKey, split_key(opts_.split),
                                          static_cast<uint64_t>(block), kLabelStream}));
  std::array<int64_t, kMaxClasses> perm{};
  std::iota(perm.begin(), perm.begin() + c, 0);
  for (int64_t i = c - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm[static_cast<size_t>(index % c)];
}

ShapeParams SyntheticShapes::params(int64_t index) const {
  ShapeParams p;
  p.label = label(index);
  CounterRng rng(derive_seed(opts_.seed, {kGeneratorKey, split_key(opts_.split),
                                          static_cast<uint64_t>(index), kParamStream}));
  p.background0 = random_colour(rng);
  p.background1 = random_colour(rng);
  if (!opts_.textured) p.background1 = p.background0;
  // Object colour: uniform in the RGB cube, redrawn until it contrasts with every colour the
  // background can take. The class plays no part in this draw.
  double best = -1;
  for (int attempt = 0; attempt < kColourAttempts && best < kMinContrast; ++attempt) {
    const auto c = random_colour(rng);
    const double d = distance_to_segment(c, p.background0, p.background1);
    if (d > best) {
      best = d;
      p.colour = c;
    }
  }
  const double s = static_cast<double>(opts_.image_size);
  p.radius = s * rng.uniform(kMinRadius, kMaxRadius);
  p.aspect = std::exp(rng.uniform(-std::log(kMaxAspect), std::log(kMaxAspect)));
  p.angle = rng.uniform(-kMaxAngle, kMaxAngle);
  // Keep the centre far enough inside that most of the object is visible.
  const double margin = 0.8 * p.radius;
  p.cx = rng.uniform(margin, s - margin);
  p.cy = rng.uniform(margin, s - margin);
  return p;
}

void SyntheticShapes::render(int64_t index, float* image, float* mask) const {
  const ShapeParams p = params(index);
  CounterRng texture_rng(derive_seed(opts_.seed, {kGeneratorKey, split_key(opts_.split),
                                                  static_cast<uint64_t>(index), kNoiseStream}));
  const Texture tex = draw_texture(texture_rng);
  CounterRng noise_rng = texture_rng;
  const int64_t s = opts_.image_size;
  const int64_t plane = s * s;
  const double cos_a = std::cos(p.angle), sin_a = std::sin(p.angle);
  const double inv_rx = 1.0 / (p.radius * p.aspect), inv_ry = p.aspect / p.radius;
  const float amp = static_cast<float>(opts_.noise);
  for (int64_t y = 0; y < s; ++y) {
    const double py = static_cast<double>(y) + 0.5 - p.cy;
    for (int64_t x = 0; x < s; ++x) {
      const double px = static_cast<double>(x) + 0.5 - p.cx;
      const double u = (cos_a * px + sin_a * py) * inv_rx;
      const double v = (-sin_a * px + cos_a * py) * inv_ry;
      const bool fg = inside_shape(p.label, u, v);
      const int64_t at = y * s + x;
      mask[at] = fg ? 1.0f : 0.0f;
      float rgb[3];
      if (fg) {
        for (int c = 0; c < 3; ++c) rgb[c] = p.colour[static_cast<size_t>(c)];
      } else {
        float t = 0.5f;
        if (opts_.textured) {
          const double xx = static_cast<double>(x), yy = static_cast<double>(y);
          t = static_cast<float>(0.5 +
                                 0.25 * std::sin(tex.fx[0] * xx + tex.fy[0] * yy + tex.phase[0]) +
                                 0.25 * std::sin(tex.fx[1] * xx + tex.fy[1] * yy + tex.phase[1]));
        }
        for (int c = 0; c < 3; ++c) {
          const auto k = static_cast<size_t>(c);
          rgb[c] = p.background0[k] + t * (p.background1[k] - p.background0[k]);
        }
      }
      for (int c = 0; c < 3; ++c) {
        float val = rgb[c];
        if (amp > 0) val += amp * (2.0f * noise_rng.uniform_float() - 1.0f);
        image[c * plane + at] = std::clamp(val, 0.0f, 1.0f);
      }
    }
  }
}

Batch SyntheticShapes::get(const std::vector<int64_t>& indices) const {
  for (int64_t i : indices) check_index(i);
  const auto b = static_cast<int64_t>(indices.size());
  const int64_t s = opts_.image_size;
  Batch batch;
  batch.images = torch::empty({b, 3, s, s}, torch::kFloat32);
  batch.masks = torch::empty({b, 1, s, s}, torch::kFloat32);
  batch.labels = torch::empty({b}, torch::kInt64);
  batch.index = torch::tensor(indices, torch::kInt64).reshape({b});
  float* images = batch.images.data_ptr<float>();
  float* masks = batch.masks.data_ptr<float>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  at::parallel_for(0, b, 8, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t idx = indices[static_cast<size_t>(k)];
      labels[k] = label(idx);
      render(idx, images + k * 3 * s * s, masks + k * s * s);
    }
  });
  return batch;
}

}  // namespace sfb::data
