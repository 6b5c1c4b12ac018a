#pragma once
// One hexadecimal digit's value: the PROXY v1 IPv6 parser, `rdpgate inspect`'s hex input and the
// percent-decoder share it. Header-only and standard-library only.

namespace rdpgate::protocol {

// The value of the hex digit `c` (either case), or -1.
[[nodiscard]] constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace rdpgate::protocol
