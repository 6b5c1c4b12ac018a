#pragma once
// Protocol constants shared by the parsers and writers ([MS-RDPBCGR] 2.2.1.1.1, 2.2.1.2.1/2).

#include <cstdint>
#include <string>
#include <string_view>

namespace rdpgate::protocol {

// requestedProtocols / selectedProtocol bits. PROTOCOL_RDP is the absence of bits (0).
namespace proto {
inline constexpr std::uint32_t rdp = 0x00000000;
inline constexpr std::uint32_t ssl = 0x00000001;
inline constexpr std::uint32_t hybrid = 0x00000002;
inline constexpr std::uint32_t rdstls = 0x00000004;
inline constexpr std::uint32_t hybrid_ex = 0x00000008;
inline constexpr std::uint32_t rdsaad = 0x00000010;
inline constexpr std::uint32_t known_mask = 0x0000001F;
}  // namespace proto

// RDP_NEG_REQ flags.
namespace neg_req_flag {
inline constexpr std::uint8_t restricted_admin_mode_required = 0x01;
inline constexpr std::uint8_t redirected_authentication_mode_required = 0x02;
inline constexpr std::uint8_t correlation_info_present = 0x08;
}  // namespace neg_req_flag

// RDP_NEG_FAILURE failureCode values ([MS-RDPBCGR] 2.2.1.2.2).
enum class NegFailureCode : std::uint32_t {
  ssl_required_by_server = 1,
  ssl_not_allowed_by_server = 2,
  ssl_cert_not_on_server = 3,
  inconsistent_flags = 4,
  hybrid_required_by_server = 5,
  ssl_with_user_auth_required_by_server = 6,
};

// "rdp", "ssl", "hybrid", "rdstls", "hybrid_ex", "rdsaad" for a single protocol value.
[[nodiscard]] std::string_view protocol_name(std::uint32_t single_protocol) noexcept;
// "ssl|hybrid" for a bit set; "rdp" for 0; unknown bits as "0x..".
[[nodiscard]] std::string protocol_set_name(std::uint32_t protocols);
// "HYBRID_REQUIRED_BY_SERVER", ... as the specification names them; "UNKNOWN" otherwise.
[[nodiscard]] std::string_view failure_code_name(std::uint32_t code) noexcept;

}  // namespace rdpgate::protocol
