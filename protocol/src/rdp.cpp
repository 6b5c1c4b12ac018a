// Names of requestedProtocols / selectedProtocol values and RDP_NEG_FAILURE codes
// ([MS-RDPBCGR] 2.2.1.1.1, 2.2.1.2.1, 2.2.1.2.2).
#include "rdpgate/protocol/rdp.hpp"

#include <array>
#include <cstdio>

namespace rdpgate::protocol {

std::string_view protocol_name(std::uint32_t single_protocol) noexcept {
  switch (single_protocol) {
    case proto::rdp: return "rdp";
    case proto::ssl: return "ssl";
    case proto::hybrid: return "hybrid";
    case proto::rdstls: return "rdstls";
    case proto::hybrid_ex: return "hybrid_ex";
    case proto::rdsaad: return "rdsaad";
    default: return "unknown";
  }
}

std::string protocol_set_name(std::uint32_t protocols) {
  if (protocols == proto::rdp) return "rdp";
  std::string out;
  for (std::uint32_t bit = 1; bit <= proto::rdsaad; bit <<= 1) {
    if ((protocols & bit) == 0) continue;
    if (!out.empty()) out += '|';
    out += protocol_name(bit);
  }
  if (const std::uint32_t unknown = protocols & ~proto::known_mask; unknown != 0) {
    std::array<char, 16> hex{};
    std::snprintf(hex.data(), hex.size(), "0x%x", static_cast<unsigned>(unknown));
    if (!out.empty()) out += '|';
    out += hex.data();
  }
  return out;
}

std::string_view failure_code_name(std::uint32_t code) noexcept {
  switch (code) {
    case 1: return "SSL_REQUIRED_BY_SERVER";
    case 2: return "SSL_NOT_ALLOWED_BY_SERVER";
    case 3: return "SSL_CERT_NOT_ON_SERVER";
    case 4: return "INCONSISTENT_FLAGS";
    case 5: return "HYBRID_REQUIRED_BY_SERVER";
    case 6: return "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER";
    default: return "UNKNOWN";
  }
}

}  // namespace rdpgate::protocol
