// Backend choice within a route (RoutePool) and route choice (Policy::choose_route, SPEC §8).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "rdpgate/config/load.hpp"
#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/services.hpp"
#include "test_support.hpp"

namespace rdpgate::gateway {
namespace {

using config::Balance;

std::shared_ptr<BackendState> backend(const std::string& text, std::uint32_t active = 0,
                                      bool up = true) {
  auto b = std::make_shared<BackendState>();
  b->endpoint.text = text;
  b->active = active;
  b->up = up;
  return b;
}

std::vector<std::string> names(const std::vector<std::shared_ptr<BackendState>>& v) {
  std::vector<std::string> out;
  for (const auto& b : v) out.push_back(b->endpoint.text);
  return out;
}

using Names = std::vector<std::string>;

TEST(RoutePool, FirstKeepsFileOrderAndSkipsDownBackends) {
  RoutePool pool("r", {backend("a:1", 5), backend("b:1", 0, false), backend("c:1", 1)});
  EXPECT_EQ(names(pool.candidates(Balance::first, "")), (Names{"a:1", "c:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::first, "")), (Names{"a:1", "c:1"}));
}

TEST(RoutePool, RoundRobinRotatesThroughUpBackends) {
  RoutePool pool("r", {backend("a:1"), backend("b:1"), backend("c:1")});
  EXPECT_EQ(names(pool.candidates(Balance::round_robin, "")), (Names{"a:1", "b:1", "c:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::round_robin, "")), (Names{"b:1", "c:1", "a:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::round_robin, "")), (Names{"c:1", "a:1", "b:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::round_robin, "")), (Names{"a:1", "b:1", "c:1"}));
}

TEST(RoutePool, LeastConnectionsPrefersTheIdlestWithTiesInFileOrder) {
  auto a = backend("a:1", 3);
  auto b = backend("b:1", 1);
  auto c = backend("c:1", 1);
  RoutePool pool("r", {a, b, c});
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "")), (Names{"b:1", "c:1", "a:1"}));
  b->active = 4;
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "")), (Names{"c:1", "a:1", "b:1"}));
  a->active = 0;
  b->active = 0;
  c->active = 0;
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "")), (Names{"a:1", "b:1", "c:1"}));
}

TEST(RoutePool, AffinitySendsAUserBackToItsPreviousBackend) {
  auto a = backend("a:1", 0);
  auto b = backend("b:1", 7);
  RoutePool pool("r", {a, b});
  pool.remember("Alice", "b:1");
  // The busier backend first for alice (any case), the others after it as failover.
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "alice")), (Names{"b:1", "a:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "ALICE")), (Names{"b:1", "a:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "bob")), (Names{"a:1", "b:1"}));
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "")), (Names{"a:1", "b:1"}));
  EXPECT_EQ(pool.candidates(Balance::round_robin, "alice").front()->endpoint.text, "b:1");
  EXPECT_EQ(pool.candidates(Balance::round_robin, "alice").front()->endpoint.text, "b:1");
  // `first` is a strict priority order: no affinity.
  EXPECT_EQ(names(pool.candidates(Balance::first, "alice")), (Names{"a:1", "b:1"}));
}

TEST(RoutePool, AffinityToADownBackendIsIgnored) {
  auto a = backend("a:1");
  auto b = backend("b:1");
  RoutePool pool("r", {a, b});
  pool.remember("alice", "b:1");
  b->up = false;
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "alice")), (Names{"a:1"}));
  b->up = true;
  EXPECT_EQ(names(pool.candidates(Balance::least_connections, "alice")), (Names{"b:1", "a:1"}));
}

TEST(RoutePool, AllBackendsDownLeavesNoCandidate) {
  RoutePool pool("r", {backend("a:1", 0, false), backend("b:1", 0, false)});
  for (auto balance : {Balance::first, Balance::round_robin, Balance::least_connections}) {
    EXPECT_TRUE(pool.candidates(balance, "alice").empty());
  }
}

TEST(BackendPools, ReloadKeepsTheStateOfBackendsThatRemain) {
  Metrics metrics;
  BackendPools pools(metrics);
  config::RouteConfig r;
  r.name = "main";
  r.backends = {{"10.0.0.1:3389", "10.0.0.1", 3389}, {"10.0.0.2:3389", "10.0.0.2", 3389}};
  pools.update({r});
  auto before = pools.get("main");
  ASSERT_TRUE(before);
  before->backends()[1]->active = 3;
  before->backends()[1]->set_up(false);
  r.backends = {{"10.0.0.2:3389", "10.0.0.2", 3389}, {"10.0.0.3:3389", "10.0.0.3", 3389}};
  pools.update({r});
  auto after = pools.get("main");
  ASSERT_EQ(after->backends().size(), 2u);
  EXPECT_EQ(after->backends()[0], before->backends()[1]);  // same state object
  EXPECT_EQ(after->backends()[0]->active.load(), 3u);
  EXPECT_FALSE(after->backends()[0]->up.load());
  EXPECT_TRUE(after->backends()[1]->up.load());
  EXPECT_EQ(pools.get("gone"), nullptr);
}

// ---- route choice ---------------------------------------------------------------------------

constexpr const char* routing_yaml = R"(
allow_root: true
listeners:
  - {name: public, address: "127.0.0.1:0", route: fallback}
  - {name: internal, address: "127.0.0.1:0"}
routes:
  - name: services
    match: {username: "svc-*"}
    backends: ["10.0.0.1:3389"]
  - name: farm
    match: {routing_token: "tsv://MS Terminal Services Plugin.1.*"}
    backends: ["10.0.0.2:3389"]
  - name: internal_admins
    match: {listener: internal, username: "adm-*"}
    backends: ["10.0.0.3:3389"]
  - name: also_services
    match: {username: "svc-backup"}
    backends: ["10.0.0.4:3389"]
  - name: fallback
    backends: ["10.0.0.5:3389"]
metrics: {address: ""}
admin: {address: ""}
)";

class ChooseRoute : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = config::load_config_string(routing_yaml, "routing.yaml");
    if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
      for (const auto& e : *errors) ADD_FAILURE() << e.to_string();
      GTEST_SKIP();
    }
    policy = Policy::build(std::get<config::Config>(std::move(loaded)), services);
  }
  std::string choose(std::size_t listener, const Request& r, const std::string* token = nullptr) {
    auto p = test::peer("198.51.100.1", listener);
    auto i = policy->choose_route(p, r, token);
    return i ? policy->routes()[*i].cfg.name : std::string("<none>");
  }
  static Request with_token(std::string token) {
    Request r = test::request("", 0x3);
    r.token_kind = protocol::TokenKind::other;
    r.routing_token = std::move(token);
    return r;
  }
  Metrics metrics;
  Services services{metrics};
  std::shared_ptr<const Policy> policy;
};

TEST_F(ChooseRoute, UsernameGlobPicksTheFirstMatchingRouteInFileOrder) {
  EXPECT_EQ(choose(0, test::request("svc-web", 0x3)), "services");
  EXPECT_EQ(choose(0, test::request("SVC-WEB", 0x3)), "services");  // case-insensitive
  // "svc-backup" matches both `services` and `also_services`: the earlier one wins.
  EXPECT_EQ(choose(0, test::request("svc-backup", 0x3)), "services");
}

TEST_F(ChooseRoute, RoutingTokenGlobIsCaseSensitive) {
  EXPECT_EQ(choose(0, with_token("tsv://MS Terminal Services Plugin.1.Sessions")), "farm");
  EXPECT_EQ(choose(0, with_token("TSV://MS Terminal Services Plugin.1.Sessions")), "fallback");
  EXPECT_EQ(choose(0, with_token("Cookie: msts=3640205228.15629.0000")), "fallback");
}

TEST_F(ChooseRoute, AllMatchConditionsMustHold) {
  EXPECT_EQ(choose(1, test::request("adm-joe", 0x3)), "internal_admins");
  // Right name, wrong listener.
  EXPECT_EQ(choose(0, test::request("adm-joe", 0x3)), "fallback");
}

TEST_F(ChooseRoute, ListenerRouteIsTheFallbackElseNoRoute) {
  EXPECT_EQ(choose(0, test::request("alice", 0x3)), "fallback");
  EXPECT_EQ(choose(0, test::request("", 0x3)), "fallback");
  EXPECT_EQ(choose(1, test::request("alice", 0x3)), "<none>");
}

TEST_F(ChooseRoute, ATokenRouteClaimWins) {
  const std::string farm = "farm";
  const std::string unknown = "nope";
  EXPECT_EQ(choose(0, test::request("svc-web", 0x3), &farm), "farm");
  EXPECT_EQ(choose(0, test::request("svc-web", 0x3), &unknown), "<none>");
}

TEST_F(ChooseRoute, CookieAbsentMatchesOnlyACatchAllUsername) {
  constexpr const char* yaml = R"(
allow_root: true
listeners:
  - {name: public, address: "127.0.0.1:0"}
routes:
  - {name: named, match: {username: "a*"}, backends: ["10.0.0.1:3389"]}
  - {name: anyone, match: {username: "*"}, backends: ["10.0.0.2:3389"]}
metrics: {address: ""}
admin: {address: ""}
)";
  auto loaded = config::load_config_string(yaml, "t.yaml");
  ASSERT_TRUE(std::holds_alternative<config::Config>(loaded));
  Metrics m;
  Services s(m);
  auto p = Policy::build(std::get<config::Config>(std::move(loaded)), s);
  auto pick = [&](const Request& r) {
    auto i = p->choose_route(test::peer("198.51.100.1"), r, nullptr);
    return i ? p->routes()[*i].cfg.name : std::string("<none>");
  };
  EXPECT_EQ(pick(test::request("alice", 0x3)), "named");
  EXPECT_EQ(pick(test::request("", 0x3)), "anyone");
  EXPECT_EQ(pick(test::request("bob", 0x3)), "anyone");
}

}  // namespace
}  // namespace rdpgate::gateway
