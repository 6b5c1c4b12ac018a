#pragma once
// HAProxy PROXY protocol v1 (text) and v2 (binary) header, as sent by load balancers
// (haproxy doc/proxy-protocol.txt).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol {

// The start of a v1 header (§2.1) and the 12-byte v2 signature (§2.2).
inline constexpr std::string_view proxy_v1_prefix = "PROXY ";
inline constexpr std::array<std::uint8_t, 12> proxy_v2_signature{
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

struct ProxyHeader {
  bool local = false;  // v2 LOCAL command or v1 "UNKNOWN": use the real peer address
  bool ipv6 = false;
  std::array<std::uint8_t, 16> source{};  // IPv4 in the first 4 bytes
  std::array<std::uint8_t, 16> destination{};
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  friend bool operator==(const ProxyHeader&, const ProxyHeader&) = default;
};

// Parses a v1 or v2 header at the start of `bytes`; consumed is the header's size. v1 lines are
// at most 107 bytes; v2 headers at most 16 + 536 bytes (TLVs skipped, not interpreted).
[[nodiscard]] ParseResult<ProxyHeader> parse_proxy_header(
    std::span<const std::byte> bytes) noexcept;

}  // namespace rdpgate::protocol
