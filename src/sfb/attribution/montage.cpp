#include "attribution/montage.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <sstream>
#include <utility>

#include "attribution/detail/bitmap_font.hpp"
#include "core/error.hpp"
#include "core/output_file.hpp"

namespace sfb::attribution {
namespace {

constexpr uint8_t kWhite = 255;

// ---- libpng ----------------------------------------------------------------------------------
// libpng reports errors by longjmp out of its own frames. Everything it touches is plain data in
// PngEncode, and encode_png() holds no object with a destructor, so the longjmp skips nothing
// that C++ must unwind; the caller turns a false return into IoError.

struct PngEncode {
  std::vector<uint8_t>* out;  // receives the PNG bytes (owned by the caller)
  png_uint_32 width;          // pixels
  png_uint_32 height;         // pixels
  png_bytepp rows;            // height pointers to width·3 bytes of RGB
  png_textp text;             // tEXt chunks
  int num_text;               // entries in text
  // The handles live here, not in locals of encode_png(), so setjmp cannot clobber them.
  png_structp png;
  png_infop info;
  char error[512];  // why it failed
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngEncode*>(png_get_error_ptr(png));
  std::snprintf(job->error, sizeof(job->error), "libpng: %s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

/// Appends libpng's output to job->out; png_error (a longjmp, from a frame with nothing to
/// unwind) when memory runs out.
void on_png_write(png_structp png, png_bytep data, png_size_t n) {
  auto* job = static_cast<PngEncode*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    job->out->insert(job->out->end(), data, data + n);
  } catch (const std::bad_alloc&) {
    ok = false;
  }
  if (!ok) png_error(png, "out of memory for the PNG bytes");
}

void on_png_flush(png_structp) {}

/// Encodes job->rows as an 8-bit RGB PNG with job->text into *job->out; false (job->error set)
/// on any failure.
bool encode_png(PngEncode* job) {
  job->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, on_png_error, on_png_warning);
  job->info = job->png != nullptr ? png_create_info_struct(job->png) : nullptr;
  if (job->png == nullptr || job->info == nullptr) {
    png_destroy_write_struct(&job->png, &job->info);
    std::snprintf(job->error, sizeof(job->error), "cannot create the libpng write structures");
    return false;
  }
  if (setjmp(png_jmpbuf(job->png))) {
    png_destroy_write_struct(&job->png, &job->info);
    return false;
  }
  png_set_write_fn(job->png, job, on_png_write, on_png_flush);
  png_set_IHDR(job->png, job->info, job->width, job->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_text(job->png, job->info, job->text, job->num_text);
  png_write_info(job->png, job->info);
  png_write_image(job->png, job->rows);
  png_write_end(job->png, nullptr);
  png_destroy_write_struct(&job->png, &job->info);
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

/// Throws ConfigError (naming `who`, the calling function) unless the inputs and options make a
/// montage; images may be undefined only when `images_optional`.
void validate(const char* who, const torch::Tensor& images, bool images_optional,
              const std::vector<torch::Tensor>& maps, const std::vector<std::string>& names,
              const std::vector<std::string>& row_labels, const MontageOptions& o) {
  const std::string w = std::string(who) + ": ";
  if (images.defined() || !images_optional) {
    if (!images.defined() || images.dim() != 4 || images.size(0) < 1 ||
        (images.size(1) != 1 && images.size(1) != 3) || images.size(2) < 1 || images.size(3) < 1) {
      throw ConfigError(
          w + "images must be [K, C, H, W] with K >= 1 and C = 1 or 3, got " +
          (images.defined() ? shape_text(images) : std::string("an undefined tensor")));
    }
    if (!images.is_floating_point()) {
      throw ConfigError(w + "images must be a floating-point tensor in [0, 1]");
    }
  }
  if (maps.size() != names.size()) {
    throw ConfigError(w + std::to_string(maps.size()) + " maps but " +
                      std::to_string(names.size()) + " column names");
  }
  if (!images.defined() && maps.empty()) {
    throw ConfigError(w + "no images and no maps: nothing to show");
  }
  // The shape every map must have: [K, H, W] of the images, else of the first map (K >= 1).
  const torch::Tensor& ref = images.defined() ? images : maps[0];
  const bool ref_ok = ref.defined() && ref.dim() == (images.defined() ? 4 : 3) &&
                      ref.size(0) >= 1 && ref.size(-2) >= 1 && ref.size(-1) >= 1;
  const int64_t k = ref_ok ? ref.size(0) : 0, h = ref_ok ? ref.size(-2) : 0,
                wd = ref_ok ? ref.size(-1) : 0;
  for (size_t m = 0; m < maps.size(); ++m) {
    const torch::Tensor& a = maps[m];
    if (!ref_ok || !a.defined() || a.dim() != 3 || a.size(0) != k || a.size(1) != h ||
        a.size(2) != wd) {
      throw ConfigError(w + "map '" + names[m] + "' must be [K, H, W] = [" + std::to_string(k) +
                        ", " + std::to_string(h) + ", " + std::to_string(wd) + "] like the " +
                        (images.defined() ? "images" : "first map, with K, H, W >= 1") + ", got " +
                        (a.defined() ? shape_text(a) : std::string("an undefined tensor")));
    }
  }
  if (static_cast<int64_t>(row_labels.size()) != k) {
    throw ConfigError(w + std::to_string(row_labels.size()) + " row labels for " +
                      std::to_string(k) + " images");
  }
  if (o.gap < 0) throw ConfigError(w + "gap must be >= 0, got " + std::to_string(o.gap));
  if (!(o.clip_quantile > 0.0 && o.clip_quantile <= 1.0)) {
    throw ConfigError(w + "clip_quantile must be in (0, 1], got " +
                      std::to_string(o.clip_quantile));
  }
}

/// A column name on one line when it fits `max_chars` (font text), else on two: broken after the
/// last '-', '_', ' ' or '/' that fits (else after max_chars characters), the second line
/// shortened with "..".
std::vector<std::string> header_lines(const std::string& name, size_t max_chars) {
  if (name.size() <= max_chars) return {name};
  size_t cut = 0;
  for (size_t i = max_chars; i > 0 && cut == 0; --i) {
    if (std::strchr("-_ /", name[i - 1]) != nullptr) cut = i;
  }
  if (cut == 0) cut = max_chars;
  size_t next = cut;
  while (cut > 1 && name[cut - 1] == ' ') --cut;
  while (next < name.size() && name[next] == ' ') ++next;
  return {name.substr(0, cut), detail::fit_text(name.substr(next), max_chars)};
}

/// The montage's pixels and tEXt entries.
struct Picture {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height·width·3
  std::vector<std::pair<std::string, std::string>> text;
};

/// Draws the montage of write_montage() / montage_png() (validated by the caller). `where` is
/// added to the message of a montage too large for PNG.
Picture draw_montage(const char* who, const std::string& where, const torch::Tensor& images,
                     const std::vector<torch::Tensor>& maps, const std::vector<std::string>& names,
                     const std::vector<std::string>& row_labels, const MontageOptions& o) {
  const bool with_images = images.defined();
  const torch::Tensor& ref = with_images ? images : maps[0];
  const int64_t k = ref.size(0), h = ref.size(-2), w = ref.size(-1);
  const int64_t side = std::max(h, w);
  const int64_t s = std::max<int64_t>(1, (std::max<int64_t>(o.min_cell, 0) + side - 1) / side);
  const int64_t cell_h = s * h, cell_w = s * w;
  const int64_t first_map = with_images ? 1 : 0;
  const auto ncols = static_cast<int64_t>(maps.size()) + first_map;
  // Text: the bitmap font at scale f; one text line is 10f pixels (9f glyph + f), a band of n
  // lines (3 + 10n)f (2f above the text, f below).
  const int64_t f = std::clamp<int64_t>(cell_w / 112, 1, 4);
  std::vector<std::string> columns;
  if (with_images) columns.emplace_back("image");
  columns.insert(columns.end(), names.begin(), names.end());
  const auto head_chars = static_cast<size_t>(std::max<int64_t>(1, (cell_w + f) / (6 * f)));
  std::vector<std::vector<std::string>> heads;
  size_t head_lines = 1;
  for (const auto& c : columns) {
    heads.push_back(header_lines(detail::font_text(c), head_chars));
    head_lines = std::max(head_lines, heads.back().size());
  }
  const int64_t head_h = (3 + 10 * static_cast<int64_t>(head_lines)) * f;
  const int64_t label_h = 13 * f;
  const int64_t width = ncols * cell_w + (ncols - 1) * o.gap;
  const int64_t height = head_h + k * (label_h + cell_h) + (k - 1) * o.gap;
  constexpr int64_t kMaxSide = 1000000;  // libpng's default user limit on width and height
  if (width > kMaxSide || height > kMaxSide) {
    throw ConfigError(std::string(who) + ": a " + std::to_string(width) + "x" +
                      std::to_string(height) + " montage is too large" + where);
  }

  Picture pic;
  pic.width = width;
  pic.height = height;
  pic.rgb.assign(static_cast<size_t>(width * height * 3), kWhite);
  auto put = [&](int64_t y, int64_t x, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t* p = pic.rgb.data() + (y * width + x) * 3;
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };
  auto col_x = [&](int64_t col) { return col * (cell_w + o.gap); };
  auto row_y = [&](int64_t r) { return head_h + r * (label_h + cell_h + o.gap) + label_h; };

  // Labels, black: the column names centred over their columns, each row's label left-aligned in
  // the band above its cells.
  constexpr std::array<uint8_t, 3> kInk = {0, 0, 0};
  for (size_t c = 0; c < heads.size(); ++c) {
    for (size_t i = 0; i < heads[c].size(); ++i) {
      const int64_t tw = detail::text_width(heads[c][i].size(), f);
      detail::draw_text(pic.rgb, width, height,
                        col_x(static_cast<int64_t>(c)) + std::max<int64_t>(0, (cell_w - tw) / 2),
                        (2 + 10 * static_cast<int64_t>(i)) * f, heads[c][i], f, kInk);
    }
  }
  const auto row_chars = static_cast<size_t>(std::max<int64_t>(1, (width + f) / (6 * f)));
  for (int64_t r = 0; r < k; ++r) {
    detail::draw_text(pic.rgb, width, height, 0, row_y(r) - label_h + 2 * f,
                      detail::fit_text(detail::font_text(row_labels[r]), row_chars), f, kInk);
  }

  // The image column: grey replicated, round(255·x) after clamping to [0, 1].
  if (with_images) {
    const int64_t c = images.size(1);
    const torch::Tensor img = images.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    const auto ia = img.accessor<double, 4>();
    auto byte = [](double v) {
      if (!(v > 0.0)) v = 0.0;
      return static_cast<uint8_t>(std::lround(255.0 * std::min(v, 1.0)));
    };
    for (int64_t r = 0; r < k; ++r) {
      const int64_t y0 = row_y(r);
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
  }

  // The method columns: heat maps of |a| / q, clipped to 1.
  std::vector<std::vector<double>> scales(k, std::vector<double>(maps.size()));
  for (size_t m = 0; m < maps.size(); ++m) {
    const torch::Tensor a = maps[m].detach().to(torch::kCPU, torch::kFloat64).abs().contiguous();
    const auto aa = a.accessor<double, 3>();
    const int64_t x0 = col_x(static_cast<int64_t>(m) + first_map);
    for (int64_t r = 0; r < k; ++r) {
      std::vector<double> v(static_cast<size_t>(h * w));
      for (int64_t i = 0; i < h * w; ++i) {
        const double x = aa[r][i / w][i % w];
        v[static_cast<size_t>(i)] = std::isfinite(x) ? x : 0.0;
      }
      const double q = cell_scale(v, o.clip_quantile);
      scales[r][m] = q;
      const int64_t y0 = row_y(r);
      for (int64_t y = 0; y < cell_h; ++y) {
        for (int64_t x = 0; x < cell_w; ++x) {
          const double tv = q > 0.0 ? v[static_cast<size_t>((y / s) * w + x / s)] / q : 0.0;
          const auto rgb = heat_colour(tv);
          put(y0 + y, x0 + x, rgb[0], rgb[1], rgb[2]);
        }
      }
    }
  }

  // What is shown, for viewers and scripts.
  std::vector<std::string> scale_rows;
  for (const auto& row : scales) {
    std::ostringstream os;
    os.precision(9);
    for (size_t m = 0; m < row.size(); ++m) os << (m == 0 ? "" : ",") << row[m];
    scale_rows.push_back(os.str());
  }
  std::ostringstream layout;
  layout << "top: a " << head_h
         << " px header band with the column names; then per row (images: " << k << ") a "
         << label_h << " px band with the row label above the row's cells; "
         << "columns: " << (with_images ? "the image (grey replicated to RGB), then " : "")
         << "one |attribution| heat map per method (" << maps.size()
         << "); nearest-neighbour upscale " << s << "; cell " << cell_w << "x" << cell_h
         << " px; gap " << o.gap << " px white between columns and between rows; text: "
         << "built-in 5x9 bitmap font at scale " << f << ", black on white";
  std::ostringstream norm;
  norm.precision(9);
  norm << "per cell: t = min(1, |a| / q), q = the " << o.clip_quantile
       << " quantile of |a| over the cell's map (linear interpolation; the maximum when that "
          "quantile is 0; an all-zero map is drawn at t = 0)";
  pic.text = {
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
  return pic;
}

/// The picture as PNG bytes; false with `error` set when libpng fails.
bool png_bytes(Picture& pic, std::vector<uint8_t>* out, std::string* error) {
  std::vector<png_text> text(pic.text.size());
  for (size_t i = 0; i < pic.text.size(); ++i) {
    text[i] = png_text{};
    text[i].compression = PNG_TEXT_COMPRESSION_NONE;
    text[i].key = pic.text[i].first.data();
    text[i].text = pic.text[i].second.data();
    text[i].text_length = pic.text[i].second.size();
  }
  std::vector<png_bytep> rows(static_cast<size_t>(pic.height));
  for (int64_t y = 0; y < pic.height; ++y) rows[y] = pic.rgb.data() + y * pic.width * 3;
  PngEncode job{};
  job.out = out;
  job.width = static_cast<png_uint_32>(pic.width);
  job.height = static_cast<png_uint_32>(pic.height);
  job.rows = rows.data();
  job.text = text.data();
  job.num_text = static_cast<int>(text.size());
  if (encode_png(&job)) return true;
  *error = job.error;
  return false;
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
  validate("write_montage", images, false, maps, names, row_labels, o);
  Picture pic =
      draw_montage("write_montage", " for '" + path + "'", images, maps, names, row_labels, o);
  std::vector<uint8_t> bytes;
  std::string error;
  if (!png_bytes(pic, &bytes, &error)) {
    throw IoError("cannot write montage PNG '" + path + "': " + error);
  }
  NewFile file(path);  // exclusive temporary file, removed unless committed
  file.write(bytes.data(), bytes.size());
  file.commit();
}

std::vector<uint8_t> montage_png(const torch::Tensor& images,
                                 const std::vector<torch::Tensor>& maps,
                                 const std::vector<std::string>& names,
                                 const std::vector<std::string>& row_labels,
                                 const MontageOptions& o) {
  validate("montage_png", images, true, maps, names, row_labels, o);
  Picture pic = draw_montage("montage_png", "", images, maps, names, row_labels, o);
  std::vector<uint8_t> bytes;
  std::string error;
  if (!png_bytes(pic, &bytes, &error)) throw IoError("cannot encode the montage PNG: " + error);
  return bytes;
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
