// [MS-RDPBCGR] 2.2.1.1 Connection Request and 2.2.1.2 Connection Confirm (rdp-preauth-protocol.md
// §6-§8): fields, every malformation with its errc and offset, and every split of valid input.
#include "rdpgate/protocol/x224.hpp"

#include "rdpgate/protocol/rdp.hpp"
#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

const Limits limits{};

ParseResult<ConnectionRequest> cr(std::span<const std::byte> b) { return parse_connection_request(b, limits); }

// Cookie `alice`, SSL|HYBRID|HYBRID_EX (rdp-preauth-protocol.md §6, 43 bytes).
Bytes alice_request() {
  return hex(
      "03 00 00 2b"                                   // TPKT: version 3, reserved 0, length 43
      "26"                                            // LI = 38 = 43 - 5
      "e0"                                            // CR, credit 0
      "00 00"                                         // DST-REF
      "00 00"                                         // SRC-REF
      "00"                                            // class 0, no options
      "43 6f 6f 6b 69 65 3a 20 6d 73 74 73 68 61 73 68 3d 61 6c 69 63 65 0d 0a"  // cookie line
      "01"                                            // TYPE_RDP_NEG_REQ
      "00"                                            // flags
      "08 00"                                         // length 8 (LE)
      "0b 00 00 00");                                 // SSL|HYBRID|HYBRID_EX (LE)
}

// The same plus RDP_NEG_CORRELATION_INFO (79 bytes).
Bytes correlation_request() {
  return hex(
      "03 00 00 4f"                                   // TPKT length 79
      "4a e0 00 00 00 00 00"                          // LI 74, CR, refs, class
      "43 6f 6f 6b 69 65 3a 20 6d 73 74 73 68 61 73 68 3d 61 6c 69 63 65 0d 0a"  // cookie line
      "01 08 08 00 0b 00 00 00"                       // NEG_REQ, flags CORRELATION_INFO_PRESENT
      "06"                                            // TYPE_RDP_CORRELATION_INFO
      "00"                                            // flags
      "24 00"                                         // length 36 (LE)
      "5a 17 3c 9e 01 42 77 88 a1 b2 c3 d4 e5 f6 07 18"  // correlationId
      "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");  // reserved
}

// Routing token `Cookie: msts=...`, SSL|HYBRID (55 bytes).
Bytes msts_request() {
  return hex(
      "03 00 00 37 32 e0 00 00 00 00 00"  // TPKT length 55, LI 50, CR
      "43 6f 6f 6b 69 65 3a 20 6d 73 74 73 3d 33 36 34 30"  // "Cookie: msts=3640"
      "32 30 35 32 32 38 2e 31 35 36 32 39 2e 30 30 30 30 0d 0a"  // "205228.15629.0000" CRLF
      "01 00 08 00 03 00 00 00");  // NEG_REQ SSL|HYBRID
}

// Builds a CR around a variable part (TPKT and LI computed).
Bytes request_with(const Bytes& variable) {
  const std::size_t length = 11 + variable.size();
  Bytes out{std::byte{3}, std::byte{0}, static_cast<std::byte>(length >> 8),
            static_cast<std::byte>(length & 0xFF), static_cast<std::byte>(length - 5),
            std::byte{0xE0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
  out.insert(out.end(), variable.begin(), variable.end());
  return out;
}

const Bytes neg_req_ssl = hex("01 00 08 00 01 00 00 00");

TEST(ConnectionRequest, CookieAndNegotiationFields) {
  const auto bytes = alice_request();
  const auto& c = complete(cr(bytes));
  EXPECT_EQ(c.consumed, 43u);
  EXPECT_EQ(c.pdu.length, 43);
  EXPECT_EQ(c.pdu.dst_ref, 0);
  EXPECT_EQ(c.pdu.src_ref, 0);
  EXPECT_TRUE(c.pdu.has_cookie);
  EXPECT_EQ(c.pdu.cookie, "alice");
  EXPECT_EQ(c.pdu.token_kind, TokenKind::none);
  EXPECT_EQ(c.pdu.token_size, 0u);
  ASSERT_TRUE(c.pdu.negotiation);
  EXPECT_EQ(c.pdu.negotiation->flags, 0);
  EXPECT_EQ(c.pdu.negotiation->requested_protocols, 0x0bu);
  EXPECT_FALSE(c.pdu.correlation);
}

TEST(ConnectionRequest, CorrelationInfo) {
  const auto bytes = correlation_request();
  const auto& c = complete(cr(bytes));
  EXPECT_EQ(c.consumed, 79u);
  ASSERT_TRUE(c.pdu.correlation);
  EXPECT_EQ(c.pdu.correlation->id[0], 0x5a);
  EXPECT_EQ(c.pdu.correlation->id[15], 0x18);
  EXPECT_FALSE(c.pdu.correlation->reserved_nonzero);
  EXPECT_FALSE(c.pdu.correlation->id_questionable);
  EXPECT_EQ(c.pdu.negotiation->flags, neg_req_flag::correlation_info_present);
}

TEST(ConnectionRequest, CorrelationOddities) {
  auto bytes = correlation_request();
  bytes[43 + 4] = std::byte{0xF4};  // correlationId[0] = 0xF4: SHOULD NOT, logged
  bytes[78] = std::byte{0x01};      // a reserved byte non-zero: logged (FreeRDP ignores it)
  const auto& c = complete(cr(bytes));
  ASSERT_TRUE(c.pdu.correlation);
  EXPECT_TRUE(c.pdu.correlation->id_questionable);
  EXPECT_TRUE(c.pdu.correlation->reserved_nonzero);
  auto cr_byte = correlation_request();
  cr_byte[43 + 9] = std::byte{0x0D};  // any 0x0D in the id
  EXPECT_TRUE(complete(cr(cr_byte)).pdu.correlation->id_questionable);
}

TEST(ConnectionRequest, RoutingTokenMsts) {
  const auto bytes = msts_request();
  const auto& c = complete(cr(bytes));
  EXPECT_FALSE(c.pdu.has_cookie);
  EXPECT_EQ(c.pdu.token_kind, TokenKind::msts);
  EXPECT_EQ(c.pdu.routing_token, "Cookie: msts=3640205228.15629.0000");
  EXPECT_EQ(c.pdu.token_offset, 11u);
  EXPECT_EQ(c.pdu.token_size, 36u);
  EXPECT_EQ(c.pdu.negotiation->requested_protocols, 0x03u);
}

TEST(ConnectionRequest, TokenKinds) {
  const auto kind = [](std::string_view line) {
    const auto bytes = request_with(concat({ascii(line), hex("0d 0a"), neg_req_ssl}));
    return complete(cr(bytes)).pdu.token_kind;
  };
  EXPECT_EQ(kind("tsv://MS Terminal Services Plugin.1.Sessions"), TokenKind::tsv);
  EXPECT_EQ(kind("mth://whatever"), TokenKind::mth);
  EXPECT_EQ(kind("opaque-token"), TokenKind::other);
  EXPECT_EQ(kind("cookie: msts=1.2.0"), TokenKind::other);  // prefixes are case-sensitive (§8.6)
  EXPECT_EQ(token_kind_name(TokenKind::tsv), "tsv");
}

TEST(ConnectionRequest, TokenThenCookie) {
  // Both present ([MS-RDPBCGR] 3.3.5.3.1: the server SHOULD continue).
  const auto bytes = request_with(
      concat({ascii("tsv://x\r\nCookie: mstshash=bob\r\n"), neg_req_ssl}));
  const auto& c = complete(cr(bytes));
  EXPECT_EQ(c.pdu.token_kind, TokenKind::tsv);
  EXPECT_EQ(c.pdu.routing_token, "tsv://x");
  EXPECT_EQ(c.pdu.token_size, 9u);
  EXPECT_TRUE(c.pdu.has_cookie);
  EXPECT_EQ(c.pdu.cookie, "bob");
}

TEST(ConnectionRequest, LegacyRequests) {
  // Bare 11-byte CR (nmap TerminalServer probe).
  const auto bare = hex("03 00 00 0b 06 e0 00 00 00 00 00");
  const auto& c = complete(cr(bare));
  EXPECT_EQ(c.consumed, 11u);
  EXPECT_FALSE(c.pdu.negotiation);
  EXPECT_FALSE(c.pdu.has_cookie);
  // Cookie only (FreeRDP /sec:rdp).
  const auto cookie_only = request_with(ascii("Cookie: mstshash=bob\r\n"));
  EXPECT_FALSE(complete(cr(cookie_only)).pdu.negotiation);
}

TEST(ConnectionRequest, KeepsUnknownBitsAndSrcRef) {
  // Rule 9: unknown flags / protocol bits are forwarded, not refused. SRC-REF kept for the DR.
  auto bytes = request_with(hex("01 f0 08 00 ff 00 00 00"));
  bytes[8] = std::byte{0x12};
  bytes[9] = std::byte{0x34};
  const auto& c = complete(cr(bytes));
  EXPECT_EQ(c.pdu.src_ref, 0x1234);
  EXPECT_EQ(c.pdu.negotiation->flags, 0xf0);
  EXPECT_EQ(c.pdu.negotiation->requested_protocols, 0xffu);
}

TEST(ConnectionRequest, EverySplit) {
  for (const auto& bytes : {alice_request(), correlation_request(), msts_request(),
                            hex("03 00 00 0b 06 e0 00 00 00 00 00"),
                            hex("03 00 00 13 0e e0 00 00 00 00 00 01 00 08 00 00 00 00 00")}) {
    SCOPED_TRACE(bytes.size());
    grind<ConnectionRequest>(bytes, cr);
  }
}

TEST(ConnectionRequest, DoesNotLookPastTheRequest) {
  auto bytes = alice_request();
  bytes.push_back(std::byte{0xFF});
  EXPECT_EQ(complete(cr(bytes)).consumed, 43u);
}

TEST(ConnectionRequest, TpktMalformations) {
  auto b = alice_request();
  b[0] = std::byte{0x04};
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_tpkt_version, 0));
  b = alice_request();
  b[1] = std::byte{0x01};
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_tpkt_reserved, 1));
  // The version is refused from its first byte on, before anything else arrives.
  EXPECT_TRUE(is_invalid_at(cr(hex("16")), errc::bad_tpkt_version, 0));
  // Length below the 11-byte minimum.
  EXPECT_TRUE(is_invalid_at(cr(hex("03 00 00 0a 05 e0 00 00 00 00")), errc::bad_tpkt_length, 2));
  // Length above 259, refused at byte 2 without waiting for the body.
  EXPECT_TRUE(is_invalid_at(cr(hex("03 00 01 04")), errc::bad_tpkt_length, 2));
  EXPECT_TRUE(is_invalid_at(cr(hex("03 00 ff")), errc::bad_tpkt_length, 2));
  // A smaller configured cap is honoured.
  Limits small;
  small.max_connection_request = 40;
  EXPECT_TRUE(is_invalid_at(parse_connection_request(alice_request(), small),
                            errc::bad_tpkt_length, 2));
}

TEST(ConnectionRequest, X224Malformations) {
  auto b = alice_request();
  b[4] = std::byte{0x27};  // LI != L - 5
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_x224_length_indicator, 4));
  b = alice_request();
  b[5] = std::byte{0xD0};  // a CC where a CR belongs
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_x224_code, 5));
  b = alice_request();
  b[5] = std::byte{0xE1};  // credit nibble must be 0 too: exact 0xE0
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_x224_code, 5));
  b = alice_request();
  b[10] = std::byte{0x10};  // class 1
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_x224_class, 10));
  b = alice_request();
  b[10] = std::byte{0x02};  // option bits are ignored
  EXPECT_TRUE(is_complete(cr(b)));
  // Header errors are reported as soon as the byte arrives.
  EXPECT_TRUE(is_invalid_at(cr(hex("03 00 00 2b 27")), errc::bad_x224_length_indicator, 4));
  EXPECT_TRUE(is_invalid_at(cr(hex("03 00 00 2b 26 f0")), errc::bad_x224_code, 5));
}

TEST(ConnectionRequest, TokenMalformations) {
  // Cookie without CRLF, directly followed by RDP_NEG_REQ: missing CRLF at the 0x01.
  auto b = request_with(concat({ascii("Cookie: mstshash=bob"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_missing_crlf, 11 + 20));
  // A line that runs to the end of the LI-covered area.
  b = request_with(ascii("Cookie: mstshash=averyveryverylongname"));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_too_long, 11));
  // Its CR as the very last byte: the LF would lie beyond the request.
  b = request_with(ascii("Cookie: mstshash=bob\r"));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_too_long, 11));
  // A control byte inside a line that does end with CRLF.
  b = request_with(concat({ascii("Cookie: mstshash=b\tb\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_bad_character, 11 + 18));
  b = request_with(concat({ascii("Cookie: mstshash=b"), hex("c3 a9"), ascii("\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_bad_character, 11 + 18));
  // A bare CR inside a line.
  b = request_with(concat({ascii("tsv://a\rb\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_bad_character, 11 + 7));
  // Three lines.
  b = request_with(concat({ascii("tsv://a\r\nCookie: mstshash=b\r\nx\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_too_many_lines, 11 + 9 + 20));
  // Two routing tokens, or a token after the cookie.
  b = request_with(concat({ascii("tsv://a\r\ntsv://b\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_too_many_lines, 11 + 9));
  b = request_with(concat({ascii("Cookie: mstshash=b\r\ntsv://a\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::token_too_many_lines, 11 + 20));
  // Empty mstshash identifier.
  b = request_with(concat({ascii("Cookie: mstshash=\r\n"), neg_req_ssl}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_cookie, 11 + 17));
}

TEST(ConnectionRequest, NegotiationMalformations) {
  // Remainder not 0, 8 or 44 bytes.
  auto b = request_with(hex("01 00 08 00 01 00 00"));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_negotiation_size, 11));
  b = request_with(concat({ascii("Cookie: mstshash=b\r\n"), hex("01 00 08 00 01 00 00 00 00")}));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_negotiation_size, 31));
  // Wrong type (RDP_NEG_RSP's 0x02 in a request).
  b = request_with(hex("02 00 08 00 01 00 00 00"));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_neg_req_type, 11));
  // Wrong length field.
  b = request_with(hex("01 00 09 00 01 00 00 00"));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_neg_req_length, 13));
  // Correlation flag without the 36-byte block, and the block without the flag.
  b = request_with(hex("01 08 08 00 01 00 00 00"));
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_negotiation_size, 12));
  // (correlation_request(): RDP_NEG_REQ at 35, correlation info at 43)
  b = correlation_request();
  b[35 + 1] = std::byte{0x00};
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_negotiation_size, 43));
  // Correlation info type and length.
  b = correlation_request();
  b[43] = std::byte{0x07};
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_correlation_info_type, 43));
  b = correlation_request();
  b[43 + 2] = std::byte{0x25};
  EXPECT_TRUE(is_invalid_at(cr(b), errc::bad_correlation_info_length, 43 + 2));
}

// ---------------------------------------------------------------------------------------------
// Connection Confirm

ParseResult<ConnectionConfirm> cc(std::span<const std::byte> b, std::optional<std::uint32_t> requested = {}) {
  return parse_connection_confirm(b, requested);
}

TEST(ConnectionConfirm, NegotiationResponseFields) {
  const auto bytes = hex(
      "03 00 00 13"  // TPKT length 19
      "0e d0"        // LI 14, CC
      "00 00"        // DST-REF
      "12 34"        // SRC-REF 0x1234 (the spec's "bogus value")
      "00"           // class 0
      "02"           // TYPE_RDP_NEG_RSP
      "1f"           // flags, reserved 0x04 included (Windows): accepted
      "08 00"        // length 8
      "02 00 00 00");  // selectedProtocol HYBRID
  const auto& c = complete(cc(bytes, 0x03u));
  EXPECT_EQ(c.consumed, 19u);
  EXPECT_EQ(c.pdu.src_ref, 0x1234);
  ASSERT_TRUE(c.pdu.response);
  EXPECT_EQ(c.pdu.response->flags, 0x1f);
  EXPECT_EQ(c.pdu.response->selected_protocol, proto::hybrid);
  EXPECT_FALSE(c.pdu.failure);
  grind<ConnectionConfirm>(bytes, [](std::span<const std::byte> s) {
    return parse_connection_confirm(s, 0x03u);
  });
}

TEST(ConnectionConfirm, FailureAndLegacy) {
  const auto failure = hex("03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 05 00 00 00");
  const auto& f = complete(cc(failure));
  ASSERT_TRUE(f.pdu.failure);
  EXPECT_EQ(f.pdu.failure->code, 5u);
  // Unknown failure codes are kept for the log.
  auto unknown = failure;
  unknown[15] = std::byte{0x09};
  EXPECT_EQ(complete(cc(unknown)).pdu.failure->code, 9u);
  const auto legacy = hex("03 00 00 0b 06 d0 00 00 12 34 00");
  const auto& l = complete(cc(legacy));
  EXPECT_EQ(l.consumed, 11u);
  EXPECT_FALSE(l.pdu.response);
  EXPECT_FALSE(l.pdu.failure);
  grind<ConnectionConfirm>(legacy, [](std::span<const std::byte> s) { return cc(Bytes(s.begin(), s.end())); });
}

TEST(ConnectionConfirm, Malformations) {
  const auto good = hex("03 00 00 13 0e d0 00 00 00 00 00 02 00 08 00 01 00 00 00");
  auto b = good;
  b[0] = std::byte{0x02};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_tpkt_version, 0));
  b = good;
  b[1] = std::byte{0x01};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_tpkt_reserved, 1));
  EXPECT_TRUE(is_invalid_at(cc(hex("03 00 00 0c")), errc::bad_cc_length, 2));
  EXPECT_TRUE(is_invalid_at(cc(hex("03 00 01")), errc::bad_cc_length, 2));
  b = good;
  b[4] = std::byte{0x0d};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_x224_length_indicator, 4));
  b = good;
  b[5] = std::byte{0xe0};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_x224_code, 5));
  b = good;
  b[11] = std::byte{0x01};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_neg_rsp_type, 11));
  b = good;
  b[13] = std::byte{0x09};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_neg_rsp_length, 13));
  // Two protocols selected, or one the client did not ask for.
  b = good;
  b[15] = std::byte{0x03};
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_selected_protocol, 15));
  EXPECT_TRUE(is_invalid_at(cc(good, proto::hybrid), errc::bad_selected_protocol, 15));
  EXPECT_TRUE(is_complete(cc(good, proto::ssl | proto::hybrid)));
  // PROTOCOL_RDP (0) is always a valid selection.
  b = good;
  b[15] = std::byte{0x00};
  EXPECT_TRUE(is_complete(cc(b, proto::hybrid)));
  // RDP_NEG_FAILURE flags must be 0.
  b = hex("03 00 00 13 0e d0 00 00 12 34 00 03 01 08 00 05 00 00 00");
  EXPECT_TRUE(is_invalid_at(cc(b), errc::bad_neg_failure, 12));
}

}  // namespace
}  // namespace rdpgate::protocol::test
