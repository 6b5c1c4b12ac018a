#include "rdpgate/config/load.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace rdpgate::config {
namespace {

using namespace std::chrono_literals;

// The Config, or a test failure listing every error.
Config load_ok(std::string_view yaml) {
  auto result = load_config_string(yaml, "test.yaml");
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    std::string all;
    for (const auto& e : *errors) all += e.to_string() + "\n";
    ADD_FAILURE() << "unexpected errors:\n" << all;
    return {};
  }
  return std::get<Config>(std::move(result));
}

Cidr cidr(std::string_view text) { return parse_cidr(text).value(); }

constexpr std::string_view minimal = R"(
listeners:
  - name: public
    address: "127.0.0.1:0"
routes:
  - name: default
    backends: ["127.0.0.1:3389"]
admin: {address: ""}
)";

TEST(LoadConfig, MinimalGetsDocumentedDefaults) {
  const Config c = load_ok(minimal);
  EXPECT_EQ(c.file, "test.yaml");
  ASSERT_EQ(c.listeners.size(), 1U);
  const auto& l = c.listeners[0];
  EXPECT_EQ(l.name, "public");
  EXPECT_EQ(l.address.host, "127.0.0.1");
  EXPECT_EQ(l.address.port, 0);
  EXPECT_EQ(l.route, "");
  EXPECT_EQ(l.mode, AccessMode::open);
  EXPECT_FALSE(l.proxy_protocol);
  EXPECT_FALSE(l.sources.allow);
  EXPECT_EQ(l.sources.max_connections, 10000U);
  EXPECT_EQ(l.sources.per_source_max_connections, 20U);
  EXPECT_EQ(l.sources.per_source_rate, Rate{5.0});
  EXPECT_EQ(l.sources.per_source_burst, 20U);
  EXPECT_EQ(l.inspection.timeout, 5s);
  EXPECT_EQ(l.inspection.max_bytes, 4096U);
  EXPECT_EQ(l.inspection.require_protocols, 0x2U | 0x8U);
  EXPECT_TRUE(l.inspection.require_any);
  EXPECT_FALSE(l.inspection.accept_rdp);
  EXPECT_EQ(l.inspection.username_allow, std::vector<std::string>{"*"});
  EXPECT_TRUE(l.inspection.username_deny.empty());
  ASSERT_EQ(c.routes.size(), 1U);
  const auto& r = c.routes[0];
  EXPECT_FALSE(r.has_match);
  ASSERT_EQ(r.backends.size(), 1U);
  EXPECT_EQ(r.backends[0].text, "127.0.0.1:3389");
  EXPECT_EQ(r.backends[0].port, 3389);
  EXPECT_EQ(r.balance, Balance::least_connections);
  EXPECT_EQ(r.connect_timeout, 3s);
  EXPECT_FALSE(r.health_check);
  EXPECT_EQ(c.session.idle_timeout, 2h);
  EXPECT_EQ(c.session.max_duration, 0s);
  EXPECT_EQ(c.shutdown.drain_timeout, 30s);
  EXPECT_TRUE(c.bruteforce.enabled);
  EXPECT_FALSE(l.sources.observe_only);
  EXPECT_FALSE(l.inspection.observe_only);
  EXPECT_FALSE(c.bruteforce.observe_only);
  EXPECT_TRUE(c.metrics.enabled);
  EXPECT_EQ(c.metrics.address.text, "127.0.0.1:9489");
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.state.path, "/var/lib/rdpgate");
  EXPECT_TRUE(c.state.required);
  EXPECT_FALSE(c.state.redis);
  EXPECT_EQ(c.logging.format, LogFormat::json);
  EXPECT_EQ(c.logging.audit_file, "");
  EXPECT_EQ(c.logging.queue_lines, 8192U);
}

TEST(LoadConfig, ListenerOverridesMergePerKey) {
  const Config c = load_ok(R"(
sources:
  observe_only: true
  allow: ["10.0.0.0/8"]
  deny: ["10.9.0.0/16"]
  max_connections: 500
  per_source: {max_connections: 7, rate: "30/min", burst: 9, ipv6_prefix: 56}
inspection:
  timeout: 2s
  max_bytes: 8KiB
  usernames: {deny: [admin]}
listeners:
  - name: plain
    address: "127.0.0.1:0"
  - name: special
    address: "[::1]:0"
    sources:
      observe_only: false
      deny: ["10.8.0.0/16"]
      per_source: {rate: "1/s"}
    inspection:
      observe_only: true
      timeout: 1s
      require_protocols: [rdp, ssl]
routes:
  - name: default
    backends: ["[::1]:3389"]
admin: {address: ""}
)");
  ASSERT_EQ(c.listeners.size(), 2U);
  const auto& plain = c.listeners[0].sources;
  EXPECT_EQ(plain.allow, std::vector<Cidr>{cidr("10.0.0.0/8")});
  EXPECT_EQ(plain.deny, std::vector<Cidr>{cidr("10.9.0.0/16")});
  EXPECT_EQ(plain.per_source_rate, Rate{0.5});
  EXPECT_EQ(c.listeners[0].inspection.timeout, 2s);
  EXPECT_TRUE(plain.observe_only);  // the global value
  EXPECT_FALSE(c.listeners[0].inspection.observe_only);
  EXPECT_FALSE(c.listeners[1].sources.observe_only);  // overridden per listener
  EXPECT_TRUE(c.listeners[1].inspection.observe_only);

  const auto& special = c.listeners[1].sources;
  EXPECT_EQ(special.allow, std::vector<Cidr>{cidr("10.0.0.0/8")});  // inherited
  EXPECT_EQ(special.deny, std::vector<Cidr>{cidr("10.8.0.0/16")});  // replaced, not appended
  EXPECT_EQ(special.max_connections, 500U);                         // inherited
  EXPECT_EQ(special.per_source_rate, Rate{1.0});                    // overridden
  EXPECT_EQ(special.per_source_max_connections, 7U);                // sibling key inherited
  EXPECT_EQ(special.per_source_burst, 9U);                          // sibling key inherited
  EXPECT_EQ(special.per_source_ipv6_prefix, 56U);                   // sibling key inherited
  EXPECT_EQ(special.per_source_ipv4_prefix, 32U);                   // default
  EXPECT_EQ(special.source_range(*parse_ip("2001:db8:0:ff12::9")).to_string(),
            "2001:db8:0:ff00::/56");
  // Failure counts and bans key sources as admission does (the global values).
  EXPECT_EQ(c.bruteforce.source_ipv6_prefix, 56U);
  EXPECT_EQ(c.bruteforce.source_ipv4_prefix, 32U);
  const auto& inspection = c.listeners[1].inspection;
  EXPECT_EQ(inspection.timeout, 1s);
  EXPECT_EQ(inspection.max_bytes, 8192U);
  EXPECT_EQ(inspection.require_protocols, 0x1U);
  EXPECT_TRUE(inspection.accept_rdp);
  EXPECT_EQ(inspection.username_deny, std::vector<std::string>{"admin"});
  // The globals are kept as written.
  EXPECT_EQ(c.sources.deny, std::vector<Cidr>{cidr("10.9.0.0/16")});
  EXPECT_EQ(c.inspection.timeout, 2s);
  EXPECT_EQ(c.listeners[1].address.host, "::1");
}

TEST(LoadConfig, DualStackWildcardsOnOnePortDoNotOverlap) {
  // IPv6 listeners are bound IPV6_V6ONLY, so the usual dual-stack pair is valid...
  const Config c = load_ok(R"(
listeners:
  - {name: v4, address: "0.0.0.0:7000"}
  - {name: v6, address: "[::]:7000"}
routes: [{name: r, backends: ["127.0.0.1:1"]}]
admin: {address: ""}
)");
  ASSERT_EQ(c.listeners.size(), 2U);
  // ...while two wildcards of one family still collide.
  const auto clash = load_config_string(R"(
listeners:
  - {name: a, address: "[::]:7000"}
  - {name: b, address: "[::1]:7000"}
routes: [{name: r, backends: ["127.0.0.1:1"]}]
admin: {address: ""}
)",
                                        "test.yaml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(clash));
}

TEST(LoadConfig, RequireProtocolsEmptyAcceptsAny) {
  const Config c = load_ok(R"(
inspection: {require_protocols: []}
listeners: [{name: a, address: "127.0.0.1:0"}]
routes: [{name: r, backends: ["127.0.0.1:1"]}]
admin: {address: ""}
)");
  EXPECT_FALSE(c.listeners[0].inspection.require_any);
  EXPECT_TRUE(c.listeners[0].inspection.accept_rdp);
  EXPECT_EQ(c.listeners[0].inspection.require_protocols, 0U);
}

TEST(LoadConfig, RoutesTokensAndTheRest) {
  const Config c = load_ok(R"(
workers: 2
user: rdpgate
group: rdpgate
listeners:
  - name: public
    address: "0.0.0.0:13389"
    route: fallback
    mode: jit
    proxy_protocol: {trusted: ["10.0.0.0/8", "fd00::/8"]}
    defer_accept: true
routes:
  - name: finance
    match: {username: "fin-*", listener: public, routing_token: "tsv://*"}
    backends: ["10.1.0.5:3389", "rdp-fin.corp.example:3389"]
    balance: round_robin
    connect_timeout: 500ms
    forward_preconnection: true
    health_check: {interval: 10s, timeout: 10s, rdp_probe: true, rise: 1, fall: 5}
    mode: jit
    require_token: true
  - name: fallback
    backends: ["10.1.0.9:3389"]
    balance: first
session: {idle_timeout: 1h30m, max_duration: 8h}
shutdown: {drain_timeout: 0s}
bruteforce:
  enabled: false
  observe_only: true
  find_time: 5m
  max_failures: 3
  ban_time: 1h
  ban_time_factor: 1.5
  ban_time_max: 7d
  prefix_ban: {threshold: 5, ipv4: 16, ipv6: 40}
  exempt: ["192.0.2.0/24"]
  inference: {max_duration: 3s, max_server_bytes: 8KiB}
  username: {max_failures: 0, find_time: 1h, block_time: 2h}
metrics: {address: ""}
admin: {address: "[::1]:9488", token_file: /etc/rdpgate/admin.token}
state:
  path: var/state
  required: false
  redis: {address: "redis.internal:6380", password_file: /etc/rdpgate/redis.password,
          key_prefix: "gw1:", db: 3, replay_when_down: local}
logging: {level: debug, format: text, file: rdpgate.log, audit_file: audit.log, queue_lines: 100}
tokens:
  keys:
    - {id: k1, alg: HS256, secret_env: RDPGATE_TOKEN_KEY}
    - {id: k2, alg: EdDSA, public_key_file: keys/k2.pub, private_key_file: keys/k2.pem}
  clock_skew: 1m
  max_lifetime: 12h
)");
  EXPECT_EQ(c.workers, 2U);
  EXPECT_EQ(c.user, "rdpgate");
  EXPECT_EQ(c.listeners[0].mode, AccessMode::jit);
  EXPECT_EQ(c.listeners[0].route, "fallback");
  ASSERT_TRUE(c.listeners[0].proxy_protocol);
  EXPECT_EQ(c.listeners[0].proxy_protocol->trusted.size(), 2U);
  EXPECT_TRUE(c.listeners[0].defer_accept);
  const auto& f = c.routes[0];
  EXPECT_TRUE(f.has_match);
  EXPECT_EQ(f.match.username, "fin-*");
  EXPECT_EQ(f.match.listener, "public");
  EXPECT_EQ(f.match.routing_token, "tsv://*");
  EXPECT_EQ(f.backends[1].host, "rdp-fin.corp.example");
  EXPECT_EQ(f.balance, Balance::round_robin);
  EXPECT_EQ(f.connect_timeout, 500ms);
  EXPECT_TRUE(f.forward_preconnection);
  ASSERT_TRUE(f.health_check);
  EXPECT_EQ(f.health_check->interval, 10s);
  EXPECT_EQ(f.health_check->timeout, 10s);
  EXPECT_TRUE(f.health_check->rdp_probe);
  EXPECT_EQ(f.health_check->rise, 1U);
  EXPECT_EQ(f.health_check->fall, 5U);
  EXPECT_EQ(f.mode, AccessMode::jit);
  EXPECT_TRUE(f.require_token);
  EXPECT_EQ(c.routes[1].balance, Balance::first);
  EXPECT_EQ(c.session.idle_timeout, 90min);
  EXPECT_EQ(c.session.max_duration, 8h);
  EXPECT_EQ(c.shutdown.drain_timeout, 0s);
  const auto& b = c.bruteforce;
  EXPECT_FALSE(b.enabled);
  EXPECT_EQ(b.find_time, 5min);
  EXPECT_EQ(b.max_failures, 3U);
  EXPECT_EQ(b.ban_time, 1h);
  EXPECT_DOUBLE_EQ(b.ban_time_factor, 1.5);
  EXPECT_EQ(b.ban_time_max, 7 * 24h);
  EXPECT_TRUE(b.observe_only);
  EXPECT_EQ(b.prefix_ban_threshold, 5U);
  EXPECT_EQ(b.prefix_ban_ipv4, 16U);
  EXPECT_EQ(b.prefix_ban_ipv6, 40U);
  EXPECT_EQ(b.exempt.size(), 1U);
  EXPECT_EQ(b.failure_max_duration, 3s);
  EXPECT_EQ(b.failure_max_server_bytes, 8192U);
  EXPECT_EQ(b.username_max_failures, 0U);
  EXPECT_EQ(b.username_find_time, 1h);
  EXPECT_EQ(b.username_block_time, 2h);
  EXPECT_FALSE(c.metrics.enabled);
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.address.host, "::1");
  EXPECT_EQ(c.admin.token_file, "/etc/rdpgate/admin.token");
  EXPECT_EQ(c.state.path, "var/state");
  EXPECT_FALSE(c.state.required);
  ASSERT_TRUE(c.state.redis);
  EXPECT_EQ(c.state.redis->address.host, "redis.internal");
  EXPECT_EQ(c.state.redis->address.port, 6380);
  EXPECT_EQ(c.state.redis->password_file, "/etc/rdpgate/redis.password");
  EXPECT_EQ(c.state.redis->key_prefix, "gw1:");
  EXPECT_EQ(c.state.redis->db, 3U);
  EXPECT_EQ(c.state.redis->replay_when_down, ReplayWhenDown::local);
  EXPECT_EQ(c.logging.level, "debug");
  EXPECT_EQ(c.logging.format, LogFormat::text);
  EXPECT_EQ(c.logging.file, "rdpgate.log");
  EXPECT_EQ(c.logging.audit_file, "audit.log");
  EXPECT_EQ(c.logging.queue_lines, 100U);
  ASSERT_EQ(c.tokens.keys.size(), 2U);
  EXPECT_EQ(c.tokens.keys[0].algorithm, TokenAlgorithm::hs256);
  EXPECT_EQ(c.tokens.keys[0].secret_env, "RDPGATE_TOKEN_KEY");
  EXPECT_EQ(c.tokens.keys[1].algorithm, TokenAlgorithm::eddsa);
  EXPECT_EQ(c.tokens.keys[1].public_key_file, "keys/k2.pub");
  EXPECT_EQ(c.tokens.clock_skew, 1min);
  EXPECT_EQ(c.tokens.max_lifetime, 12h);
}

TEST(LoadConfig, ExampleFileLoadsCleanly) {
  const auto result = load_config_file(RDPGATE_EXAMPLE_CONFIG);
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    for (const auto& e : *errors) ADD_FAILURE() << e.to_string();
    return;
  }
  const Config& c = std::get<Config>(result);
  ASSERT_EQ(c.listeners.size(), 2U);
  ASSERT_EQ(c.routes.size(), 2U);
  // The documented listener override: only per_source.rate and timeout change.
  EXPECT_EQ(c.listeners[0].sources.per_source_rate, Rate{2.0});
  EXPECT_EQ(c.listeners[0].sources.per_source_burst, 20U);
  EXPECT_EQ(c.listeners[0].sources.allow, c.sources.allow);
  EXPECT_EQ(c.listeners[0].inspection.timeout, 3s);
  EXPECT_EQ(c.listeners[0].inspection.username_deny, c.inspection.username_deny);
  EXPECT_EQ(c.listeners[1].sources.per_source_rate, Rate{5.0});
  EXPECT_EQ(c.listeners[1].mode, AccessMode::jit);
  EXPECT_FALSE(c.listeners[0].defer_accept);
  EXPECT_TRUE(c.listeners[1].defer_accept);
  EXPECT_EQ(c.routes[1].backends[1].host, "2001:db8::10");
  EXPECT_EQ(c.tokens.keys.size(), 2U);
}

TEST(LoadConfig, DefaultFileMatchesTheReadme) {
  const auto result = load_config_file(RDPGATE_DEFAULT_CONFIG);
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    for (const auto& e : *errors) ADD_FAILURE() << e.to_string();
    return;
  }
  const Config& c = std::get<Config>(result);
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].name, "public");
  EXPECT_EQ(c.listeners[0].address.text, "127.0.0.1:13389");
  EXPECT_EQ(c.listeners[0].route, "default");
  ASSERT_EQ(c.routes.size(), 1U);
  EXPECT_EQ(c.routes[0].name, "default");
  EXPECT_EQ(c.routes[0].backends.at(0).text, "127.0.0.1:3389");
  EXPECT_EQ(c.metrics.address.text, "127.0.0.1:9489");
  EXPECT_EQ(c.admin.address.text, "127.0.0.1:9488");
  EXPECT_EQ(c.admin.token_env, "RDPGATE_ADMIN_TOKEN");
  EXPECT_EQ(c.state.path, "var/state");
  EXPECT_EQ(c.logging.format, LogFormat::text);
  EXPECT_EQ(c.logging.level, "info");
}

// Every truncation of the example (a half-written file, an editor crash) is either a valid
// Config or located errors; nothing throws and no error lacks a position or a message.
TEST(LoadConfig, EveryTruncationOfTheExampleIsHandled) {
  std::ifstream in{RDPGATE_EXAMPLE_CONFIG, std::ios::binary};
  ASSERT_TRUE(in) << RDPGATE_EXAMPLE_CONFIG;
  const std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::size_t valid = 0;
  for (std::size_t cut = 0; cut <= text.size(); cut += (cut % 5 == 0 ? 3 : 2)) {
    const std::string_view prefix{text.data(), cut};
    LoadResult result;
    ASSERT_NO_THROW(result = load_config_string(prefix, "cut.yaml")) << "cut at " << cut;
    if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
      ASSERT_FALSE(errors->empty());
      for (const auto& e : *errors) {
        ASSERT_GE(e.line, 1) << "cut at " << cut << ": " << e.to_string();
        ASSERT_GE(e.column, 1) << "cut at " << cut << ": " << e.to_string();
        ASSERT_FALSE(e.message.empty());
        ASSERT_NE(e.message.back(), '.') << e.to_string();
      }
    } else {
      ++valid;
    }
  }
  // Cuts after the routes (and before nothing else required) are complete configurations.
  EXPECT_GT(valid, 0U);
}

TEST(LoadConfig, UnreadableFileIsOneError) {
  const auto result = load_config_file("does/not/exist.yaml");
  const auto* errors = std::get_if<std::vector<ConfigError>>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1U);
  EXPECT_EQ((*errors)[0].line, 0);
  EXPECT_EQ((*errors)[0].to_string(),
            "does/not/exist.yaml: cannot open: No such file or directory");
}

}  // namespace
}  // namespace rdpgate::config
