#pragma once
// A bounded peek at a TLS ClientHello (RFC 8446 §4.1.2, §5.1; RFC 6066 §3). Never allocates by
// what the peer claims; never needs more than one record.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol {

struct ClientHelloInfo {
  std::uint16_t record_version = 0;  // legacy_record_version, 0x03xx
  std::uint8_t handshake_type = 0;   // 1 = client_hello
  std::uint16_t legacy_version = 0;  // 0x0303 for TLS 1.3 clients
  // supported_versions extension (0x002B), at most 8 kept; GREASE values included as sent.
  std::array<std::uint16_t, 8> supported_versions{};
  std::uint8_t supported_versions_count = 0;
  std::string_view sni;     // host_name from server_name (0x0000), points into the input
  bool fragmented = false;  // the handshake continues in a later record; fields seen so far only
  friend bool operator==(const ClientHelloInfo&, const ClientHelloInfo&) = default;
};

// Parses the first TLS record at the start of `bytes`. consumed == 5 + record length.
[[nodiscard]] ParseResult<ClientHelloInfo> peek_client_hello(std::span<const std::byte> bytes,
                                                             const Limits& limits) noexcept;

}  // namespace rdpgate::protocol
