// Route choice end to end: by username glob, by routing token, the listener's default route,
// `no_route`; and the Prometheus endpoint as a scraper sees it.

#include "support.hpp"

namespace rdpgate::itest {
namespace {

class Routing : public ::testing::Test {
 protected:
  Gateway gw;
};

TEST_F(Routing, UsernameGlobAndRoutingTokenPickDifferentBackends) {
  FakeBackend general, services, farm;
  GatewayConfig cfg;
  cfg.routes = "\n  - {name: services, match: {username: \"svc-*\"}, backends: [\"" +
               services.address() + "\"]}\n" +
               "  - {name: farm, match: {routing_token: \"tsv://*\"}, backends: [\"" +
               farm.address() + "\"]}\n" + "  - {name: main, backends: [\"" + general.address() +
               "\"]}\n";
  ASSERT_TRUE(gw.start(cfg));

  struct Case {
    Bytes request;
    const FakeBackend* backend;
    const char* route;
  };
  const std::vector<Case> cases = {
      {cookie_request("svc-backup"), &services, "services"},
      {cookie_request("SVC-web"), &services, "services"},
      {connection_request("tsv://MS Terminal Services Plugin.1.Sessions", 0x3), &farm, "farm"},
      {cookie_request("alice"), &general, "main"},
      {connection_request("", 0x3), &general, "main"},  // no cookie at all
  };
  for (const auto& k : cases) {
    const auto before = k.backend->connections();
    auto c = Client::connect(gw.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(k.request));
    EXPECT_EQ(to_hex(c->recv_exact(19)), to_hex(hybrid_confirm)) << k.route;
    ASSERT_TRUE(k.backend->wait_connections(before + 1)) << k.route;
    EXPECT_EQ(to_hex(k.backend->first_flight(before)), to_hex(k.request)) << k.route;
    c->close();
    auto r = gw.wait_record(c->local_port());
    ASSERT_TRUE(r);
    EXPECT_EQ(str(*r, "route"), k.route);
    EXPECT_EQ(str(*r, "backend"), k.backend->address());
    EXPECT_EQ(str(*r, "outcome"), relayed);
  }
  EXPECT_EQ(services.connections(), 2u);
  EXPECT_EQ(farm.connections(), 1u);
  EXPECT_EQ(general.connections(), 2u);
}

TEST_F(Routing, CapturedLoadBalanceInfoFollowsTheRoutingTokenRoute) {
  auto captured = vector_file("xfreerdp-load-balance-info.hex");
  if (!captured) GTEST_SKIP() << "captured vectors not found at " << RDPGATE_VECTORS_DIR;
  FakeBackend general, farm;
  GatewayConfig cfg;
  cfg.inspection = "{timeout: 5s, require_protocols: []}";  // the capture is /sec:tls
  cfg.routes = "\n  - {name: farm, match: {routing_token: \"tsv://MS Terminal Services *\"}, "
               "backends: [\"" + farm.address() + "\"]}\n" +
               "  - {name: main, backends: [\"" + general.address() + "\"]}\n";
  ASSERT_TRUE(gw.start(cfg));
  auto c = Client::send_flight(gw.port(), *captured);
  ASSERT_TRUE(farm.wait_connections(1));
  EXPECT_EQ(to_hex(farm.first_flight(0)), to_hex(*captured));
  EXPECT_EQ(general.connections(), 0u);
}

TEST_F(Routing, NoMatchingRouteAndNoListenerRouteIsNoRoute) {
  FakeBackend services;
  GatewayConfig cfg;
  cfg.listeners = "\n  - {name: public, address: \"127.0.0.1:0\"}\n";
  cfg.routes = "\n  - {name: services, match: {username: \"svc-*\"}, backends: [\"" +
               services.address() + "\"]}\n";
  ASSERT_TRUE(gw.start(cfg));
  auto c = Client::connect(gw.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(cookie_request("alice")));
  auto d = c->drain(5s);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.bytes.empty()) << to_hex(d.bytes);
  gw.expect_record(c->local_port(),
                   {{"outcome", "no_route"}, {"phase", "routing"}, {"user", "alice"}});
  EXPECT_EQ(gw.connections("no_route"), 1);
  EXPECT_EQ(services.connections(), 0u);
}

TEST_F(Routing, MetricsEndpointCountsOutcomesByListener) {
  FakeBackend backend;
  GatewayConfig cfg;
  cfg.routes = main_route({backend.address()});
  cfg.metrics = true;
  ASSERT_TRUE(gw.start(cfg));
  auto ok = Client::connect(gw.port());
  ASSERT_TRUE(ok);
  ASSERT_TRUE(ok->send(cookie_request("alice")));
  EXPECT_EQ(ok->recv_exact(19).size(), 19u);
  ok->close();
  ASSERT_TRUE(gw.wait_record(ok->local_port()));
  auto bad = Client::connect(gw.port());
  ASSERT_TRUE(bad);
  ASSERT_TRUE(bad->send("GET / HTTP/1.0\r\n\r\n"));
  bad->drain(5s);
  ASSERT_TRUE(gw.wait_record(bad->local_port()));

  const auto text = gw.scrape();
  ASSERT_NE(text.find("200 OK"), std::string::npos) << text.substr(0, 200);
  auto sample = [&](const std::string& outcome) -> std::string {
    std::size_t at = 0;
    while ((at = text.find("\nrdpgate_connections_total{", at)) != std::string::npos) {
      const auto end = text.find('\n', at + 1);
      const auto line = text.substr(at + 1, end - at - 1);
      at = end;
      if (line.find("listener=\"public\"") != std::string::npos &&
          line.find("outcome=\"" + outcome + "\"") != std::string::npos) {
        return line.substr(line.rfind(' ') + 1);
      }
    }
    return "<absent>";
  };
  EXPECT_EQ(sample(std::string(relayed)), "1");
  EXPECT_EQ(sample("not_rdp"), "1");
  EXPECT_EQ(sample("malformed"), "0");
  // Labels never carry traffic: no client address or username anywhere in the exposition.
  EXPECT_EQ(text.find("alice"), std::string::npos);
  EXPECT_EQ(text.find("127.0.0.1\""), std::string::npos);
}

}  // namespace
}  // namespace rdpgate::itest
