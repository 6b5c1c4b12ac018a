// Every refusal path of the real gateway on loopback: admission (deny and allow lists, rate
// limit, concurrency caps), inspection (not RDP, malformed, too slow) and policy (protocols,
// usernames). Each test checks what the client saw, the audit record and the counters, and that
// the backend never saw a connection.

#include <chrono>
#include <thread>

#include "support.hpp"

namespace rdpgate::itest {
namespace {

class Refusals : public ::testing::Test {
 protected:
  bool start(GatewayConfig c = {}) {
    if (c.routes.empty()) c.routes = main_route({backend.address()});
    return gw.start(c);
  }
  // An established session: Connection Request sent, the backend's Confirm received.
  std::unique_ptr<Client> session(const std::string& source = "127.0.0.1",
                                  const std::string& user = "alice") {
    auto c = Client::connect(gw.port(), source);
    if (!c) return c;
    EXPECT_TRUE(c->send(cookie_request(user)));
    EXPECT_EQ(to_hex(c->recv_exact(hybrid_confirm.size())), to_hex(hybrid_confirm));
    return c;
  }
  // The client got no byte and saw the connection end.
  static void expect_silent_close(Client& c) {
    auto d = c.drain(5s);
    EXPECT_TRUE(d.closed) << "the gateway kept the connection open";
    EXPECT_TRUE(d.bytes.empty()) << to_hex(d.bytes);
  }
  // The audit record of `c`, checked against the expected outcome, reason and phase.
  json::object expect_record(const Client& c, std::string_view outcome, std::string_view reason,
                             std::string_view phase) {
    auto r = gw.expect_record(
        c.local_port(),
        {{"outcome", outcome}, {"phase", phase}, {"listener", "public"}, {"backend", ""}});
    if (!reason.empty()) {
      EXPECT_EQ(str(r, "reason"), reason) << json::serialize(r);
    }
    return r;
  }

  FakeBackend backend;
  Gateway gw;
};

// ---- admission --------------------------------------------------------------------------------

TEST_F(Refusals, DenyListRefusesTheSourceBeforeReading) {
  GatewayConfig c;
  c.sources = R"({deny: ["127.0.0.2/32"], per_source: {max_connections: 0, rate: "0/s"}})";
  ASSERT_TRUE(start(c));
  auto denied = Client::connect(gw.port(), "127.0.0.2");
  ASSERT_TRUE(denied);
  expect_silent_close(*denied);
  auto r = expect_record(*denied, "denied_source", "deny_list", "admission");
  EXPECT_EQ(str(r, "src"), "127.0.0.2");
  EXPECT_EQ(num(r, "bytes_in"), 0);
  EXPECT_EQ(gw.connections("denied_source"), 1);
  EXPECT_EQ(gw.metric("rdpgate_refusals_total", {{"reason", "deny_list"}}), 1);
  // Another source still passes.
  auto ok = session("127.0.0.1");
  ASSERT_TRUE(ok);
  ok->close();
  gw.wait_record(ok->local_port());
  EXPECT_EQ(backend.connections(), 1u);
  EXPECT_EQ(gw.connections("denied_source"), 1);
}

// `defer_accept: true`: the kernel hands a connection over once its first bytes arrive, so a
// silent one from a denied source is refused only after the kernel's ~1 s hold (TCP_DEFER_ACCEPT,
// one SYN-ACK retransmission), one that speaks at once is refused at once, and a client is
// relayed as before. A reload turns it off on the listener it keeps.
TEST_F(Refusals, DeferAcceptHoldsASilentConnectionInTheKernelUntilItSpeaks) {
  GatewayConfig c;
  c.listeners = "\n  - {name: public, address: \"127.0.0.1:0\", route: main, defer_accept: true}\n";
  c.sources = R"({deny: ["127.0.0.2/32"], per_source: {max_connections: 0, rate: "0/s"}})";
  ASSERT_TRUE(start(c));
  const auto refused_after = [&] {
    auto silent = Client::connect(gw.port(), "127.0.0.2");
    EXPECT_TRUE(silent);
    if (!silent) return std::chrono::steady_clock::duration::max();
    const auto connected = std::chrono::steady_clock::now();
    expect_silent_close(*silent);
    const auto took = std::chrono::steady_clock::now() - connected;
    expect_record(*silent, "denied_source", "deny_list", "admission");
    return took;
  };
  EXPECT_GE(refused_after(), 800ms) << "refused before the kernel's hold: not deferred";

  auto speaking = Client::connect(gw.port(), "127.0.0.2");
  ASSERT_TRUE(speaking);
  EXPECT_TRUE(speaking->send(cookie_request("alice")));
  expect_silent_close(*speaking);
  expect_record(*speaking, "denied_source", "deny_list", "admission");

  auto ok = session("127.0.0.1");
  ASSERT_TRUE(ok);
  ok->close();
  gw.wait_record(ok->local_port());
  EXPECT_EQ(backend.connections(), 1u);

  const auto port = gw.port();
  c.listeners = GatewayConfig{}.listeners;
  c.routes = main_route({backend.address()});
  auto next = gw.load(c);
  ASSERT_TRUE(next);
  ASSERT_EQ(gw.app().apply(std::move(*next)), std::nullopt);
  ASSERT_EQ(gw.port(), port);  // the same listening socket
  // Without the hold a refusal takes milliseconds; the fastest of three rules out a slow run.
  auto fastest = refused_after();
  for (int i = 0; i < 2; ++i) fastest = std::min(fastest, refused_after());
  EXPECT_LT(fastest, 800ms) << "still deferred after the reload turned it off";
  EXPECT_EQ(gw.connections("denied_source"), 5);
}

TEST_F(Refusals, AllowListWithoutTheSourceRefusesIt) {
  GatewayConfig c;
  c.sources = R"({allow: ["127.0.0.1/32"], per_source: {max_connections: 0, rate: "0/s"}})";
  ASSERT_TRUE(start(c));
  auto outsider = Client::connect(gw.port(), "127.0.0.2");
  ASSERT_TRUE(outsider);
  expect_silent_close(*outsider);
  expect_record(*outsider, "denied_source", "allow_list", "admission");
  EXPECT_EQ(backend.connections(), 0u);
  auto insider = session("127.0.0.1");
  ASSERT_TRUE(insider);
  EXPECT_TRUE(backend.wait_connections(1));
}

TEST_F(Refusals, RateLimitAllowsTheBurstThenRefuses) {
  GatewayConfig c;
  c.sources = R"({per_source: {max_connections: 0, rate: "1/min", burst: 3}})";
  ASSERT_TRUE(start(c));
  std::vector<std::unique_ptr<Client>> burst;
  for (int i = 0; i < 3; ++i) {
    burst.push_back(session("127.0.0.3"));
    ASSERT_TRUE(burst.back());
  }
  auto limited = Client::connect(gw.port(), "127.0.0.3");
  ASSERT_TRUE(limited);
  expect_silent_close(*limited);
  expect_record(*limited, "rate_limited", "rate_limited", "admission");
  EXPECT_EQ(gw.connections("rate_limited"), 1);
  EXPECT_EQ(backend.connections(), 3u);  // the refused one never reached it
  // The bucket is per source.
  auto other = session("127.0.0.4");
  ASSERT_TRUE(other);
  EXPECT_TRUE(backend.wait_connections(4));
}

TEST_F(Refusals, GlobalConcurrencyCap) {
  GatewayConfig c;
  c.sources = R"({max_connections: 2, per_source: {max_connections: 0, rate: "0/s"}})";
  ASSERT_TRUE(start(c));
  auto first = session("127.0.0.1");
  auto second = session("127.0.0.2");
  ASSERT_TRUE(first && second);
  auto third = Client::connect(gw.port(), "127.0.0.5");
  ASSERT_TRUE(third);
  expect_silent_close(*third);
  expect_record(*third, "too_many_connections", "global_limit", "admission");
  EXPECT_EQ(backend.connections(), 2u);
  // A finished session frees its slot.
  first->close();
  gw.wait_record(first->local_port());
  auto fourth = session("127.0.0.5");
  ASSERT_TRUE(fourth);
  EXPECT_TRUE(backend.wait_connections(3));
  EXPECT_EQ(gw.connections("too_many_connections"), 1);
}

TEST_F(Refusals, PerSourceConcurrencyCap) {
  GatewayConfig c;
  c.sources = R"({per_source: {max_connections: 1, rate: "0/s"}})";
  ASSERT_TRUE(start(c));
  auto held = session("127.0.0.6");
  ASSERT_TRUE(held);
  auto again = Client::connect(gw.port(), "127.0.0.6");
  ASSERT_TRUE(again);
  expect_silent_close(*again);
  expect_record(*again, "too_many_connections", "per_source_limit", "admission");
  auto other = session("127.0.0.7");
  ASSERT_TRUE(other);
  EXPECT_EQ(backend.connections(), 2u);
}

TEST_F(Refusals, FloodOfRefusalsIsCountedInFullButLoggedAtALimitedRate) {
  GatewayConfig c;
  c.sources = R"({deny: ["127.0.0.9/32"], per_source: {max_connections: 0, rate: "0/s"}})";
  ASSERT_TRUE(start(c));
  constexpr int flood = 80;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < flood; ++i) {
    auto k = Client::connect(gw.port(), "127.0.0.9");
    ASSERT_TRUE(k);
  }
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(eventually([&] { return gw.connections("denied_source") == flood; }));
  // Every refusal is counted; at most 20 lines a second (plus a second's refill) are written.
  std::size_t logged = 0;
  for (const auto& r : gw.records()) logged += str(r, "outcome") == "denied_source" ? 1 : 0;
  const auto seconds = std::chrono::duration<double>(took).count();
  EXPECT_GE(logged, 20u);
  EXPECT_LE(static_cast<double>(logged), 20.0 + 20.0 * seconds + 1.0);
  EXPECT_LT(logged, static_cast<std::size_t>(flood)) << "the flood took " << seconds << " s";
  EXPECT_EQ(gw.metric("rdpgate_log_suppressed_total"),
            static_cast<double>(flood - static_cast<int>(logged)));
  // The suppressed lines are summarised once the window (10 s) has passed.
  std::string summary;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& l : gw.lines()) {
          if (l.find("\"event\":\"refusals_suppressed\"") != std::string::npos) summary = l;
        }
        return !summary.empty();
      },
      15s));
  EXPECT_NE(summary.find("\"suppressed\":" + std::to_string(flood - static_cast<int>(logged))),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("denied_source"), std::string::npos) << summary;
  EXPECT_EQ(backend.connections(), 0u);
}

// ---- inspection -------------------------------------------------------------------------------

// First flights refused at inspection: `outcome` not_rdp or malformed.
struct InspectionCase {
  const char* name;
  Bytes bytes;
  const char* outcome;
  const char* reason;
};

class Inspection : public Refusals, public ::testing::WithParamInterface<InspectionCase> {};

TEST_P(Inspection, IsRefusedWithoutReachingTheBackend) {
  ASSERT_TRUE(start());
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(GetParam().bytes));
  expect_silent_close(*c);
  expect_record(*c, GetParam().outcome, GetParam().reason, "inspection");
  EXPECT_EQ(gw.connections(GetParam().outcome), 1);
  EXPECT_EQ(backend.connections(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    FirstBytes, Inspection,
    ::testing::Values(
        InspectionCase{"http", ascii("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), "not_rdp",
                       "not_rdp_http"},
        InspectionCase{"ssh", ascii("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), "not_rdp",
                       "not_rdp_ssh"},
        // A TLS ClientHello record header and the start of the handshake (Direct Approach off).
        InspectionCase{"tls",
                       hex("16 03 01 00 c8 01 00 00 c4 03 03 5b 1e 22 9a 00 11 22 33 44 55 66 77"),
                       "not_rdp", "not_rdp_tls"},
        InspectionCase{"random",
                       hex("a7 5c 19 ee 42 9d 13 88 f0 0b 6e 3a c5 27 d1 90"
                           "4e 81 b2 7f 35 cc 08 e9 6d 14 ab 52 f7 c3 98 61"),
                       "not_rdp", "not_rdp"}),
    [](const auto& info) { return std::string(info.param.name); });

Bytes with_byte(Bytes b, std::size_t at, std::uint8_t v) {
  b.at(at) = v;
  return b;
}

INSTANTIATE_TEST_SUITE_P(
    Requests, Inspection,
    ::testing::Values(
        // TPKT reserved octet 1 instead of 0.
        InspectionCase{"bad_tpkt", with_byte(cookie_request("alice"), 1, 0x01), "malformed",
                       "bad_tpkt_reserved"},
        // X.224 LI one less than TPKT length - 5.
        InspectionCase{"li_mismatch",
                       with_byte(cookie_request("alice"), 4,
                                 static_cast<std::uint8_t>(cookie_request("alice")[4] - 1)),
                       "malformed", "bad_x224_length_indicator"},
        // The cookie line is not terminated by CR LF: RDP_NEG_REQ follows it directly.
        InspectionCase{"cookie_without_crlf",
                       connection_request("Cookie: mstshash=alice", 0x3, false), "malformed",
                       "token_missing_crlf"},
        // A cookie running to the end of the request: its CR LF would lie beyond it.
        InspectionCase{"cookie_cut_short",
                       connection_request("Cookie: mstshash=alice", std::nullopt, false),
                       "malformed", "token_too_long"},
        // Bytes after the request before the server answered: an X.224 Data TPDU pipelined.
        InspectionCase{"pipelined",
                       concat({cookie_request("alice"), hex("03 00 00 08 02 f0 80 7f")}),
                       "malformed", "trailing_data"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(Refusals, SlowClientHitsTheInspectionDeadline) {
  GatewayConfig c;
  c.inspection = "{timeout: 1s}";
  ASSERT_TRUE(start(c));
  auto client = Client::connect(gw.port());
  ASSERT_TRUE(client);
  // One byte every 200 ms: the whole request would take 8 s.
  const auto request = cookie_request("alice");
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    if (!client->send(Bytes{request[i]})) break;
    auto d = client->drain(200ms);
    EXPECT_TRUE(d.bytes.empty());
    closed = d.closed;
    if (std::chrono::steady_clock::now() - started > 4s) break;
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(closed) << "the gateway did not close a client that trickled bytes";
  EXPECT_LT(elapsed, 3s);
  auto r = expect_record(*client, "inspect_timeout", "inspect_timeout", "inspection");
  EXPECT_GE(num(r, "duration_ms"), 900);
  EXPECT_LT(num(r, "duration_ms"), 2500);
  EXPECT_EQ(gw.connections("inspect_timeout"), 1);
  EXPECT_EQ(backend.connections(), 0u);
}

TEST_F(Refusals, SilentClientHitsTheInspectionDeadline) {
  GatewayConfig c;
  c.inspection = "{timeout: 1s}";
  ASSERT_TRUE(start(c));
  auto client = Client::connect(gw.port());
  ASSERT_TRUE(client);
  const auto started = std::chrono::steady_clock::now();
  expect_silent_close(*client);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  auto r = expect_record(*client, "inspect_timeout", "inspect_timeout", "inspection");
  EXPECT_GE(num(r, "duration_ms"), 900);
  EXPECT_EQ(backend.connections(), 0u);
}

// ---- policy on what the client asked for -----------------------------------------------------

// RDP_NEG_FAILURE answers ([MS-RDPBCGR] 2.2.1.2.2): 19 bytes, code at offset 15.
const Bytes hybrid_required = hex("03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 05 00 00 00");
const Bytes ssl_required = hex("03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 01 00 00 00");
const Bytes disconnect_request = hex("03 00 00 0b 06 80 00 00 00 00 00");

TEST_F(Refusals, TlsOnlyRequestGetsHybridRequiredByServer) {
  ASSERT_TRUE(start());  // default: require_protocols [hybrid, hybrid_ex]
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(cookie_request("alice", 0x1)));  // /sec:tls
  auto d = c->drain(5s);
  EXPECT_EQ(to_hex(d.bytes), to_hex(hybrid_required));
  EXPECT_TRUE(d.closed);
  c->close();
  auto r = expect_record(*c, "protocol_not_allowed", "protocol_not_offered", "policy");
  EXPECT_EQ(str(r, "user"), "alice");
  EXPECT_EQ(str(r, "requested"), "ssl");
  EXPECT_EQ(gw.connections("protocol_not_allowed"), 1);
  EXPECT_EQ(backend.connections(), 0u);
}

TEST_F(Refusals, CapturedXfreerdpSecTlsGetsHybridRequiredByServer) {
  auto captured = vector_file("xfreerdp-sec-tls.hex");
  if (!captured) GTEST_SKIP() << "captured vectors not found at " << RDPGATE_VECTORS_DIR;
  ASSERT_TRUE(start());
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(*captured));
  auto d = c->drain(5s);
  EXPECT_EQ(to_hex(d.bytes), to_hex(hybrid_required));
  c->close();
  expect_record(*c, "protocol_not_allowed", "protocol_not_offered", "policy");
  EXPECT_EQ(backend.connections(), 0u);
}

TEST_F(Refusals, StandardSecurityRequestGetsSslRequiredWhenOnlySslIsRequired) {
  GatewayConfig c;
  c.inspection = "{timeout: 5s, require_protocols: [ssl]}";
  ASSERT_TRUE(start(c));
  auto client = Client::connect(gw.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(cookie_request("alice", 0x0)));
  auto d = client->drain(5s);
  EXPECT_EQ(to_hex(d.bytes), to_hex(ssl_required));
  EXPECT_TRUE(d.closed);
  client->close();
  expect_record(*client, "protocol_not_allowed", "protocol_not_offered", "policy");
  EXPECT_EQ(backend.connections(), 0u);
}

TEST_F(Refusals, LegacyRequestWithoutNegotiationGetsADisconnectRequest) {
  ASSERT_TRUE(start());
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(connection_request("Cookie: mstshash=alice", std::nullopt)));
  auto d = c->drain(5s);
  EXPECT_EQ(to_hex(d.bytes), to_hex(disconnect_request));
  EXPECT_TRUE(d.closed);
  c->close();
  auto r = expect_record(*c, "protocol_not_allowed", "no_negotiation", "policy");
  EXPECT_EQ(str(r, "requested"), "none");
  EXPECT_EQ(backend.connections(), 0u);
}

TEST_F(Refusals, DeniedUsernameGlob) {
  GatewayConfig c;
  c.inspection = R"({timeout: 5s, usernames: {deny: ["admin*", "guest"]}})";
  ASSERT_TRUE(start(c));
  auto denied = Client::connect(gw.port());
  ASSERT_TRUE(denied);
  ASSERT_TRUE(denied->send(cookie_request("Administrator")));
  expect_silent_close(*denied);
  auto r = expect_record(*denied, "username_denied", "deny", "policy");
  EXPECT_EQ(str(r, "user"), "Administrator");
  EXPECT_EQ(gw.connections("username_denied"), 1);
  EXPECT_EQ(backend.connections(), 0u);
  auto allowed = session("127.0.0.1", "alice");
  ASSERT_TRUE(allowed);
  EXPECT_TRUE(backend.wait_connections(1));
}

}  // namespace
}  // namespace rdpgate::itest
