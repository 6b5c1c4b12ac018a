// Writers ([MS-RDPBCGR] 2.2.1.2.2, ISO 8073 §13.5, [MS-RDPBCGR] 2.2.1.1) and their round trip
// through the parsers.
#include "rdpgate/protocol/writers.hpp"

#include "rdpgate/protocol/x224.hpp"
#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

template <std::size_t N>
Bytes to_bytes(const std::array<std::byte, N>& a) {
  return Bytes(a.begin(), a.end());
}

TEST(Writers, HybridRequiredByServerExactBytes) {
  EXPECT_EQ(to_bytes(write_negotiation_failure(NegFailureCode::hybrid_required_by_server)),
            hex("03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 05 00 00 00"));
  EXPECT_EQ(to_bytes(write_negotiation_failure(NegFailureCode::ssl_required_by_server)),
            hex("03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 01 00 00 00"));
}

TEST(Writers, NegotiationFailureRoundTrip) {
  for (std::uint32_t code = 1; code <= 6; ++code) {
    const auto bytes = to_bytes(write_negotiation_failure(static_cast<NegFailureCode>(code)));
    const auto& c = complete(parse_connection_confirm(bytes, proto::ssl));
    ASSERT_TRUE(c.pdu.failure);
    EXPECT_EQ(c.pdu.failure->code, code);
    EXPECT_EQ(c.pdu.src_ref, 0x1234);
    EXPECT_NE(failure_code_name(code), "UNKNOWN");
  }
  EXPECT_EQ(failure_code_name(5), "HYBRID_REQUIRED_BY_SERVER");
  EXPECT_EQ(failure_code_name(77), "UNKNOWN");
}

TEST(Writers, DisconnectRequest) {
  EXPECT_EQ(to_bytes(write_disconnect_request(0)), hex("03 00 00 0b 06 80 00 00 00 00 00"));
  EXPECT_EQ(to_bytes(write_disconnect_request(0x1234)), hex("03 00 00 0b 06 80 12 34 00 00 00"));
}

TEST(Writers, ConnectionRequestMatchesSpecExample) {
  // rdp-preauth-protocol.md §6: cookie `alice`, SSL|HYBRID|HYBRID_EX, 43 bytes.
  EXPECT_EQ(write_connection_request("alice", 0x0b),
            hex("03 00 00 2b 26 e0 00 00 00 00 00 43 6f 6f 6b 69 65 3a 20 6d 73 74 73 68 61 73 68 3d"
                "61 6c 69 63 65 0d 0a 01 00 08 00 0b 00 00 00"));
  // No cookie, PROTOCOL_RDP with RDP_NEG_REQ, 19 bytes.
  EXPECT_EQ(write_connection_request("", 0),
            hex("03 00 00 13 0e e0 00 00 00 00 00 01 00 08 00 00 00 00 00"));
}

TEST(Writers, ConnectionRequestRoundTrip) {
  const Limits limits;
  for (const std::string_view cookie : {"bob", "rdpgate-probe", "a b~"}) {
    const auto bytes = write_connection_request(cookie, proto::hybrid | proto::ssl);
    const auto& c = complete(parse_connection_request(bytes, limits));
    EXPECT_EQ(c.consumed, bytes.size());
    EXPECT_TRUE(c.pdu.has_cookie);
    EXPECT_EQ(c.pdu.cookie, cookie);
    EXPECT_EQ(c.pdu.negotiation->requested_protocols, 3u);
  }
  // Cookies that would break the line are left out.
  const std::string long_cookie(201, 'x');
  for (const std::string_view cookie : {std::string_view{"a\r\nb"}, std::string_view{"\x7f"},
                                        std::string_view{long_cookie}}) {
    const auto bytes = write_connection_request(cookie, proto::hybrid);
    EXPECT_EQ(bytes.size(), 19u);
    EXPECT_FALSE(complete(parse_connection_request(bytes, limits)).pdu.has_cookie);
  }
  // The longest allowed cookie still fits the 259-byte bound.
  const std::string max_cookie(200, 'y');
  const auto bytes = write_connection_request(max_cookie, proto::hybrid);
  EXPECT_EQ(complete(parse_connection_request(bytes, limits)).pdu.cookie, max_cookie);
}

TEST(Names, Protocols) {
  EXPECT_EQ(protocol_name(proto::rdp), "rdp");
  EXPECT_EQ(protocol_name(proto::hybrid_ex), "hybrid_ex");
  EXPECT_EQ(protocol_name(proto::rdsaad), "rdsaad");
  EXPECT_EQ(protocol_set_name(0), "rdp");
  EXPECT_EQ(protocol_set_name(0x0b), "ssl|hybrid|hybrid_ex");
  EXPECT_EQ(protocol_set_name(0x10), "rdsaad");
  EXPECT_EQ(protocol_set_name(0x101), "ssl|0x100");
}

}  // namespace
}  // namespace rdpgate::protocol::test
