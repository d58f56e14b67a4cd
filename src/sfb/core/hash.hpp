#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace sfb {
/// SHA-256 of a byte string, as 64 lowercase hex digits (OpenSSL EVP).
std::string sha256_hex(std::string_view data);
/// SHA-256 of a file's contents, streamed in 1 MiB blocks. Throws IoError naming the file when it
/// cannot be opened or read.
std::string sha256_file(const std::filesystem::path& file);
}  // namespace sfb
