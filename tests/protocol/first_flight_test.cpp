// The client's first flight: [PCB] + CR, [PCB] + TLS, non-RDP, pipelining, the max_total cap.
#include "rdpgate/protocol/first_flight.hpp"

#include "client_hello.hpp"
#include "rdpgate/protocol/writers.hpp"

namespace rdpgate::protocol::test {
namespace {

const Limits limits{};
ParseResult<FirstFlight> flight(std::span<const std::byte> b) { return parse_first_flight(b, limits); }

const Bytes pcb_v2 = hex(
    "1e 00 00 00 00 00 00 00 02 00 00 00 07 00 00 00"  // cbSize 30, V2, Id 7
    "06 00 76 00 6d 00 2d 00 30 00 31 00 00 00");      // "vm-01" + NUL
const Bytes request = hex(
    "03 00 00 13 0e e0 00 00 00 00 00"  // TPKT 19, CR
    "01 00 08 00 03 00 00 00");         // NEG_REQ SSL|HYBRID

TEST(FirstFlight, RequestOnly) {
  const auto& c = complete(flight(request));
  EXPECT_EQ(c.consumed, 19u);
  EXPECT_EQ(c.pdu.kind, FirstBytes::tpkt);
  EXPECT_FALSE(c.pdu.preconnection);
  ASSERT_TRUE(c.pdu.request);
  EXPECT_EQ(c.pdu.request->negotiation->requested_protocols, 3u);
  grind<FirstFlight>(request, flight);
}

TEST(FirstFlight, PreconnectionThenRequest) {
  const auto bytes = concat({pcb_v2, request});
  const auto& c = complete(flight(bytes));
  EXPECT_EQ(c.consumed, 49u);
  EXPECT_EQ(c.pdu.kind, FirstBytes::preconnection);
  EXPECT_EQ(c.pdu.preconnection_size, 30u);
  ASSERT_TRUE(c.pdu.preconnection);
  EXPECT_EQ(c.pdu.preconnection->id, 7u);
  EXPECT_EQ(c.pdu.preconnection->blob, "vm-01");
  ASSERT_TRUE(c.pdu.request);
  grind<FirstFlight>(bytes, flight);
}

TEST(FirstFlight, DirectApproach) {
  const auto hello = client_hello();
  const auto& t = complete(flight(hello));
  EXPECT_EQ(t.pdu.kind, FirstBytes::tls);
  ASSERT_TRUE(t.pdu.tls);
  EXPECT_EQ(t.pdu.tls->sni, "rdp.example.test");
  EXPECT_FALSE(t.pdu.request);
  grind<FirstFlight>(hello, flight);
  // PCB v2 then TLS (FreeRDP /vmconnect, §14.7).
  const auto bytes = concat({pcb_v2, hello});
  const auto& p = complete(flight(bytes));
  EXPECT_EQ(p.pdu.kind, FirstBytes::preconnection);
  EXPECT_TRUE(p.pdu.preconnection);
  EXPECT_TRUE(p.pdu.tls);
  EXPECT_EQ(p.consumed, bytes.size());
  grind<FirstFlight>(bytes, flight);
}

TEST(FirstFlight, FragmentedHelloMayBeFollowed) {
  const auto hello = client_hello({.extra_handshake_length = 10});
  const auto bytes = concat({hello, hex("16 03 03 00 0a")});
  const auto& c = complete(flight(bytes));
  EXPECT_EQ(c.consumed, hello.size());
  EXPECT_TRUE(c.pdu.tls->fragmented);
}

TEST(FirstFlight, NotRdp) {
  EXPECT_TRUE(is_invalid_at(flight(ascii("GET / HTTP/1.1\r\n")), errc::not_rdp_http, 0));
  EXPECT_TRUE(is_invalid_at(flight(ascii("SSH-2.0-OpenSSH_9.2\r\n")), errc::not_rdp_ssh, 0));
  EXPECT_TRUE(is_invalid_at(flight(ascii("\x01garbage-bytes")), errc::not_rdp, 0));
  EXPECT_TRUE(is_invalid_at(flight(hex("ff ff ff ff")), errc::not_rdp, 0));
  for (const auto code : {errc::not_rdp, errc::not_rdp_http, errc::not_rdp_ssh}) {
    EXPECT_TRUE(is_not_rdp(code));
  }
}

TEST(FirstFlight, MalformedAfterClassification) {
  // First byte 0x03 but a bad reserved byte: malformed RDP, not "not RDP".
  EXPECT_TRUE(is_invalid_at(flight(hex("03 05 00 13 0e e0 00 00 00 00 00 00")),
                            errc::bad_tpkt_reserved, 1));
  // PCB followed by something that is neither TPKT nor TLS: offsets count from the flight start.
  EXPECT_TRUE(is_invalid_at(flight(concat({pcb_v2, ascii("GET ")})), errc::bad_tpkt_version, 30));
  auto bad_li = concat({pcb_v2, request});
  bad_li[30 + 4] = std::byte{0x0f};
  EXPECT_TRUE(is_invalid_at(flight(bad_li), errc::bad_x224_length_indicator, 34));
  auto bad_pcb = pcb_v2;
  bad_pcb[16] = std::byte{0x07};  // cchPCB 7 > (30 - 18) / 2
  EXPECT_TRUE(is_invalid_at(flight(bad_pcb), errc::bad_pcb_string_length, 16));
}

TEST(FirstFlight, TrailingData) {
  // Rule 2: a real client waits for the Connection Confirm.
  auto bytes = concat({request, hex("03")});
  EXPECT_TRUE(is_invalid_at(flight(bytes), errc::trailing_data, 19));
  bytes = concat({client_hello(), hex("17")});
  EXPECT_TRUE(is_invalid_at(flight(bytes), errc::trailing_data, client_hello().size()));
}

TEST(FirstFlight, TooLarge) {
  Limits small;
  small.max_total = 40;
  // The PCB fits, the request it announces would not: refused once the TPKT length is known.
  const auto bytes = concat({pcb_v2, request});
  const Bytes head(bytes.begin(), bytes.begin() + 30 + 3);
  EXPECT_TRUE(is_need_more(parse_first_flight(head, small)));
  const Bytes header(bytes.begin(), bytes.begin() + 30 + 4);
  EXPECT_TRUE(is_invalid_at(parse_first_flight(header, small), errc::too_large, 40));
  // A PCB bigger than the whole cap.
  small.max_total = 20;
  EXPECT_TRUE(is_invalid_at(parse_first_flight(pcb_v2, small), errc::too_large, 20));
  // A TLS record longer than the cap, refused from its header.
  small.max_total = 64;
  EXPECT_TRUE(is_invalid_at(parse_first_flight(hex("16 03 01 02 00"), small), errc::too_large, 64));
}

TEST(FirstFlight, NeedMoreAtStart) {
  EXPECT_EQ(std::get<NeedMore>(flight({})).total, 1u);
  EXPECT_TRUE(is_need_more(flight(hex("03"))));
  EXPECT_TRUE(is_need_more(flight(pcb_v2)));  // the request is still to come
}

}  // namespace
}  // namespace rdpgate::protocol::test
