#pragma once
// [MS-RDPBCGR] 2.2.1.1 Client X.224 Connection Request PDU and 2.2.1.2 Server X.224 Connection
// Confirm PDU, each framed by TPKT (RFC 1006 §6).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol {

// How the first CRLF-terminated line of the CR variable part was classified (prefix match,
// case-sensitive, rdp-preauth-protocol.md §8 rule 6).
enum class TokenKind : std::uint8_t {
  none,   // no routing token line
  msts,   // "Cookie: msts=<ip>.<port>.<reserved>" (broker routing token)
  tsv,    // "tsv://..." (RD Connection Broker collection)
  mth,    // "mth://..."
  other,  // any other opaque token line
};
[[nodiscard]] std::string_view token_kind_name(TokenKind kind) noexcept;

struct NegotiationRequest {
  std::uint8_t flags = 0;
  std::uint32_t requested_protocols = 0;
  friend bool operator==(const NegotiationRequest&, const NegotiationRequest&) = default;
};

struct CorrelationInfo {
  std::array<std::uint8_t, 16> id{};
  bool reserved_nonzero = false;  // logged, not refused (FreeRDP ignores it)
  bool id_questionable = false;   // first byte 0x00/0xF4 or any 0x0D: logged, not refused
  friend bool operator==(const CorrelationInfo&, const CorrelationInfo&) = default;
};

// The string views point into the parsed input and live as long as it does.
struct ConnectionRequest {
  std::uint16_t length = 0;  // TPKT length: the whole request
  std::uint16_t dst_ref = 0;
  std::uint16_t src_ref = 0;  // used as DST-REF of a Disconnect Request reply
  std::uint8_t class_options = 0;
  bool has_cookie = false;
  std::string_view cookie;  // IDENTIFIER of "Cookie: mstshash=IDENTIFIER"
  TokenKind token_kind = TokenKind::none;
  std::string_view routing_token;  // the whole routing-token line without CRLF
  std::size_t token_offset = 0;    // offset of the routing-token line in the CR (0 if none)
  std::size_t token_size = 0;      // its size including CRLF (0 if none)
  std::optional<NegotiationRequest> negotiation;  // absent: legacy request
  std::optional<CorrelationInfo> correlation;
  friend bool operator==(const ConnectionRequest&, const ConnectionRequest&) = default;
};

// Parses one TPKT-framed X.224 Connection Request at the start of `bytes`.
// consumed == TPKT length; bytes after it are not looked at.
[[nodiscard]] ParseResult<ConnectionRequest> parse_connection_request(
    std::span<const std::byte> bytes, const Limits& limits) noexcept;

struct NegotiationResponse {
  std::uint8_t flags = 0;
  std::uint32_t selected_protocol = 0;
  friend bool operator==(const NegotiationResponse&, const NegotiationResponse&) = default;
};
struct NegotiationFailure {
  std::uint8_t flags = 0;
  std::uint32_t code = 0;
  friend bool operator==(const NegotiationFailure&, const NegotiationFailure&) = default;
};

struct ConnectionConfirm {
  std::uint16_t length = 0;
  std::uint16_t dst_ref = 0;
  std::uint16_t src_ref = 0;  // not validated: 0 or 0x1234 in practice
  std::uint8_t class_options = 0;
  std::optional<NegotiationResponse> response;
  std::optional<NegotiationFailure> failure;
  friend bool operator==(const ConnectionConfirm&, const ConnectionConfirm&) = default;
};

// Parses the server's TPKT-framed X.224 Connection Confirm ([MS-RDPBCGR] 2.2.1.2,
// rdp-preauth-protocol.md §8 rule 11). When `requested_protocols` is given, an RDP_NEG_RSP must
// select 0 or a single bit of it. consumed == TPKT length.
[[nodiscard]] ParseResult<ConnectionConfirm> parse_connection_confirm(
    std::span<const std::byte> bytes,
    std::optional<std::uint32_t> requested_protocols = std::nullopt) noexcept;

}  // namespace rdpgate::protocol
