// Sessions that pass: the relay (verbatim first flight and Confirm, echo, half-close, a large
// transfer both ways at once), Preconnection PDU handling, backend failover and failure, the
// backend's protocol choice, idle and maximum session time, kill through the admin service and
// reload while a session runs.

#include <chrono>
#include <thread>

#include "support.hpp"

namespace rdpgate::itest {
namespace {

class Relay : public ::testing::Test {
 protected:
  bool start(GatewayConfig c, const FakeBackend& b) {
    if (c.routes.empty()) c.routes = main_route({b.address()});
    return gw.start(c);
  }
  std::unique_ptr<Client> session(const std::string& user = "alice",
                                  const std::string& source = "127.0.0.1") {
    auto c = Client::connect(gw.port(), source);
    if (!c) return c;
    EXPECT_TRUE(c->send(cookie_request(user)));
    EXPECT_EQ(to_hex(c->recv_exact(hybrid_confirm.size())), to_hex(hybrid_confirm));
    return c;
  }
  // Sends `payload` and expects it back from the echoing backend.
  static void expect_echo(Client& c, const Bytes& payload) {
    ASSERT_TRUE(c.send(payload));
    EXPECT_EQ(c.recv_exact(payload.size()), payload);
  }
  Gateway gw;
};

Bytes payload(std::size_t n, std::uint64_t seed) {
  Bytes b(n);
  fill_stream(seed, 0, b.data(), n);
  return b;
}

TEST_F(Relay, AllowedSessionIsRelayedVerbatim) {
  FakeBackend backend;
  ASSERT_TRUE(start({}, backend));
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  const auto request = cookie_request("alice", 0x3);
  ASSERT_TRUE(c->send(request));
  // The backend's Confirm reaches the client unchanged ...
  EXPECT_EQ(to_hex(c->recv_exact(19)), to_hex(hybrid_confirm));
  // ... and the backend got the client's request byte for byte.
  ASSERT_TRUE(backend.wait_connections(1));
  EXPECT_EQ(to_hex(backend.first_flight(0)), to_hex(request));

  const auto data = payload(100000, 7);
  expect_echo(*c, data);
  EXPECT_EQ(backend.received(0), data);

  // While it runs the session is listed, with what the gateway learned about it.
  ASSERT_TRUE(eventually([&] { return gw.app().admin_service().list_sessions().size() == 1; }));
  const auto s = gw.app().admin_service().list_sessions().front();
  EXPECT_EQ(s.user, "alice");
  EXPECT_EQ(s.route, "main");
  EXPECT_EQ(s.backend, backend.address());
  EXPECT_EQ(gw.metric("rdpgate_sessions_active", {{"listener", "public"}}), 1);

  c->close();
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed) << json::serialize(*r);
  EXPECT_EQ(str(*r, "reason"), "client_closed");
  EXPECT_EQ(str(*r, "phase"), "relay");
  EXPECT_EQ(str(*r, "src"), "127.0.0.1");
  EXPECT_EQ(str(*r, "user"), "alice");
  EXPECT_EQ(str(*r, "route"), "main");
  EXPECT_EQ(str(*r, "backend"), backend.address());
  EXPECT_EQ(str(*r, "selected"), "hybrid");
  EXPECT_EQ(num(*r, "bytes_in"), static_cast<std::int64_t>(request.size() + data.size()));
  EXPECT_EQ(num(*r, "bytes_out"), static_cast<std::int64_t>(hybrid_confirm.size() + data.size()));
  EXPECT_EQ(gw.connections(std::string(relayed)), 1);
  EXPECT_EQ(gw.metric("rdpgate_relay_bytes_total", {{"direction", "client_to_server"}}),
            static_cast<double>(request.size() + data.size()));
  EXPECT_EQ(gw.metric("rdpgate_relay_bytes_total", {{"direction", "server_to_client"}}),
            static_cast<double>(hybrid_confirm.size() + data.size()));
  EXPECT_EQ(gw.metric("rdpgate_sessions_active", {{"listener", "public"}}), 0);
}

TEST_F(Relay, CapturedRealClientRequestsAreForwardedByteIdentical) {
  const char* files[] = {"xfreerdp-default.hex", "xfreerdp-u-someuser.hex", "nmap-rdp-ntlm-info.hex",
                         "nmap-rdp-enum-encryption-req-0x00000008.hex"};
  if (!vector_file(files[0])) GTEST_SKIP() << "captured vectors not found at " << RDPGATE_VECTORS_DIR;
  FakeBackend backend;
  ASSERT_TRUE(start({}, backend));
  std::size_t i = 0;
  for (const char* file : files) {
    auto bytes = vector_file(file);
    ASSERT_TRUE(bytes) << file;
    auto c = Client::connect(gw.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(*bytes));
    EXPECT_EQ(to_hex(c->recv_exact(19)), to_hex(hybrid_confirm)) << file;
    ASSERT_TRUE(backend.wait_connections(i + 1)) << file;
    EXPECT_EQ(to_hex(backend.first_flight(i)), to_hex(*bytes)) << file;
    c->close();
    auto r = gw.wait_record(c->local_port());
    ASSERT_TRUE(r);
    // The fake backend selects HYBRID; nmap's last request offered only HYBRID_EX, so that
    // Confirm selects nothing the client asked for, and no TLS stream is judged.
    EXPECT_EQ(str(*r, "outcome"), i == 3 ? std::string_view("completed") : relayed) << file;
    ++i;
  }
}

TEST_F(Relay, HalfCloseKeepsTheOtherDirectionOpen) {
  FakeBackend::Options o;
  o.trailer = ascii("server still talking");
  o.trailer_delay = 300ms;
  FakeBackend backend(o);
  ASSERT_TRUE(start({}, backend));
  auto c = session();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("last words"));
  c->shutdown_write();
  // The echo and the backend's data sent after it saw our FIN both arrive, then EOF.
  auto d = c->drain(5s);
  EXPECT_TRUE(d.closed);
  EXPECT_FALSE(d.reset);
  EXPECT_EQ(std::string(d.bytes.begin(), d.bytes.end()), "last wordsserver still talking");
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed);
  EXPECT_EQ(str(*r, "reason"), "client_closed");
}

TEST_F(Relay, PreconnectionPduIsConsumedByDefault) {
  FakeBackend backend;
  ASSERT_TRUE(start({}, backend));
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  const auto pcb = preconnection_pdu(123, "vm-01");
  const auto request = cookie_request("alice");
  ASSERT_TRUE(c->send(concat({pcb, request})));  // one write, as xfreerdp does
  EXPECT_EQ(to_hex(c->recv_exact(19)), to_hex(hybrid_confirm));
  ASSERT_TRUE(backend.wait_connections(1));
  EXPECT_EQ(to_hex(backend.first_flight(0)), to_hex(request));
  expect_echo(*c, ascii("after the pcb"));
  c->close();
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed);
  EXPECT_EQ(num(*r, "pcb_id"), 123);
  // The consumed PCB is not counted as relayed either.
  EXPECT_EQ(num(*r, "bytes_in"), static_cast<std::int64_t>(request.size() + 13));
}

TEST_F(Relay, PreconnectionPduIsForwardedWhenTheRouteSaysSo) {
  FakeBackend backend;
  GatewayConfig cfg;
  cfg.routes = main_route({backend.address()}, "forward_preconnection: true");
  cfg.inspection = "{timeout: 5s, require_protocols: [ssl, hybrid, hybrid_ex]}";
  ASSERT_TRUE(start(cfg, backend));
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  const auto flight = concat({preconnection_pdu(7, "vm-01"), cookie_request("alice")});
  ASSERT_TRUE(c->send(flight));
  EXPECT_EQ(to_hex(c->recv_exact(19)), to_hex(hybrid_confirm));
  ASSERT_TRUE(backend.wait_connections(1));
  EXPECT_EQ(to_hex(backend.first_flight(0)), to_hex(flight));
  c->close();
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed);

  // xfreerdp /pcb:SOMETOKEN /sec:tls, captured: PCB and request in one write, passed on whole.
  if (auto captured = vector_file("xfreerdp-pcb.hex")) {
    auto x = Client::send_flight(gw.port(), *captured);
    ASSERT_TRUE(backend.wait_connections(2));
    EXPECT_EQ(to_hex(backend.first_flight(1)), to_hex(*captured));
  }
}

TEST_F(Relay, LargeTransferBothWaysAtOnceArrivesIntact) {
  constexpr std::uint64_t size = 256ull << 20;  // 256 MiB each way
  FakeBackend::Options o;
  o.mode = FakeBackend::Mode::stream;
  o.stream_seed = 22;
  o.stream_bytes = size;
  FakeBackend backend(o);
  ASSERT_TRUE(start({}, backend));
  auto c = session();
  ASSERT_TRUE(c);
  const auto started = std::chrono::steady_clock::now();
  const auto mine = exchange_streams(c->fd(), 11, size);
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto theirs = backend.wait_stream(0, 30s);
  ASSERT_TRUE(theirs);
  EXPECT_TRUE(mine.ok);
  EXPECT_TRUE(theirs->ok);
  EXPECT_EQ(mine.sent_bytes, size);
  EXPECT_EQ(theirs->sent_bytes, size);
  // client -> server
  EXPECT_EQ(theirs->received_bytes, size);
  EXPECT_EQ(theirs->received_digest, mine.sent_digest);
  // server -> client
  EXPECT_EQ(mine.received_bytes, size);
  EXPECT_EQ(mine.received_digest, theirs->sent_digest);
  EXPECT_NE(mine.sent_digest, theirs->sent_digest);  // two different streams were compared
  EXPECT_LT(seconds, 60.0);
  std::printf("relayed 2 x %llu MiB in %.2f s (%.0f MiB/s each way)\n",
              static_cast<unsigned long long>(size >> 20), seconds,
              static_cast<double>(size >> 20) / seconds);
  c->close();
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed);
  EXPECT_EQ(num(*r, "bytes_in"), static_cast<std::int64_t>(size + cookie_request("alice").size()));
  EXPECT_EQ(num(*r, "bytes_out"), static_cast<std::int64_t>(size + hybrid_confirm.size()));
}

TEST_F(Relay, FailoverToTheNextBackend) {
  FakeBackend backend;
  const auto dead = "127.0.0.1:" + std::to_string(closed_port());
  GatewayConfig cfg;
  cfg.routes = main_route({dead, backend.address()}, "balance: first");
  ASSERT_TRUE(start(cfg, backend));
  auto c = session();
  ASSERT_TRUE(c);
  expect_echo(*c, ascii("via the second backend"));
  c->close();
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed);
  EXPECT_EQ(str(*r, "backend"), backend.address());
  EXPECT_EQ(gw.metric("rdpgate_backend_connect_failures_total", {{"backend", dead}}), 1);
  EXPECT_EQ(gw.metric("rdpgate_backend_connect_failures_total", {{"backend", backend.address()}}), 0);
}

TEST_F(Relay, AllBackendsDownIsBackendUnreachable) {
  FakeBackend unused;
  const auto dead1 = "127.0.0.1:" + std::to_string(closed_port());
  const auto dead2 = "127.0.0.1:" + std::to_string(closed_port());
  GatewayConfig cfg;
  cfg.routes = main_route({dead1, dead2});
  ASSERT_TRUE(start(cfg, unused));
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(cookie_request("alice")));
  auto d = c->drain(5s);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.bytes.empty()) << to_hex(d.bytes);
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), "backend_unreachable");
  EXPECT_EQ(str(*r, "reason"), "connect_failed");
  EXPECT_EQ(str(*r, "phase"), "routing");
  EXPECT_EQ(str(*r, "route"), "main");
  EXPECT_EQ(gw.connections("backend_unreachable"), 1);
  EXPECT_EQ(gw.metric("rdpgate_backend_connect_failures_total"), 2);
}

TEST_F(Relay, BackendSelectingTlsWhenNlaIsRequiredIsRefused) {
  FakeBackend::Options o;
  o.confirm = confirm_selecting(0x1);  // the backend picks SSL although HYBRID was offered
  FakeBackend backend(o);
  ASSERT_TRUE(start({}, backend));
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(cookie_request("alice", 0x3)));
  auto d = c->drain(5s);
  // The client never sees the server's Confirm: the gateway answers with the failure itself.
  EXPECT_EQ(to_hex(d.bytes), "03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 05 00 00 00");
  EXPECT_TRUE(d.closed);
  c->close();
  gw.expect_record(c->local_port(), {{"outcome", "protocol_not_allowed"},
                                     {"reason", "backend_selected_ssl"},
                                     {"selected", "ssl"}});
  EXPECT_EQ(gw.connections("protocol_not_allowed"), 1);
  EXPECT_EQ(backend.connections(), 1u);
}

TEST_F(Relay, IdleSessionIsClosed) {
  FakeBackend backend;
  GatewayConfig cfg;
  cfg.session = "{idle_timeout: 1s}";
  ASSERT_TRUE(start(cfg, backend));
  auto c = session();
  ASSERT_TRUE(c);
  expect_echo(*c, ascii("one"));
  const auto quiet_from = std::chrono::steady_clock::now();
  auto d = c->drain(5s);
  const auto quiet = std::chrono::steady_clock::now() - quiet_from;
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.bytes.empty());
  EXPECT_GE(quiet, 800ms);
  EXPECT_LT(quiet, 3s);
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), "idle_timeout");
  EXPECT_EQ(gw.connections("idle_timeout"), 1);
}

TEST_F(Relay, BusySessionEndsAtMaxDuration) {
  FakeBackend backend;
  GatewayConfig cfg;
  cfg.session = "{idle_timeout: 60s, max_duration: 1s}";
  ASSERT_TRUE(start(cfg, backend));
  auto c = session();
  ASSERT_TRUE(c);
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - started < 5s) {
    if (!c->send("ping")) break;  // traffic every 100 ms: never idle
    auto d = c->drain(100ms);
    closed = d.closed;
  }
  const auto lasted = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(closed);
  EXPECT_GE(lasted, 800ms);
  EXPECT_LT(lasted, 3s);
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), "max_duration");
  EXPECT_EQ(gw.connections("max_duration"), 1);
}

TEST_F(Relay, KilledSession) {
  FakeBackend backend;
  ASSERT_TRUE(start({}, backend));
  auto c = session("bob");
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return gw.app().admin_service().list_sessions().size() == 1; }));
  const auto id = gw.app().admin_service().list_sessions().front().id;
  EXPECT_FALSE(gw.app().admin_service().kill_session("0000000000000000"));
  EXPECT_TRUE(gw.app().admin_service().kill_session(id));
  auto d = c->drain(5s);
  EXPECT_TRUE(d.closed);
  auto r = gw.wait_record(c->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), "killed");
  EXPECT_EQ(str(*r, "conn"), id);
  EXPECT_EQ(gw.connections("killed"), 1);
  EXPECT_TRUE(eventually([&] { return gw.app().admin_service().list_sessions().empty(); }));
}

TEST_F(Relay, ReloadAppliesToNewConnectionsOnly) {
  FakeBackend backend;
  GatewayConfig cfg;
  ASSERT_TRUE(start(cfg, backend));
  auto old = session("alice", "127.0.0.8");
  ASSERT_TRUE(old);
  const auto port = gw.port();

  cfg.routes = main_route({backend.address()});
  cfg.sources = R"({deny: ["127.0.0.8/32"], per_source: {max_connections: 0, rate: "0/s"}})";
  auto next = gw.load(cfg);
  ASSERT_TRUE(next);
  EXPECT_EQ(gw.app().apply(std::move(*next)), std::nullopt);
  EXPECT_EQ(gw.metric("rdpgate_config_reloads_total", {{"result", "success"}}), 1);
  EXPECT_EQ(gw.port(), port);  // the listener was kept

  // A new connection from the now denied source is refused ...
  auto fresh = Client::connect(gw.port(), "127.0.0.8");
  ASSERT_TRUE(fresh);
  auto d = fresh->drain(5s);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.bytes.empty());
  auto refused = gw.wait_record(fresh->local_port());
  ASSERT_TRUE(refused);
  EXPECT_EQ(str(*refused, "outcome"), "denied_source");
  // ... while the established session keeps relaying.
  expect_echo(*old, ascii("still here after the reload"));
  old->close();
  auto r = gw.wait_record(old->local_port());
  ASSERT_TRUE(r);
  EXPECT_EQ(str(*r, "outcome"), relayed);
  EXPECT_EQ(backend.connections(), 1u);
}

}  // namespace
}  // namespace rdpgate::itest
