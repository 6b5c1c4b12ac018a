// The first flight as forwarded to the server: verbatim, without a consumed PCB, without a
// routing-token line (TPKT length and LI reduced, [MS-RDPBCGR] 5.4.2.1); edits that do not fit
// the bytes are refused.
#include "rdpgate/protocol/forward.hpp"

#include <limits>
#include <optional>
#include <string>

#include "client_hello.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/x224.hpp"
#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

const Limits limits{};

const Bytes pcb_v2 = hex(
    "1e 00 00 00 00 00 00 00 02 00 00 00 07 00 00 00"  // cbSize 30, V2, Id 7
    "06 00 76 00 6d 00 2d 00 30 00 31 00 00 00");      // "vm-01" + NUL

// Routing token, cookie and RDP_NEG_REQ SSL|HYBRID: TPKT length 79, LI 74.
const Bytes token_request = hex(
    "03 00 00 4f 4a e0 00 00 00 00 00"                          // TPKT 79, LI 74, CR
    "43 6f 6f 6b 69 65 3a 20 6d 73 74 73 3d 33 36 34 30"        // "Cookie: msts=3640"
    "32 30 35 32 32 38 2e 31 35 36 32 39 2e 30 30 30 30 0d 0a"  // "205228.15629.0000" CRLF
    "43 6f 6f 6b 69 65 3a 20 6d 73 74 73 68 61 73 68 3d"        // "Cookie: mstshash="
    "61 6c 69 63 65 0d 0a"                                      // "alice" CRLF
    "01 00 08 00 03 00 00 00");                                 // NEG_REQ SSL|HYBRID
constexpr std::size_t token_line = 36;  // "Cookie: msts=3640205228.15629.0000\r\n"

// The same request once the token line is gone: TPKT length 43, LI 38.
const Bytes tokenless_request = hex(
    "03 00 00 2b 26 e0 00 00 00 00 00"
    "43 6f 6f 6b 69 65 3a 20 6d 73 74 73 68 61 73 68 3d 61 6c 69 63 65 0d 0a"
    "01 00 08 00 03 00 00 00");

// The edit the gateway derives from a parsed flight (gateway/src/policy.cpp: token offsets
// within the flight, i.e. after the PCB).
FlightEdit edit_for(const FirstFlight& f, bool drop_preconnection, bool remove_token) {
  FlightEdit e;
  e.preconnection_size = f.preconnection_size;
  e.drop_preconnection = drop_preconnection && f.preconnection.has_value();
  if (remove_token && f.request && f.request->token_size != 0) {
    e.token_offset = f.preconnection_size + f.request->token_offset;
    e.token_size = f.request->token_size;
  }
  return e;
}

Complete<FirstFlight> parsed(const Bytes& flight) {
  return complete(parse_first_flight(flight, limits));
}

Bytes slice(std::span<const std::byte> b, std::size_t from, std::size_t to) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(to));
}

// Whatever the input, a result is either nullopt or a sound forward: the right size, the bytes
// it should hold, and with a token removed a CR that parses and has no routing token left.
void expect_sound(std::span<const std::byte> flight, std::size_t flight_size, const FlightEdit& e,
                  const std::optional<Bytes>& out) {
  if (!out) return;
  ASSERT_LE(flight_size, flight.size());
  ASSERT_LE(e.preconnection_size, flight_size);
  const std::size_t start = e.drop_preconnection ? e.preconnection_size : 0;
  ASSERT_EQ(out->size(), flight.size() - start - e.token_size);
  if (e.token_size == 0) {
    EXPECT_EQ(*out, slice(flight, start, flight.size()));
    return;
  }
  const std::size_t cr_at = e.preconnection_size - start;
  EXPECT_EQ(slice(*out, 0, cr_at), slice(flight, start, e.preconnection_size));
  const auto after = flight.size() - flight_size;
  EXPECT_EQ(slice(*out, out->size() - after, out->size()),
            slice(flight, flight_size, flight.size()));
  const auto cr = parse_connection_request(std::span<const std::byte>(*out).subspan(cr_at), limits);
  ASSERT_TRUE(is_complete(cr));
  const auto& c = std::get<Complete<ConnectionRequest>>(cr);
  EXPECT_EQ(c.consumed, flight_size - e.preconnection_size - e.token_size);
  EXPECT_EQ(c.pdu.token_kind, TokenKind::none);
  EXPECT_EQ(c.pdu.token_size, 0u);
}

std::optional<Bytes> forward(std::span<const std::byte> flight, std::size_t flight_size,
                             const FlightEdit& e) {
  auto out = forward_first_flight(flight, flight_size, e);
  expect_sound(flight, flight_size, e, out);
  return out;
}

TEST(ForwardFirstFlight, VerbatimWithoutEdit) {
  for (const auto& flight : {token_request, concat({pcb_v2, token_request}), client_hello()}) {
    const auto f = parsed(flight);
    const auto out = forward(flight, f.consumed, edit_for(f.pdu, false, false));
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, flight);
  }
  // Nothing accepted yet: nothing to edit, everything forwarded.
  EXPECT_EQ(forward(hex("03 00"), 0, {}), hex("03 00"));
  EXPECT_EQ(forward({}, 0, {}), Bytes{});
}

TEST(ForwardFirstFlight, RemovesTheTokenLineAndFixesLengthAndLi) {
  const auto f = parsed(token_request);
  ASSERT_TRUE(f.pdu.request);
  EXPECT_EQ(f.pdu.request->token_kind, TokenKind::msts);
  const auto e = edit_for(f.pdu, false, true);
  EXPECT_EQ(e.token_offset, 11u);
  EXPECT_EQ(e.token_size, token_line);
  const auto out = forward(token_request, f.consumed, e);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, tokenless_request);
  // It re-parses as a whole first flight: same cookie and negotiation, no token.
  const auto again = parsed(*out);
  ASSERT_TRUE(again.pdu.request);
  EXPECT_EQ(again.consumed, out->size());
  EXPECT_EQ(again.pdu.request->length, 43u);
  EXPECT_EQ(again.pdu.request->cookie, "alice");
  EXPECT_EQ(again.pdu.request->negotiation, f.pdu.request->negotiation);
  EXPECT_EQ(again.pdu.request->token_kind, TokenKind::none);
}

TEST(ForwardFirstFlight, PreconnectionKeptOrDropped) {
  const auto flight = concat({pcb_v2, token_request});
  const auto f = parsed(flight);
  ASSERT_EQ(f.pdu.preconnection_size, 30u);
  // Token offsets are within the flight, after the PCB.
  EXPECT_EQ(edit_for(f.pdu, false, true).token_offset, 30u + 11u);

  EXPECT_EQ(forward(flight, f.consumed, edit_for(f.pdu, true, false)), token_request);
  EXPECT_EQ(forward(flight, f.consumed, edit_for(f.pdu, true, true)), tokenless_request);
  const auto kept = forward(flight, f.consumed, edit_for(f.pdu, false, true));
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, concat({pcb_v2, tokenless_request}));
  const auto again = parsed(*kept);
  EXPECT_TRUE(again.pdu.preconnection);
  EXPECT_EQ(again.pdu.preconnection->blob, "vm-01");
  ASSERT_TRUE(again.pdu.request);
  EXPECT_EQ(again.pdu.request->token_kind, TokenKind::none);
  EXPECT_EQ(again.pdu.request->cookie, "alice");
}

TEST(ForwardFirstFlight, BytesAfterTheAcceptedPartFollowAsTheyAre) {
  // A Direct Approach ClientHello spanning records: the rest of the hello is forwarded too.
  const auto hello = client_hello({.extra_handshake_length = 10});
  const auto more = hex("16 03 03 00 0a 00 01 02 03 04 05 06 07 08 09");
  const auto flight = concat({pcb_v2, hello, more});
  const auto f = parsed(concat({pcb_v2, hello}));
  ASSERT_TRUE(f.pdu.tls);
  EXPECT_EQ(forward(flight, f.consumed, edit_for(f.pdu, true, false)), concat({hello, more}));
  EXPECT_EQ(forward(flight, f.consumed, edit_for(f.pdu, false, false)), flight);
  // Also after a CR whose token is removed.
  const auto tail = hex("aa bb cc");
  const auto cr_flight = concat({pcb_v2, token_request, tail});
  const auto g = parsed(concat({pcb_v2, token_request}));
  EXPECT_EQ(forward(cr_flight, g.consumed, edit_for(g.pdu, true, true)),
            concat({tokenless_request, tail}));
}

struct ClientVector {
  std::string file;
  bool has_token;
};

const ClientVector client_vectors[] = {
    {"xfreerdp-default.hex", false},
    {"xfreerdp-sec-rdp.hex", false},
    {"xfreerdp-load-balance-info.hex", true},
    {"xfreerdp-pcb.hex", false},
    {"xfreerdp-pcid.hex", false},
    {"xfreerdp-pcb-pcid.hex", false},
    {"nmap-rdp-enum-encryption-noneg.hex", false},
    {"nmap-rdp-ntlm-info.hex", false},
};

TEST(ForwardFirstFlight, CapturedVectors) {
  RDPGATE_REQUIRE_VECTORS();
  for (const auto& v : client_vectors) {
    SCOPED_TRACE(v.file);
    const auto bytes = vector_file(v.file);
    const auto f = parsed(bytes);
    ASSERT_TRUE(f.pdu.request);
    EXPECT_EQ(f.pdu.request->token_size != 0, v.has_token);
    for (const bool drop : {false, true}) {
      for (const bool remove : {false, true}) {
        SCOPED_TRACE(testing::Message() << "drop " << drop << " remove " << remove);
        const auto e = edit_for(f.pdu, drop, remove);
        const auto out = forward(bytes, f.consumed, e);
        ASSERT_TRUE(out);
        const std::size_t start = e.drop_preconnection ? f.pdu.preconnection_size : 0;
        if (e.token_size == 0) {
          EXPECT_EQ(*out, slice(bytes, start, bytes.size()));
          continue;
        }
        // xfreerdp /load-balance-info: the tsv:// line goes, the rest is as it was.
        const auto again = parsed(*out);
        ASSERT_TRUE(again.pdu.request);
        EXPECT_EQ(again.pdu.request->length, f.pdu.request->length - e.token_size);
        EXPECT_EQ(again.pdu.request->negotiation, f.pdu.request->negotiation);
        EXPECT_EQ(again.pdu.request->token_kind, TokenKind::none);
        EXPECT_EQ(std::to_integer<std::size_t>((*out)[4]), again.pdu.request->length - 5u);
      }
    }
  }
}

TEST(ForwardFirstFlight, LoadBalanceInfoExactBytes) {
  RDPGATE_REQUIRE_VECTORS();
  const auto bytes = vector_file("xfreerdp-load-balance-info.hex");
  const auto f = parsed(bytes);
  const auto out = forward(bytes, f.consumed, edit_for(f.pdu, false, true));
  // 65 bytes less "tsv://MS Terminal Services Plugin.1.Sessions\r\n" (46): a bare CR + NEG_REQ.
  EXPECT_EQ(out, hex("03 00 00 13 0e e0 00 00 00 00 00 01 00 08 00 01 00 00 00"));
}

TEST(ForwardFirstFlight, EveryTruncation) {
  const auto whole = concat({pcb_v2, token_request, hex("de ad")});
  const auto f = parsed(concat({pcb_v2, token_request}));
  int engaged = 0;
  for (const bool drop : {false, true}) {
    for (const bool remove : {false, true}) {
      const auto e = edit_for(f.pdu, drop, remove);
      for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
        // The flight as a reader may have it, in a buffer of exactly that size.
        const Bytes flight = slice(whole, 0, cut);
        for (const std::size_t flight_size : {cut, std::min(cut, f.consumed), f.consumed}) {
          SCOPED_TRACE(testing::Message() << "cut " << cut << " flight_size " << flight_size
                                          << " drop " << drop << " remove " << remove);
          const auto out = forward(flight, flight_size, e);
          engaged += out.has_value();
          // A token edit only fits the whole CR.
          if (e.token_size != 0 && out) {
            EXPECT_EQ(flight_size, f.consumed);
          }
        }
      }
      // Every shrunk or grown field of the edit, on the whole flight.
      for (std::size_t k = 0; k <= 4; ++k) {
        const auto less = [k](std::size_t v) { return v - std::min(k, v); };
        const FlightEdit variants[] = {
            {less(e.preconnection_size), e.drop_preconnection, e.token_offset, e.token_size},
            {e.preconnection_size + k, e.drop_preconnection, e.token_offset, e.token_size},
            {e.preconnection_size, e.drop_preconnection, less(e.token_offset), e.token_size},
            {e.preconnection_size, e.drop_preconnection, e.token_offset + k, e.token_size},
            {e.preconnection_size, e.drop_preconnection, e.token_offset, less(e.token_size)},
            {e.preconnection_size, e.drop_preconnection, e.token_offset, e.token_size + k},
        };
        for (const auto& changed : variants) {
          const auto out = forward(whole, f.consumed, changed);
          engaged += out.has_value();
          if (k != 0 && changed.token_size != 0 && out) {
            EXPECT_EQ(changed.token_offset, e.token_offset) << "a shifted token line fits";
            EXPECT_EQ(changed.token_size, e.token_size) << "a resized token line fits";
            EXPECT_EQ(changed.preconnection_size, e.preconnection_size);
          }
        }
      }
    }
  }
  EXPECT_GT(engaged, 0);
}

TEST(ForwardFirstFlight, NonsenseEditsAreRefused) {
  const auto flight = concat({pcb_v2, token_request});
  const auto f = parsed(flight);
  const auto good = edit_for(f.pdu, true, true);
  ASSERT_TRUE(forward(flight, f.consumed, good));
  constexpr auto huge = std::numeric_limits<std::size_t>::max();
  auto with = [&](auto change) {
    FlightEdit e = good;
    change(e);
    return forward(flight, f.consumed, e);
  };
  // Sizes out of range.
  EXPECT_FALSE(forward(flight, flight.size() + 1, good));
  EXPECT_FALSE(forward(flight, huge, good));
  EXPECT_FALSE(forward(flight, f.consumed, FlightEdit{flight.size() + 1, true, 0, 0}));
  EXPECT_FALSE(forward(flight, 10, FlightEdit{11, true, 0, 0}));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.preconnection_size = huge; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_offset = huge; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_size = huge; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_offset = huge - 10; e.token_size = 20; }));
  // The token inside the PCB, the TPKT header or the X.224 fixed part, or over the NEG_REQ.
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_offset = 0; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_offset = 30; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_offset = 30 + 4; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_offset = flight.size() - 8; e.token_size = 8; }));
  // The cookie line is not the routing token; nor is the token without its CRLF or with more.
  EXPECT_FALSE(with([&](FlightEdit& e) {
    e.token_offset = 30 + 11 + token_line;
    e.token_size = 24;
  }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_size = token_line - 2; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.token_size = token_line + 24; }));
  // The PCB size wrong: no CR where it says.
  EXPECT_FALSE(with([&](FlightEdit& e) { e.preconnection_size = 0; }));
  EXPECT_FALSE(with([&](FlightEdit& e) { e.preconnection_size = 29; }));
  // The accepted part is not PCB + CR.
  EXPECT_FALSE(forward(flight, f.consumed - 1, good));
  EXPECT_FALSE(forward(concat({flight, hex("00")}), f.consumed + 1, good));
  // TPKT length or LI inconsistent with the CR.
  auto bad_length = flight;
  bad_length[30 + 3] = std::byte{0x4e};
  EXPECT_FALSE(forward(bad_length, f.consumed, good));
  auto bad_li = flight;
  bad_li[30 + 4] = std::byte{0x4b};
  EXPECT_FALSE(forward(bad_li, f.consumed, good));
  auto bad_code = flight;
  bad_code[30 + 5] = std::byte{0xd0};
  EXPECT_FALSE(forward(bad_code, f.consumed, good));
  // A token edit on a TLS flight.
  const auto hello = client_hello();
  EXPECT_FALSE(forward(hello, hello.size(), FlightEdit{0, false, 11, 20}));
  // Without a token, a PCB-size-only edit is just a cut.
  EXPECT_EQ(forward(flight, f.consumed, FlightEdit{0, true, 999, 0}), flight);
}

}  // namespace
}  // namespace rdpgate::protocol::test
