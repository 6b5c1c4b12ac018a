// Bytes captured from real programs (../shared/vectors, README.md there) parse to what the README
// says, and survive every split.
#include <optional>
#include <string>

#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/protocol/x224.hpp"
#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

struct ClientVector {
  std::string file;
  std::size_t size;
  std::optional<std::string> cookie;
  std::optional<std::uint32_t> protocols;  // nullopt: no RDP_NEG_REQ
  TokenKind token = TokenKind::none;
  std::string token_text;
  std::optional<std::uint32_t> pcb_id;
  std::string pcb_string;
  std::uint16_t pcb_cch = 0;
};

ClientVector cv(std::string file, std::size_t size, std::optional<std::string> cookie,
                std::optional<std::uint32_t> protocols, TokenKind token = TokenKind::none,
                std::string token_text = "", std::optional<std::uint32_t> pcb_id = std::nullopt,
                std::string pcb_string = "", std::uint16_t pcb_cch = 0) {
  return {std::move(file), size,   std::move(cookie),     protocols, token, std::move(token_text),
          pcb_id,          std::move(pcb_string), pcb_cch};
}

const ClientVector client_vectors[] = {
    cv("xfreerdp-default.hex", 45, "rdpuser", 0x3),
    cv("xfreerdp-sec-tls.hex", 45, "rdpuser", 0x1),
    cv("xfreerdp-sec-nla.hex", 45, "rdpuser", 0x3),
    cv("xfreerdp-sec-rdp.hex", 37, "rdpuser", std::nullopt),
    cv("xfreerdp-u-someuser.hex", 46, "someuser", 0x3),
    cv("xfreerdp-u-domain-user.hex", 46, "someuser", 0x1),
    cv("xfreerdp-load-balance-info.hex", 65, std::nullopt, 0x1, TokenKind::tsv,
     "tsv://MS Terminal Services Plugin.1.Sessions"),
    cv("xfreerdp-pcb.hex", 86, "someuser", 0x1, TokenKind::none, "", 0, "SOMETOKEN", 11),
    cv("xfreerdp-pcid.hex", 64, "someuser", 0x1, TokenKind::none, "", 123, "", 0),
    cv("xfreerdp-pcb-pcid.hex", 86, "someuser", 0x1, TokenKind::none, "", 123, "SOMETOKEN", 11),
    cv("nmap-rdp-enum-encryption-req-0x00000000.hex", 42, "nmap", 0x0),
    cv("nmap-rdp-enum-encryption-req-0x00000001.hex", 42, "nmap", 0x1),
    cv("nmap-rdp-enum-encryption-req-0x00000003.hex", 42, "nmap", 0x3),
    cv("nmap-rdp-enum-encryption-req-0x00000004.hex", 42, "nmap", 0x4),
    cv("nmap-rdp-enum-encryption-req-0x00000008.hex", 42, "nmap", 0x8),
    cv("nmap-rdp-enum-encryption-noneg.hex", 34, "nmap", std::nullopt),
    cv("nmap-rdp-ntlm-info.hex", 42, "nmap", 0xb),
};

TEST(Vectors, ClientFirstFlights) {
  RDPGATE_REQUIRE_VECTORS();
  const Limits limits;
  for (const auto& v : client_vectors) {
    SCOPED_TRACE(v.file);
    const auto bytes = vector_file(v.file);
    ASSERT_EQ(bytes.size(), v.size);
    const auto& c = complete(parse_first_flight(bytes, limits));
    EXPECT_EQ(c.consumed, v.size);
    ASSERT_TRUE(c.pdu.request);
    const auto& cr = *c.pdu.request;
    EXPECT_EQ(cr.has_cookie, v.cookie.has_value());
    if (v.cookie) {
      EXPECT_EQ(cr.cookie, *v.cookie);
    }
    EXPECT_EQ(cr.negotiation.has_value(), v.protocols.has_value());
    if (v.protocols && cr.negotiation) {
      EXPECT_EQ(cr.negotiation->requested_protocols, *v.protocols);
      EXPECT_EQ(cr.negotiation->flags, 0);
    }
    EXPECT_FALSE(cr.correlation);
    EXPECT_EQ(cr.token_kind, v.token);
    EXPECT_EQ(cr.routing_token, v.token_text);
    EXPECT_EQ(c.pdu.preconnection.has_value(), v.pcb_id.has_value());
    if (v.pcb_id && c.pdu.preconnection) {
      EXPECT_EQ(c.pdu.kind, FirstBytes::preconnection);
      EXPECT_EQ(c.pdu.preconnection->version, 2u);
      EXPECT_EQ(c.pdu.preconnection->id, *v.pcb_id);
      EXPECT_EQ(c.pdu.preconnection->cch, v.pcb_cch);
      EXPECT_EQ(c.pdu.preconnection->blob, v.pcb_string);
      EXPECT_EQ(c.pdu.preconnection_size + cr.length, v.size);
    } else {
      EXPECT_EQ(c.pdu.kind, FirstBytes::tpkt);
    }
    grind<FirstFlight>(bytes, [&](std::span<const std::byte> s) { return parse_first_flight(s, limits); });
  }
}

struct ServerVector {
  std::string file;
  std::size_t size;
  std::uint16_t src_ref;
  std::optional<std::uint32_t> requested;  // what the client asked for
  std::optional<std::uint32_t> selected;
  std::optional<std::uint32_t> failure;
  std::uint8_t flags = 0;
};

const ServerVector server_vectors[] = {
    {"shadow-cc-neg-rsp-hybrid.hex", 19, 0, 0x3, 0x2, std::nullopt, 0x03},
    {"shadow-cc-neg-rsp-ssl.hex", 19, 0, 0x1, 0x1, std::nullopt, 0x03},
    // Replies to a CR without RDP_NEG_REQ: tolerated (§7).
    {"shadow-cc-neg-rsp-rdp-unrequested.hex", 19, 0, std::nullopt, 0x0, std::nullopt, 0x03},
    {"shadow-nla-cc-neg-failure-hybrid-required.hex", 19, 0, 0x1, std::nullopt, 5, 0},
    {"xrdp-cc-neg-rsp-ssl.hex", 19, 0x1234, 0x3, 0x1, std::nullopt, 0x01},
    {"xrdp-cc-no-neg.hex", 11, 0x1234, std::nullopt, std::nullopt, std::nullopt, 0},
};

TEST(Vectors, ServerConnectionConfirms) {
  RDPGATE_REQUIRE_VECTORS();
  for (const auto& v : server_vectors) {
    SCOPED_TRACE(v.file);
    const auto bytes = vector_file(v.file);
    ASSERT_EQ(bytes.size(), v.size);
    const auto& c = complete(parse_connection_confirm(bytes, v.requested));
    EXPECT_EQ(c.consumed, v.size);
    EXPECT_EQ(c.pdu.src_ref, v.src_ref);
    EXPECT_EQ(c.pdu.response.has_value(), v.selected.has_value());
    if (v.selected && c.pdu.response) {
      EXPECT_EQ(c.pdu.response->selected_protocol, *v.selected);
      EXPECT_EQ(c.pdu.response->flags, v.flags);
    }
    EXPECT_EQ(c.pdu.failure.has_value(), v.failure.has_value());
    if (v.failure && c.pdu.failure) {
      EXPECT_EQ(c.pdu.failure->code, *v.failure);
      EXPECT_EQ(failure_code_name(c.pdu.failure->code), "HYBRID_REQUIRED_BY_SERVER");
    }
    grind<ConnectionConfirm>(bytes, [&](std::span<const std::byte> s) {
      return parse_connection_confirm(s, v.requested);
    });
  }
}

TEST(Vectors, XrdpReplyToPcbIsNotAConfirm) {
  RDPGATE_REQUIRE_VECTORS();
  // X.224 DT + MCS DisconnectProviderUltimatum (9 bytes): not a CC.
  const auto bytes = vector_file("xrdp-reply-to-pcb.hex");
  EXPECT_TRUE(is_invalid_at(parse_connection_confirm(bytes), errc::bad_cc_length, 2));
}

TEST(Vectors, ServerRepliesAreNotClientRequests) {
  RDPGATE_REQUIRE_VECTORS();
  const auto bytes = vector_file("shadow-cc-neg-rsp-hybrid.hex");
  EXPECT_TRUE(is_invalid_at(parse_first_flight(bytes, Limits{}), errc::bad_x224_code, 5));
}

}  // namespace
}  // namespace rdpgate::protocol::test
