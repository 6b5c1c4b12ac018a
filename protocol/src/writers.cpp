// PDUs rdpgate writes itself: [MS-RDPBCGR] 2.2.1.2.2 (CC + RDP_NEG_FAILURE), ISO 8073 §13.5 (DR),
// [MS-RDPBCGR] 2.2.1.1 (CR for the backend probe). See rdp-preauth-protocol.md §10.
#include "rdpgate/protocol/writers.hpp"

namespace rdpgate::protocol {

namespace {

constexpr std::byte b(std::uint64_t v) noexcept { return static_cast<std::byte>(v & 0xFF); }

[[nodiscard]] bool valid_cookie(std::string_view cookie) noexcept {
  if (cookie.empty() || cookie.size() > 200) return false;
  for (const char c : cookie) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

std::array<std::byte, 19> write_negotiation_failure(NegFailureCode code) noexcept {
  const auto v = static_cast<std::uint32_t>(code);
  return {
      b(0x03), b(0x00),   b(0x00),    b(0x13),  // TPKT: version 3, reserved, length 19 (BE)
      b(0x0e),                                  // LI = 19 - 5
      b(0xd0),                                  // CC, credit 0
      b(0x00), b(0x00),                         // DST-REF
      b(0x12), b(0x34),                         // SRC-REF: the "bogus" 0x1234 of [MS-RDPBCGR] 4.1.2
      b(0x00),                                  // class 0, no options
      b(0x03),                                  // TYPE_RDP_NEG_FAILURE
      b(0x00),                                  // flags
      b(0x08), b(0x00),                         // length 8 (LE)
      b(v),    b(v >> 8), b(v >> 16), b(v >> 24),  // failureCode (LE)
  };
}

std::array<std::byte, 11> write_disconnect_request(std::uint16_t dst_ref) noexcept {
  return {
      b(0x03),          b(0x00),    b(0x00), b(0x0b),  // TPKT: version 3, reserved, length 11 (BE)
      b(0x06),                                         // LI = 11 - 5
      b(0x80),                                         // DR
      b(dst_ref >> 8u), b(dst_ref),                    // DST-REF = the client's SRC-REF (BE)
      b(0x00),          b(0x00),  // SRC-REF 0: unassigned when refusing (RFC 892)
      b(0x00),                    // reason 0: not specified (§5 recommendation)
  };
}

std::vector<std::byte> write_connection_request(std::string_view cookie,
                                                std::uint32_t requested_protocols) {
  constexpr std::string_view prefix = "Cookie: mstshash=";
  const bool with_cookie = valid_cookie(cookie);
  const std::size_t token = with_cookie ? prefix.size() + cookie.size() + 2 : 0;
  const std::size_t length = 4 + 7 + token + 8;  // TPKT + X.224 CR + cookie line + RDP_NEG_REQ
  std::vector<std::byte> out;
  out.reserve(length);
  out.insert(out.end(), {b(0x03), b(0x00), b(length >> 8), b(length)});  // TPKT
  out.insert(out.end(),
             {b(length - 5), b(0xe0), b(0), b(0), b(0), b(0), b(0)});  // LI, CR, refs, class
  if (with_cookie) {
    for (const char c : prefix) out.push_back(b(static_cast<unsigned char>(c)));
    for (const char c : cookie) out.push_back(b(static_cast<unsigned char>(c)));
    out.insert(out.end(), {b('\r'), b('\n')});
  }
  const std::uint32_t p = requested_protocols;
  out.insert(out.end(), {b(0x01), b(0x00), b(0x08), b(0x00),  // RDP_NEG_REQ, flags 0, length 8
                         b(p), b(p >> 8), b(p >> 16), b(p >> 24)});
  return out;
}

}  // namespace rdpgate::protocol
