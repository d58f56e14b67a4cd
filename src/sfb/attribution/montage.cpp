#include "attribution/montage.hpp"

#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "core/error.hpp"
#include "core/output_file.hpp"

namespace sfb::attribution {
namespace {

constexpr uint8_t kWhite = 255;

// ---- libpng ----------------------------------------------------------------------------------
// libpng reports errors by longjmp out of its own frames. Everything it touches is plain data in
// PngWrite, and write_png_file() holds no object with a destructor, so the longjmp skips nothing
// that C++ must unwind; the caller turns a false return into IoError.

struct PngWrite {
  int fd;              // the temporary file (NewFile), written through a duplicate descriptor
  png_uint_32 width;   // pixels
  png_uint_32 height;  // pixels
  png_bytepp rows;     // height pointers to width·3 bytes of RGB
  png_textp text;      // tEXt chunks
  int num_text;        // entries in text
  // The handles live here, not in locals of write_png_file(), so setjmp cannot clobber them.
  std::FILE* file;
  png_structp png;
  png_infop info;
  char error[512];  // why it failed
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngWrite*>(png_get_error_ptr(png));
  std::snprintf(job->error, sizeof(job->error), "libpng: %s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

/// Writes job->rows as an 8-bit RGB PNG with job->text; false (job->error set) on any failure.
bool write_png_file(PngWrite* job) {
  const int fd = dup(job->fd);
  job->file = fd >= 0 ? fdopen(fd, "wb") : nullptr;
  if (job->file == nullptr) {
    std::snprintf(job->error, sizeof(job->error), "cannot open for writing: %s",
                  std::strerror(errno));
    if (fd >= 0) close(fd);
    return false;
  }
  job->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, on_png_error, on_png_warning);
  job->info = job->png != nullptr ? png_create_info_struct(job->png) : nullptr;
  if (job->png == nullptr || job->info == nullptr) {
    png_destroy_write_struct(&job->png, &job->info);
    std::fclose(job->file);
    std::snprintf(job->error, sizeof(job->error), "cannot create the libpng write structures");
    return false;
  }
  if (setjmp(png_jmpbuf(job->png))) {
    png_destroy_write_struct(&job->png, &job->info);
    std::fclose(job->file);
    return false;
  }
  png_init_io(job->png, job->file);
  png_set_IHDR(job->png, job->info, job->width, job->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_text(job->png, job->info, job->text, job->num_text);
  png_write_info(job->png, job->info);
  png_write_image(job->png, job->rows);
  png_write_end(job->png, nullptr);
  png_destroy_write_struct(&job->png, &job->info);
  const bool flushed = std::fflush(job->file) == 0 && std::ferror(job->file) == 0;
  const bool closed = std::fclose(job->file) == 0;
  if (!flushed || !closed) {
    std::snprintf(job->error, sizeof(job->error), "write failed: %s", std::strerror(errno));
    return false;
  }
  return true;
}

struct PngRead {
  std::FILE* file;  // the PNG to read
  png_structp png;
  png_infop info;
  bool ours;  // a tEXt key starts with "sfbench:"
};

void on_png_read_error(png_structp png, png_const_charp) { png_longjmp(png, 1); }

/// Reads the PNG's header chunks (tEXt among them, written before the image data); false for a
/// file libpng cannot read.
bool read_png_text(PngRead* job) {
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_png_read_error, on_png_warning);
  job->info = job->png != nullptr ? png_create_info_struct(job->png) : nullptr;
  if (job->png == nullptr || job->info == nullptr) {
    png_destroy_read_struct(&job->png, &job->info, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(job->png))) {
    png_destroy_read_struct(&job->png, &job->info, nullptr);
    return false;
  }
  png_init_io(job->png, job->file);
  png_read_info(job->png, job->info);
  png_textp text = nullptr;
  int n = 0;
  png_get_text(job->png, job->info, &text, &n);
  for (int i = 0; i < n; ++i) {
    if (std::strncmp(text[i].key, "sfbench:", 8) == 0) job->ours = true;
  }
  png_destroy_read_struct(&job->png, &job->info, nullptr);
  return true;
}

// ---- drawing ---------------------------------------------------------------------------------

/// The clip_quantile quantile of |a| (linear interpolation between order statistics, as
/// torch.quantile); the maximum when that quantile is 0; 0 only for an all-zero map.
/// Non-finite |a| count as 0.
double cell_scale(std::vector<double> v, double q) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  std::sort(v.begin(), v.end());
  const double scale = v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
  return scale > 0.0 ? scale : v.back();
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? "" : sep) + parts[i];
  return out;
}

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

void validate(const torch::Tensor& images, const std::vector<torch::Tensor>& maps,
              const std::vector<std::string>& names, const std::vector<std::string>& row_labels,
              const MontageOptions& o) {
  if (!images.defined() || images.dim() != 4 || images.size(0) < 1 ||
      (images.size(1) != 1 && images.size(1) != 3) || images.size(2) < 1 || images.size(3) < 1) {
    throw ConfigError(
        "write_montage: images must be [K, C, H, W] with K >= 1 and C = 1 or 3, got " +
        (images.defined() ? shape_text(images) : std::string("an undefined tensor")));
  }
  if (!images.is_floating_point()) {
    throw ConfigError("write_montage: images must be a floating-point tensor in [0, 1]");
  }
  const int64_t k = images.size(0);
  if (maps.size() != names.size()) {
    throw ConfigError("write_montage: " + std::to_string(maps.size()) + " maps but " +
                      std::to_string(names.size()) + " column names");
  }
  for (size_t m = 0; m < maps.size(); ++m) {
    const torch::Tensor& a = maps[m];
    if (!a.defined() || a.dim() != 3 || a.size(0) != k || a.size(1) != images.size(2) ||
        a.size(2) != images.size(3)) {
      throw ConfigError("write_montage: map '" + names[m] + "' must be [K, H, W] = [" +
                        std::to_string(k) + ", " + std::to_string(images.size(2)) + ", " +
                        std::to_string(images.size(3)) + "] like the images, got " +
                        (a.defined() ? shape_text(a) : std::string("an undefined tensor")));
    }
  }
  if (static_cast<int64_t>(row_labels.size()) != k) {
    throw ConfigError("write_montage: " + std::to_string(row_labels.size()) + " row labels for " +
                      std::to_string(k) + " images");
  }
  if (o.gap < 0) throw ConfigError("write_montage: gap must be >= 0, got " + std::to_string(o.gap));
  if (!(o.clip_quantile > 0.0 && o.clip_quantile <= 1.0)) {
    throw ConfigError("write_montage: clip_quantile must be in (0, 1], got " +
                      std::to_string(o.clip_quantile));
  }
}

}  // namespace

// t ↦ (r, g, b) = 255·(clamp(3t), clamp(3t − 1), clamp(3t − 2)), clamp to [0, 1], rounded:
// black at 0, pure red at 1/3, yellow at 2/3, white at 1.
std::array<uint8_t, 3> heat_colour(double t) {
  if (!(t > 0.0)) t = 0.0;  // also NaN
  t = std::min(t, 1.0);
  std::array<uint8_t, 3> rgb{};
  for (int c = 0; c < 3; ++c) {
    const double v = std::clamp(3.0 * t - c, 0.0, 1.0);
    rgb[c] = static_cast<uint8_t>(std::lround(255.0 * v));
  }
  return rgb;
}

void write_montage(const std::string& path, const torch::Tensor& images,
                   const std::vector<torch::Tensor>& maps, const std::vector<std::string>& names,
                   const std::vector<std::string>& row_labels, const MontageOptions& o) {
  validate(images, maps, names, row_labels, o);
  const int64_t k = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t side = std::max(h, w);
  const int64_t s = std::max<int64_t>(1, (std::max<int64_t>(o.min_cell, 0) + side - 1) / side);
  const int64_t cell_h = s * h, cell_w = s * w;
  const auto ncols = static_cast<int64_t>(maps.size()) + 1;
  const int64_t width = ncols * cell_w + (ncols - 1) * o.gap;
  const int64_t height = k * cell_h + (k - 1) * o.gap;
  constexpr int64_t kMaxSide = 1000000;  // libpng's default user limit on width and height
  if (width > kMaxSide || height > kMaxSide) {
    throw ConfigError("write_montage: a " + std::to_string(width) + "x" + std::to_string(height) +
                      " montage is too large for '" + path + "'");
  }

  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * 3), kWhite);
  auto put = [&](int64_t y, int64_t x, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t* p = pixels.data() + (y * width + x) * 3;
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };

  // Column 0: the images, grey replicated, round(255·x) after clamping to [0, 1].
  const torch::Tensor img = images.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const auto ia = img.accessor<double, 4>();
  auto byte = [](double v) {
    if (!(v > 0.0)) v = 0.0;
    return static_cast<uint8_t>(std::lround(255.0 * std::min(v, 1.0)));
  };
  for (int64_t r = 0; r < k; ++r) {
    const int64_t y0 = r * (cell_h + o.gap);
    for (int64_t y = 0; y < cell_h; ++y) {
      for (int64_t x = 0; x < cell_w; ++x) {
        const int64_t sy = y / s, sx = x / s;
        const uint8_t red = byte(ia[r][0][sy][sx]);
        if (c == 1) {
          put(y0 + y, x, red, red, red);
        } else {
          put(y0 + y, x, red, byte(ia[r][1][sy][sx]), byte(ia[r][2][sy][sx]));
        }
      }
    }
  }

  // Columns 1..M: heat maps of |a| / q, clipped to 1.
  std::vector<std::vector<double>> scales(k, std::vector<double>(maps.size()));
  for (size_t m = 0; m < maps.size(); ++m) {
    const torch::Tensor a = maps[m].detach().to(torch::kCPU, torch::kFloat64).abs().contiguous();
    const auto aa = a.accessor<double, 3>();
    const int64_t x0 = static_cast<int64_t>(m + 1) * (cell_w + o.gap);
    for (int64_t r = 0; r < k; ++r) {
      std::vector<double> v(static_cast<size_t>(h * w));
      for (int64_t i = 0; i < h * w; ++i) {
        const double x = aa[r][i / w][i % w];
        v[static_cast<size_t>(i)] = std::isfinite(x) ? x : 0.0;
      }
      const double q = cell_scale(v, o.clip_quantile);
      scales[r][m] = q;
      const int64_t y0 = r * (cell_h + o.gap);
      for (int64_t y = 0; y < cell_h; ++y) {
        for (int64_t x = 0; x < cell_w; ++x) {
          const double t = q > 0.0 ? v[static_cast<size_t>((y / s) * w + x / s)] / q : 0.0;
          const auto rgb = heat_colour(t);
          put(y0 + y, x0 + x, rgb[0], rgb[1], rgb[2]);
        }
      }
    }
  }

  // What is shown, for viewers and scripts (no text is drawn).
  std::vector<std::string> columns{"image"};
  columns.insert(columns.end(), names.begin(), names.end());
  std::vector<std::string> scale_rows;
  for (const auto& row : scales) {
    std::ostringstream os;
    os.precision(9);
    for (size_t m = 0; m < row.size(); ++m) os << (m == 0 ? "" : ",") << row[m];
    scale_rows.push_back(os.str());
  }
  std::ostringstream layout;
  layout << "rows = images (" << k << "); column 0 = the image (grey replicated to RGB), then one "
         << "|attribution| heat map per method (" << maps.size() << "); nearest-neighbour upscale "
         << s << "; cell " << cell_w << "x" << cell_h << " px; gap " << o.gap << " px white";
  std::ostringstream norm;
  norm.precision(9);
  norm << "per cell: t = min(1, |a| / q), q = the " << o.clip_quantile
       << " quantile of |a| over the cell's map (linear interpolation; the maximum when that "
          "quantile is 0; an all-zero map is drawn at t = 0)";
  std::vector<std::pair<std::string, std::string>> entries{
      {"Software", "sfbench"},
      {"sfbench:columns", join(columns, ",")},
      {"sfbench:rows", join(row_labels, "; ")},
      {"sfbench:layout", layout.str()},
      {"sfbench:normalization", norm.str()},
      {"sfbench:colormap",
       "heat: (r, g, b) = round(255 * clamp((3t, 3t - 1, 3t - 2), 0, 1)); black at t = 0, red at "
       "1/3, yellow at 2/3, white at 1"},
      {"sfbench:scales", join(scale_rows, "; ")},
  };
  std::vector<png_text> text(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    text[i] = png_text{};
    text[i].compression = PNG_TEXT_COMPRESSION_NONE;
    text[i].key = entries[i].first.data();
    text[i].text = entries[i].second.data();
    text[i].text_length = entries[i].second.size();
  }
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) rows[y] = pixels.data() + y * width * 3;

  NewFile file(path);  // exclusive temporary file, removed unless committed
  PngWrite job{};
  job.fd = file.fd();
  job.width = static_cast<png_uint_32>(width);
  job.height = static_cast<png_uint_32>(height);
  job.rows = rows.data();
  job.text = text.data();
  job.num_text = static_cast<int>(text.size());
  if (!write_png_file(&job)) {
    throw IoError("cannot write montage PNG '" + path + "' (via '" + file.path().string() +
                  "'): " + job.error);
  }
  file.commit();
}

bool is_sfbench_montage(const std::filesystem::path& file) {
  PngRead job{};
  job.file = std::fopen(file.c_str(), "rb");
  if (job.file == nullptr) return false;
  const bool read = read_png_text(&job);
  std::fclose(job.file);
  return read && job.ours;
}

}  // namespace sfb::attribution
