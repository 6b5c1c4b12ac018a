#pragma once
// Classification of the first bytes a client sends (rdp-preauth-protocol.md §2, SPEC §8).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol {

enum class FirstBytes : std::uint8_t {
  tpkt,           // 03 00: an X.224 Connection Request follows
  preconnection,  // LE cbSize in [16, max_pcb] followed by Version 1 or 2
  tls,            // 16 03 0x: a TLS handshake record (Direct Approach or a TLS scanner)
  http,           // an HTTP method
  ssh,            // "SSH-"
  other,          // anything else
};
[[nodiscard]] std::string_view first_bytes_name(FirstBytes kind) noexcept;

// Decides as soon as the bytes allow it (at most 12 bytes are looked at). Never Invalid: "not RDP"
// is a classification, not a parse error. consumed is always 0.
[[nodiscard]] ParseResult<FirstBytes> classify(std::span<const std::byte> bytes,
                                               const Limits& limits) noexcept;

// True when `bytes` (non-empty) can only be the start of a TLS handshake record: the first byte
// is 0x16 (rdp-preauth-protocol.md §2). The gateway's TLS-first shortcut: refuse at once when
// Direct Approach is off, without waiting for the whole record. False for an empty span.
[[nodiscard]] bool starts_tls_record(std::span<const std::byte> bytes) noexcept;

// True when `bytes` (non-empty) is a prefix of, or starts with, a PROXY protocol v1 ("PROXY ")
// or v2 (the 12-byte signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A) signature (haproxy
// doc/proxy-protocol.txt §2.1, §2.2): a load balancer the listener does not trust. False for an
// empty span.
[[nodiscard]] bool starts_with_proxy_signature(std::span<const std::byte> bytes) noexcept;

}  // namespace rdpgate::protocol
