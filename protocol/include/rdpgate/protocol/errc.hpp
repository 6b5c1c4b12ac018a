#pragma once
// Why bytes were refused. Each enumerator has a stable snake_case name (to_string): the names
// are metric label values and audit fields, so never rename one; add new ones at the end.

#include <cstdint>
#include <string_view>
#include <system_error>

namespace rdpgate::protocol {

enum class errc : std::uint8_t {
  // Classification of the first bytes: the peer does not speak RDP at all.
  not_rdp = 1,   // garbage / unknown first bytes
  not_rdp_http,  // "GET ", "POST ", ... an HTTP request
  not_rdp_ssh,   // "SSH-" banner
  not_rdp_tls,   // a TLS handshake while Direct Approach is not allowed (gateway policy)
  // TPKT (RFC 1006 §6)
  bad_tpkt_version,
  bad_tpkt_reserved,
  bad_tpkt_length,
  // X.224 (ISO 8073) Connection Request / Confirm
  bad_x224_length_indicator,  // LI != TPKT length - 5, or LI == 255
  bad_x224_code,              // not a CR (0xE0) / CC (0xD0)
  bad_x224_class,             // class nibble != 0
  trailing_data,              // bytes after the request before the server answered (pipelining)
  // Routing token / cookie lines ([MS-RDPBCGR] 2.2.1.1)
  token_missing_crlf,
  token_bad_character,
  token_too_many_lines,
  token_too_long,
  bad_cookie,  // "Cookie: mstshash=" with an empty identifier
  // RDP_NEG_REQ / RDP_NEG_CORRELATION_INFO ([MS-RDPBCGR] 2.2.1.1.1, 2.2.1.1.2)
  bad_negotiation_size,  // remainder after the token lines is not 0, 8 or 44 bytes
  bad_neg_req_type,
  bad_neg_req_length,
  bad_correlation_info_type,
  bad_correlation_info_length,
  // Preconnection PDU ([MS-RDPEPS] 2.2.1.1, 2.2.1.2)
  bad_pcb_size,
  bad_pcb_version,
  bad_pcb_string_length,
  bad_pcb_string,  // wszPCB is not valid UTF-16LE
  pcb_too_large,
  // Server Connection Confirm ([MS-RDPBCGR] 2.2.1.2)
  bad_cc_length,
  bad_neg_rsp_type,
  bad_neg_rsp_length,
  bad_selected_protocol,  // not a single protocol the client requested
  bad_neg_failure,
  // TLS ClientHello peek (RFC 8446 §4.1.2, §5.1)
  bad_tls_record_type,
  bad_tls_record_version,
  bad_tls_record_length,
  bad_tls_handshake_type,
  bad_tls_client_hello,
  // Everything the client sent before the server's reply is bigger than the inspection cap.
  too_large,
  // PROXY protocol v1/v2 header
  bad_proxy_header,
};

// The stable snake_case name of `code`, e.g. "bad_tpkt_length".
[[nodiscard]] std::string_view to_string(errc code) noexcept;

// True for the codes that mean "this is not RDP at all" (outcome `not_rdp`), false for the codes
// that mean "RDP, but malformed" (outcome `malformed`).
[[nodiscard]] bool is_not_rdp(errc code) noexcept;

[[nodiscard]] const std::error_category& protocol_category() noexcept;
[[nodiscard]] inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), protocol_category()};
}

}  // namespace rdpgate::protocol

template <>
struct std::is_error_code_enum<rdpgate::protocol::errc> : std::true_type {};
