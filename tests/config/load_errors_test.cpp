// Bad configurations and the exact messages they produce, FILE:LINE:COL included. Each case
// starts at line 1; the keys it does not exercise follow it (kRest), so positions stay readable.

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "rdpgate/config/load.hpp"

namespace rdpgate::config {
namespace {

const std::string listeners = "listeners: [{name: a, address: \"127.0.0.1:0\"}]\n";
const std::string routes = "routes: [{name: r, backends: [\"127.0.0.1:3389\"]}]\n";
const std::string admin_off = "admin: {address: \"\"}\n";

std::vector<std::string> errors_of(const std::string& yaml) {
  const auto result = load_config_string(yaml, "cfg.yaml");
  std::vector<std::string> out;
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    for (const auto& e : *errors) out.push_back(e.to_string());
  }
  return out;
}

struct Case {
  const char* what;
  std::string yaml;
  std::vector<std::string> expected;
};

class BadConfig : public testing::TestWithParam<Case> {};

TEST_P(BadConfig, ReportsExactly) {
  const Case& c = GetParam();
  EXPECT_EQ(errors_of(c.yaml), c.expected) << c.what << "\n---\n" << c.yaml;
}

const Case cases[] = {
    {"yaml syntax error",
     "listeners: [\n  {name: a,\n",
     {"cfg.yaml:3:1: yaml syntax error: end of map flow not found"}},
    {"yaml syntax error: bad indentation",
     "listeners:\n  - name: a\n   address: x\n" + routes + admin_off,
     {"cfg.yaml:3:4: yaml syntax error: end of sequence not found"}},
    {"empty document",
     "",
     {"cfg.yaml:1:1: empty configuration: at least listeners and routes are required"}},
    {"top level not a mapping", "- a\n", {"cfg.yaml:1:1: expected a mapping, got a sequence"}},
    {"unknown key with a hint",
     "listner: []\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:1: unknown key \"listner\" (did you mean \"listeners\")"}},
    {"unknown key without a hint",
     listeners + routes + admin_off + "frobnicate: 1\n",
     {"cfg.yaml:4:1: unknown key \"frobnicate\""}},
    {"unknown nested key",
     "session: {idle_timout: 5m}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:11: session: unknown key \"idle_timout\" (did you mean \"idle_timeout\")"}},
    {"duplicate key",
     "state: {path: a, path: b}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:18: state: duplicate key \"path\""}},
    {"per-source prefix out of range",
     "sources: {per_source: {ipv4_prefix: 4, ipv6_prefix: 129}}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:37: sources.per_source.ipv4_prefix: must be between 8 and 32, got 4",
      "cfg.yaml:1:53: sources.per_source.ipv6_prefix: must be between 16 and 128, got 129"}},
    {"prefix ban out of range",
     "bruteforce: {prefix_ban: {threshold: 1001, ipv4: 33}}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:38: bruteforce.prefix_ban.threshold: must be between 0 and 1000, got 1001",
      "cfg.yaml:1:50: bruteforce.prefix_ban.ipv4: must be between 8 and 32, got 33"}},
    {"missing listeners and routes",
     admin_off,
     {"cfg.yaml:1:1: missing required key \"listeners\"",
      "cfg.yaml:1:1: missing required key \"routes\""}},
    {"no listeners",
     "listeners: []\n" + routes + admin_off,
     {"cfg.yaml:1:12: listeners: at least one listener is required"}},
    {"listeners not a sequence",
     "listeners: {name: a}\n" + routes + admin_off,
     {"cfg.yaml:1:12: listeners: expected a sequence, got a mapping"}},
    {"listener address not host:port",
     "listeners:\n  - name: a\n    address: x\n" + routes + admin_off,
     {"cfg.yaml:3:14: listeners[0].address: bad address \"x\": expected host:port"}},
    {"listener address is a host name",
     "listeners:\n  - name: a\n    address: \"localhost:3389\"\n" + routes + admin_off,
     {"cfg.yaml:3:14: listeners[0].address: bad address \"localhost:3389\": expected an IP "
      "address, not a host name"}},
    {"listener port out of range",
     "listeners:\n  - name: a\n    address: \"[::1]:65536\"\n" + routes + admin_off,
     {"cfg.yaml:3:14: listeners[0].address: bad address \"[::1]:65536\": bad port: expected "
      "0..65535"}},
    {"unbracketed v6",
     "listeners:\n  - name: a\n    address: \"::1:3389\"\n" + routes + admin_off,
     {"cfg.yaml:3:14: listeners[0].address: bad address \"::1:3389\": write an IPv6 address in "
      "brackets, e.g. \"[::1]:3389\""}},
    {"listener without address",
     "listeners:\n  - name: a\n" + routes + admin_off,
     {"cfg.yaml:2:5: listeners[0]: missing required key \"address\""}},
    {"listener name empty value",
     "listeners:\n  - name:\n    address: \"127.0.0.1:0\"\n" + routes + admin_off,
     {"cfg.yaml:2:5: listeners[0].name: expected a string, got an empty value"}},
    {"listener name with a space",
     "listeners:\n  - name: my listener\n    address: \"127.0.0.1:0\"\n" + routes + admin_off,
     {"cfg.yaml:2:11: listeners[0].name: bad name \"my listener\": use 1 to 64 letters, digits, "
      "'_', '-' or '.'"}},
    {"duplicate listener names and addresses",
     "listeners:\n  - {name: a, address: \"127.0.0.1:7000\"}\n"
     "  - {name: a, address: \"127.0.0.1:7000\"}\n" +
         routes + admin_off,
     {"cfg.yaml:3:12: listeners[1].name: duplicate listener name \"a\"",
      "cfg.yaml:3:24: listeners[1].address: duplicate address \"127.0.0.1:7000\" (also used by "
      "listeners[0])"}},
    {"wildcard overlaps a listener",
     "listeners:\n  - {name: a, address: \"127.0.0.1:7000\"}\n"
     "  - {name: b, address: \"0.0.0.0:7000\"}\n" +
         routes + admin_off,
     {"cfg.yaml:3:24: listeners[1].address: address \"0.0.0.0:7000\" overlaps \"127.0.0.1:7000\" "
      "of listeners[0]"}},
    {"port 0 never collides",
     "listeners:\n  - {name: a, address: \"127.0.0.1:0\"}\n  - {name: b, address: "
     "\"127.0.0.1:0\"}\n" +
         routes + admin_off,
     {}},
    {"metrics on a listener's address",
     "listeners:\n  - {name: a, address: \"127.0.0.1:9489\"}\n" + routes + admin_off,
     {"cfg.yaml:2:24: listeners[0].address: duplicate address \"127.0.0.1:9489\" (also used by "
      "metrics (default address))"}},
    {"listener route unknown",
     "listeners:\n  - {name: a, address: \"127.0.0.1:0\", route: defualt}\n"
     "routes: [{name: default, backends: [\"127.0.0.1:3389\"]}]\n" +
         admin_off,
     {"cfg.yaml:2:46: listeners[0].route: unknown route \"defualt\" (did you mean \"default\")"}},
    {"listener mode",
     "listeners:\n  - {name: a, address: \"127.0.0.1:0\", mode: closed}\n" + routes + admin_off,
     {"cfg.yaml:2:45: listeners[0].mode: unknown value \"closed\": expected one of open, jit"}},
    {"listener defer_accept",
     "listeners:\n  - {name: a, address: \"127.0.0.1:0\", defer_accept: 1s}\n" + routes + admin_off,
     {"cfg.yaml:2:53: listeners[0].defer_accept: expected true or false, got \"1s\""}},
    {"listener override bad",
     "listeners:\n  - name: a\n    address: \"127.0.0.1:0\"\n"
     "    sources: {per_source: {brust: 3}}\n" +
         routes + admin_off,
     {"cfg.yaml:4:28: listeners[0].sources.per_source: unknown key \"brust\" (did you mean "
      "\"burst\")"}},
    {"cidr with host bits",
     "sources: {allow: [\"203.0.113.7/24\"]}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:19: sources.allow[0]: bad cidr \"203.0.113.7/24\": host bits set (did you mean "
      "\"203.0.113.0/24\")"}},
    {"cidr prefix too long",
     "sources: {deny: [\"2001:db8::/129\"]}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:18: sources.deny[0]: bad cidr \"2001:db8::/129\": bad prefix length: expected "
      "0..128"}},
    {"cidr not an address",
     "bruteforce: {exempt: [office]}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:23: bruteforce.exempt[0]: bad cidr \"office\": expected an IPv4 or IPv6 address, "
      "optionally with /prefix"}},
    {"cidr list not a list",
     "sources: {allow: \"10.0.0.0/8\"}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:18: sources.allow: expected a sequence of cidrs, got \"10.0.0.0/8\""}},
    {"bad rate",
     "sources: {per_source: {rate: 5}}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:30: sources.per_source.rate: bad rate \"5\": expected a count per unit, e.g. "
      "5/s, 30/min"}},
    {"burst zero",
     "sources: {per_source: {burst: 0}}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:31: sources.per_source.burst: must be at least 1, got 0"}},
    {"negative count",
     "sources: {max_connections: -5}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:28: sources.max_connections: must be at least 0, got -5"}},
    {"count not a number",
     "workers: many\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:10: workers: expected an integer, got \"many\""}},
    {"workers out of range",
     "workers: 5000\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:10: workers: must be between 0 and 1024, got 5000"}},
    {"bool",
     "allow_root: maybe\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:13: allow_root: expected true or false, got \"maybe\""}},
    {"state.required not a bool",
     "state: {path: s, required: sometimes}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:28: state.required: expected true or false, got \"sometimes\""}},
    {"state.redis without address",
     "state: {redis: {db: 1}}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:16: state.redis: missing required key \"address\" (host:port of the Redis "
      "server)"}},
    {"state.redis bad fields",
     "state: {redis: {address: \"r:0\", db: x, replay_when_down: maybe}}\n" + listeners + routes +
         admin_off,
     {"cfg.yaml:1:26: state.redis.address: bad address \"r:0\": bad port: expected 1..65535",
      "cfg.yaml:1:37: state.redis.db: expected an integer, got \"x\"",
      "cfg.yaml:1:58: state.redis.replay_when_down: unknown value \"maybe\": expected one of "
      "refuse, local"}},
    {"duration without unit",
     "inspection: {timeout: 5}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:23: inspection.timeout: bad duration \"5\": expected a number and a unit (ms, s, "
      "m, h, d)"}},
    {"duration out of range",
     "inspection: {timeout: 2m}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:23: inspection.timeout: must be between 100ms and 1m, got 2m"}},
    {"size bad",
     "inspection: {max_bytes: 4kb}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:25: inspection.max_bytes: bad size \"4kb\": expected bytes, optionally with a "
      "unit (KiB, MiB, GiB)"}},
    {"size out of range",
     "inspection: {max_bytes: 1MiB}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:25: inspection.max_bytes: must be between 64B and 64KiB, got 1MiB"}},
    {"unknown protocol",
     "inspection: {require_protocols: [hybrid, tls]}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:42: inspection.require_protocols[1]: unknown value \"tls\": expected one of rdp, "
      "ssl, hybrid, rdstls, hybrid_ex, rdsaad"}},
    {"empty username pattern",
     "inspection: {usernames: {deny: [\"\"]}}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:33: inspection.usernames.deny[0]: empty pattern"}},
    {"route without backends",
     listeners + "routes:\n  - name: r\n    backends: []\n" + admin_off,
     {"cfg.yaml:4:15: routes[0].backends: at least one backend is required"}},
    {"route missing backends key",
     listeners + "routes:\n  - name: r\n" + admin_off,
     {"cfg.yaml:3:5: routes[0]: missing required key \"backends\""}},
    {"no routes",
     listeners + "routes: []\n" + admin_off,
     {"cfg.yaml:2:9: routes: at least one route is required"}},
    {"backend bad",
     listeners +
         "routes:\n  - name: r\n    backends: [\"rdp_1.corp:3389\", "
         "\"10.0.0.1:0\"]\n" +
         admin_off,
     {"cfg.yaml:4:16: routes[0].backends[0]: bad address \"rdp_1.corp:3389\": bad host name",
      "cfg.yaml:4:35: routes[0].backends[1]: bad address \"10.0.0.1:0\": bad port: expected "
      "1..65535"}},
    {"duplicate route names",
     listeners +
         "routes:\n  - {name: r, backends: [\"10.0.0.1:1\"]}\n"
         "  - {name: r, backends: [\"10.0.0.1:2\"]}\n" +
         admin_off,
     {"cfg.yaml:4:12: routes[1].name: duplicate route name \"r\""}},
    {"match names an unknown listener",
     listeners +
         "routes:\n  - name: r\n    match: {listener: b}\n    backends: [\"10.0.0.1:1\"]\n" +
         admin_off,
     {"cfg.yaml:4:23: routes[0].match.listener: unknown listener \"b\""}},
    {"unknown match key",
     listeners +
         "routes:\n  - name: r\n    match: {user: bob}\n"
         "    backends: [\"10.0.0.1:1\"]\n" +
         admin_off,
     {"cfg.yaml:4:13: routes[0].match: unknown key \"user\""}},
    {"balance",
     listeners + "routes:\n  - {name: r, backends: [\"10.0.0.1:1\"], balance: random}\n" +
         admin_off,
     {"cfg.yaml:3:50: routes[0].balance: unknown value \"random\": expected one of "
      "least_connections, round_robin, first"}},
    {"health check timeout above interval",
     listeners +
         "routes:\n  - name: r\n    backends: [\"10.0.0.1:1\"]\n"
         "    health_check: {interval: 1s, timeout: 2s}\n" +
         admin_off,
     {"cfg.yaml:5:43: routes[0].health_check.timeout: timeout 2s exceeds interval 1s"}},
    {"health check rise zero",
     listeners +
         "routes:\n  - name: r\n    backends: [\"10.0.0.1:1\"]\n"
         "    health_check: {rise: 0}\n" +
         admin_off,
     {"cfg.yaml:5:26: routes[0].health_check.rise: must be between 1 and 100, got 0"}},
    {"require_token without keys",
     listeners + "routes:\n  - {name: r, backends: [\"10.0.0.1:1\"], require_token: true}\n" +
         admin_off,
     {"cfg.yaml:3:56: routes[0].require_token: require_token needs at least one key in "
      "tokens.keys"}},
    {"ban_time_max below ban_time",
     "bruteforce: {ban_time: 2h, ban_time_max: 1h}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:42: bruteforce.ban_time_max: ban_time_max 1h is below ban_time 2h"}},
    {"ban_time_factor below one",
     "bruteforce: {ban_time_factor: 0.5}\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:31: bruteforce.ban_time_factor: must be between 1 and 100, got 0.5"}},
    {"admin without a token",
     listeners + routes + "admin: {address: \"127.0.0.1:9488\"}\n",
     {"cfg.yaml:3:8: admin: the admin API needs token_file or token_env (or address: \"\" to turn "
      "it off)"}},
    {"admin absent",
     listeners + routes,
     {"cfg.yaml:1:1: missing required key \"admin\" (the admin API needs token_file or token_env; "
      "admin: {address: \"\"} turns it off)"}},
    {"admin with two tokens",
     listeners + routes + "admin: {token_file: a, token_env: B}\n",
     {"cfg.yaml:3:35: admin.token_env: set only one of token_file and token_env"}},
    {"metrics address a host name",
     listeners + routes + admin_off + "metrics: {address: \"localhost:1\"}\n",
     {"cfg.yaml:4:20: metrics.address: bad address \"localhost:1\": expected an IP address, not a "
      "host name"}},
    {"logging level and format",
     listeners + routes + admin_off + "logging: {level: verbose, format: xml}\n",
     {"cfg.yaml:4:18: logging.level: unknown value \"verbose\": expected one of trace, debug, "
      "info, "
      "warn, error, critical, off",
      "cfg.yaml:4:35: logging.format: unknown value \"xml\": expected one of text, json"}},
    {"logging audit_file and queue_lines",
     listeners + routes + admin_off +
         "logging: {file: /var/log/x.log, audit_file: /var/log/x.log, queue_lines: 8}\n",
     {"cfg.yaml:4:45: logging.audit_file: audit_file is the same file as logging.file (leave it "
      "out to keep the audit records with the other lines)",
      "cfg.yaml:4:74: logging.queue_lines: must be between 16 and 1048576, got 8"}},
    {"token key problems",
     listeners + routes + admin_off +
         "tokens:\n  keys:\n"
         "    - {id: k, alg: HS256}\n"
         "    - {id: k, alg: EdDSA, secret_env: S}\n"
         "    - {id: j, alg: RS256, secret_env: S}\n"
         "    - {id: h, secret_file: a, secret_env: b, public_key_file: c}\n",
     {"cfg.yaml:6:7: tokens.keys[0]: an HS256 key needs secret_file or secret_env",
      "cfg.yaml:7:7: tokens.keys[1]: an EdDSA key needs public_key_file",
      "cfg.yaml:7:12: tokens.keys[1].id: duplicate key id \"k\"",
      "cfg.yaml:7:39: tokens.keys[1].secret_env: secret_file and secret_env are for HS256 keys",
      "cfg.yaml:8:20: tokens.keys[2].alg: unknown value \"RS256\": expected one of HS256, EdDSA",
      "cfg.yaml:9:43: tokens.keys[3].secret_env: set only one of secret_file and secret_env",
      "cfg.yaml:9:63: tokens.keys[3].public_key_file: public_key_file is for EdDSA keys"}},
    {"wrong type for a section",
     "session: 5m\n" + listeners + routes + admin_off,
     {"cfg.yaml:1:10: session: expected a mapping, got \"5m\""}},
};

INSTANTIATE_TEST_SUITE_P(Table, BadConfig, testing::ValuesIn(cases),
                         [](const testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.what;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(LoadErrors, AllReportedAtOnceInFileOrder) {
  const std::string yaml =
      "listeners:\n"                                                    // 1
      "  - name: public\n"                                              // 2
      "    adress: \"127.0.0.1:13389\"\n"                               // 3
      "    route: nowhere\n"                                            // 4
      "sources: {allow: [\"10.0.0.1/8\"], per_source: {rate: fast}}\n"  // 5
      "routes:\n"                                                       // 6
      "  - name: default\n"                                             // 7
      "    backends: []\n"                                              // 8
      "admin: {address: \"\"}\n"                                        // 9
      "loging: {level: info}\n";                                        // 10
  const std::vector<std::string> expected{
      "cfg.yaml:2:5: listeners[0]: missing required key \"address\"",
      "cfg.yaml:3:5: listeners[0]: unknown key \"adress\" (did you mean \"address\")",
      "cfg.yaml:4:12: listeners[0].route: unknown route \"nowhere\"",
      "cfg.yaml:5:19: sources.allow[0]: bad cidr \"10.0.0.1/8\": host bits set (did you mean "
      "\"10.0.0.0/8\")",
      "cfg.yaml:5:53: sources.per_source.rate: bad rate \"fast\": expected a count per unit, e.g. "
      "5/s, 30/min",
      "cfg.yaml:8:15: routes[0].backends: at least one backend is required",
      "cfg.yaml:10:1: unknown key \"loging\" (did you mean \"logging\")",
  };
  EXPECT_EQ(errors_of(yaml), expected);

  const auto result = load_config_string(yaml, "cfg.yaml");
  const auto& errors = std::get<std::vector<ConfigError>>(result);
  EXPECT_EQ(errors[0].file, "cfg.yaml");
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_EQ(errors[0].column, 5);
  EXPECT_EQ(errors[0].path, "listeners[0]");
  EXPECT_EQ(errors[0].message, "missing required key \"address\"");
}

TEST(LoadErrors, ListenerOverrideErrorsAreReportedOnceWithTheirPath) {
  const std::string yaml =
      "inspection: {timeout: 1x}\n"
      "listeners:\n"
      "  - {name: a, address: \"127.0.0.1:0\", inspection: {max_bytes: 10}}\n"
      "  - {name: b, address: \"127.0.0.1:0\"}\n" +
      routes + admin_off;
  const std::vector<std::string> expected{
      "cfg.yaml:1:23: inspection.timeout: bad duration \"1x\": expected a number and a unit (ms, "
      "s, m, h, d)",
      "cfg.yaml:3:63: listeners[0].inspection.max_bytes: must be between 64B and 64KiB, got 10",
  };
  EXPECT_EQ(errors_of(yaml), expected);
}

}  // namespace
}  // namespace rdpgate::config
