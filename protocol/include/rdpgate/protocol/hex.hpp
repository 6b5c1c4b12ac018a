#pragma once
// Hexadecimal both ways. Decoding one digit: the PROXY v1 IPv6 parser, `rdpgate inspect`'s hex
// input and the percent-decoder. Encoding (lowercase): connection and correlation ids, random
// tokens, JSON escapes (config/ keeps its own table: it includes nothing of protocol/).
// Header-only and standard-library only.

#include <cstdint>
#include <span>
#include <string>

namespace rdpgate::protocol {

// The value of the hex digit `c` (either case), or -1.
[[nodiscard]] constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The lowercase hex digit of the low four bits of `v`.
[[nodiscard]] constexpr char hex_digit(unsigned v) noexcept { return "0123456789abcdef"[v & 0xF]; }

// Appends `bytes` as lowercase hex, two digits each.
inline void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  for (const auto b : bytes) {
    out += hex_digit(b >> 4U);
    out += hex_digit(b);
  }
}

}  // namespace rdpgate::protocol
