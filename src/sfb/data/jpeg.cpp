#include "data/jpeg.hpp"

// libjpeg's header needs <cstdio> (FILE) first.
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <torch/torch.h>

#include <csetjmp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/error.hpp"

namespace sfb::data {
namespace {

// libjpeg reports errors through a callback that must not return; it longjmps back to the frame
// that called setjmp, which turns the message into a DataError. Nothing with a destructor lives in
// the frames that the longjmp skips (only libjpeg's C frames).
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (msg_level -1) mean corrupt data that libjpeg would silently paper over (a truncated
// file is filled with gray): treat them as errors. Trace messages (level >= 0) are ignored.
void on_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) on_error(cinfo);
}

std::string read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError("cannot open image '" + file.string() + "'");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError("cannot read image '" + file.string() + "'");
  return bytes;
}

// Decodes into `out` (already sized by the header) or returns false with err->message set.
// Kept free of C++ objects with destructors because of the longjmp.
bool decode_into(jpeg_decompress_struct* cinfo, ErrorManager* err, const uint8_t* data, size_t size,
                 std::vector<uint8_t>* pixels, int* height, int* width, int* components,
                 bool* cmyk_inverted, bool header_only) {
  cinfo->err = jpeg_std_error(&err->pub);
  err->pub.error_exit = on_error;
  err->pub.emit_message = on_message;
  err->message[0] = '\0';
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  *height = static_cast<int>(cinfo->image_height);
  *width = static_cast<int>(cinfo->image_width);
  if (header_only) {
    jpeg_destroy_decompress(cinfo);
    return true;
  }
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  *cmyk_inverted = cinfo->saw_Adobe_marker != 0;
  jpeg_start_decompress(cinfo);
  *components = cinfo->output_components;
  const size_t stride = static_cast<size_t>(cinfo->output_width) * *components;
  pixels->resize(stride * cinfo->output_height);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = pixels->data() + stride * cinfo->output_scanline;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  return true;
}

}  // namespace

torch::Tensor decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  std::vector<uint8_t> pixels;
  int h = 0, w = 0, comps = 0;
  bool inverted = false;
  if (size == 0) throw DataError("image '" + name + "' is empty (0 bytes)");
  if (!decode_into(&cinfo, &err, data, size, &pixels, &h, &w, &comps, &inverted, false)) {
    throw DataError("cannot decode JPEG image '" + name + "': " + err.message);
  }
  auto hwc = torch::from_blob(pixels.data(), {h, w, comps}, torch::kUInt8);
  if (comps == 3) return hwc.permute({2, 0, 1}).contiguous();
  if (comps == 4) {
    // CMYK -> RGB: R = (255 - C)(255 - K) / 255 with C, K the ink; Adobe files store 255 - ink.
    auto ink = hwc.to(torch::kInt32);
    if (!inverted) ink = 255 - ink;
    auto k = ink.select(2, 3).unsqueeze(2);
    auto rgb = (ink.narrow(2, 0, 3) * k + 127).floor_divide(255);
    return rgb.to(torch::kUInt8).permute({2, 0, 1}).contiguous();
  }
  throw DataError("JPEG image '" + name + "' decodes to " + std::to_string(comps) +
                  " channels, expected RGB or CMYK");
}

torch::Tensor decode_jpeg_file(const std::filesystem::path& file) {
  const std::string bytes = read_all(file);
  return decode_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), file.string());
}

ImageSize jpeg_file_size(const std::filesystem::path& file) {
  // The header is within the first few tens of KiB unless it carries large metadata blocks; read
  // the whole file to be safe (headers only are parsed).
  const std::string bytes = read_all(file);
  if (bytes.empty()) throw DataError("image '" + file.string() + "' is empty (0 bytes)");
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  std::vector<uint8_t> unused;
  int h = 0, w = 0, comps = 0;
  bool inverted = false;
  if (!decode_into(&cinfo, &err, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                   &unused, &h, &w, &comps, &inverted, true)) {
    throw DataError("cannot read JPEG header of '" + file.string() + "': " + err.message);
  }
  return {h, w};
}

namespace {

bool encode_into(jpeg_compress_struct* cinfo, ErrorManager* err, const uint8_t* hwc, int h, int w,
                 int comps, int quality, unsigned char** out, unsigned long* out_size) {
  cinfo->err = jpeg_std_error(&err->pub);
  err->pub.error_exit = on_error;
  err->message[0] = '\0';
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(cinfo);
    return false;
  }
  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, out, out_size);
  cinfo->image_width = static_cast<JDIMENSION>(w);
  cinfo->image_height = static_cast<JDIMENSION>(h);
  cinfo->input_components = comps;
  cinfo->in_color_space = comps == 1 ? JCS_GRAYSCALE : (comps == 3 ? JCS_RGB : JCS_CMYK);
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  for (int c = 0; c < cinfo->num_components; ++c) {
    cinfo->comp_info[c].h_samp_factor = 1;
    cinfo->comp_info[c].v_samp_factor = 1;
  }
  jpeg_start_compress(cinfo, TRUE);
  const size_t stride = static_cast<size_t>(w) * comps;
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<uint8_t*>(hwc + stride * cinfo->next_scanline);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  jpeg_destroy_compress(cinfo);
  return true;
}

}  // namespace

std::string encode_jpeg(const torch::Tensor& image, int quality) {
  if (image.dim() != 3 || image.scalar_type() != torch::kUInt8 ||
      (image.size(0) != 1 && image.size(0) != 3 && image.size(0) != 4)) {
    throw DataError("encode_jpeg needs a [1|3|4, H, W] uint8 tensor, got " +
                    std::string(image.sizes().vec().empty() ? "a scalar" : "another shape"));
  }
  auto hwc = image.cpu().permute({1, 2, 0}).contiguous();
  jpeg_compress_struct cinfo;
  ErrorManager err;
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const bool ok = encode_into(&cinfo, &err, hwc.data_ptr<uint8_t>(),
                              static_cast<int>(image.size(1)), static_cast<int>(image.size(2)),
                              static_cast<int>(image.size(0)), quality, &buf, &size);
  std::string bytes = ok && buf ? std::string(reinterpret_cast<const char*>(buf), size) : "";
  std::free(buf);
  if (!ok) throw DataError(std::string("cannot encode JPEG: ") + err.message);
  return bytes;
}

}  // namespace sfb::data
