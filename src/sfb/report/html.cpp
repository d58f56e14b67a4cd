#include "report/html.hpp"

#include <openssl/evp.h>

#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/version.hpp"
#include "io/svg_chart.hpp"

namespace sfb::report {

std::string escape(std::string_view s) { return io::svg::escape(std::string(s)); }

std::string base64(std::string_view bytes) {
  if (bytes.empty()) return "";
  // EVP_EncodeBlock takes an int length: encode in blocks of a multiple of 3 bytes.
  constexpr std::size_t kBlock = 3 * (1u << 20);
  std::string out;
  out.reserve(4 * ((bytes.size() + 2) / 3));
  std::string buf(4 * (kBlock / 3) + 1, '\0');
  for (std::size_t pos = 0; pos < bytes.size(); pos += kBlock) {
    const std::size_t n = std::min(kBlock, bytes.size() - pos);
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                                    reinterpret_cast<const unsigned char*>(bytes.data() + pos),
                                    static_cast<int>(n));
    if (len < 0) throw Error("OpenSSL EVP_EncodeBlock failed");
    out.append(buf.data(), static_cast<std::size_t>(len));
  }
  return out;
}

std::string exact(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "\u2013";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string count(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string generator() { return std::string("sfbench report ") + version(); }

bool has_report_marker(std::string_view head) {
  return head.find("<meta name=\"generator\" content=\"sfbench report") != std::string_view::npos;
}

namespace {

uint32_t be32(std::string_view b, std::size_t at) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

}  // namespace

bool png_info(std::string_view bytes, PngInfo& info) {
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (bytes.substr(0, 8) != kSignature) return false;
  PngInfo out;
  bool have_header = false;
  std::size_t pos = 8;
  while (pos + 12 <= bytes.size()) {
    const std::size_t len = be32(bytes, pos);
    const std::string_view type = bytes.substr(pos + 4, 4);
    if (len > bytes.size() - pos - 12) return false;  // truncated chunk
    const std::string_view data = bytes.substr(pos + 8, len);
    if (!have_header) {
      if (type != "IHDR" || len < 8) return false;
      out.width = be32(data, 0);
      out.height = be32(data, 4);
      have_header = true;
    } else if (type == "tEXt") {
      const std::size_t nul = data.find('\0');
      if (nul != std::string_view::npos) {
        out.text[std::string(data.substr(0, nul))] = std::string(data.substr(nul + 1));
      }
    } else if (type == "IEND") {
      break;
    }
    pos += 12 + len;
  }
  if (!have_header) return false;
  info = std::move(out);
  return true;
}

}  // namespace sfb::report
