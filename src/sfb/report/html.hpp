#pragma once
// The small text helpers of `sfbench report`: escaping, base64 for data: URIs, number formats,
// the generator marker that identifies a report, and the facts of a PNG file the report embeds.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sfb::report {

/// `s` with &, <, >, " and ' replaced by HTML entities: safe as element text and as a quoted
/// attribute value. Every string read from a results file goes through it. Not collective.
std::string escape(std::string_view s);

/// Base64 (RFC 4648, with padding, no line breaks) of `bytes`, through OpenSSL's EVP_EncodeBlock:
/// the payload of a data: URI. Not collective.
std::string base64(std::string_view bytes);

/// `v` with 17 significant digits ("%.17g": a double read back from it is `v` exactly), for the
/// data-* attributes tests read; "nan", "inf" or "-inf" when not finite.
std::string exact(double v);

/// `v` with `decimals` decimals; "–" when not finite.
std::string fixed(double v, int decimals);

/// "1 model", "3 models": `n` and `noun`, with an "s" unless n is 1.
std::string count(std::size_t n, const std::string& noun);

/// The value of the generator <meta> tag every report carries in its <head>:
/// "sfbench report <version>".
std::string generator();

/// True when `head` (the first bytes of a file) holds the generator <meta> tag of an sfbench
/// report (`<meta name="generator" content="sfbench report`).
bool has_report_marker(std::string_view head);

/// What the report needs of a PNG file: its size and its tEXt chunks (keyword -> text).
struct PngInfo {
  int64_t width = 0, height = 0;
  std::map<std::string, std::string> text;
};

/// Reads the IHDR size and the tEXt chunks of PNG bytes; false (and `info` untouched) when
/// `bytes` is not a PNG (bad signature, truncated chunk, no IHDR first). Not collective.
bool png_info(std::string_view bytes, PngInfo& info);

}  // namespace sfb::report
