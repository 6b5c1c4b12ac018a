#pragma once
// The validated, immutable configuration of rdpgate. Every field is documented here once:
// meaning, unit, default, bounds. The YAML keys are those of SPEC §8 (a contract: never rename).
// load.hpp turns a YAML file into a Config or a list of FILE:LINE:COL errors.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/config/units.hpp"

namespace rdpgate::config {

using namespace std::chrono_literals;

// A "host:port" or "[v6]:port" endpoint, as written, plus its parts.
struct Endpoint {
  std::string text;  // as configured, e.g. "10.1.0.5:3389"; used as a metric label value
  std::string host;  // "10.1.0.5", "::1", or a DNS name (backends only)
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// `sources:` — admission, before a byte is read. A listener's `sources:` overrides the keys it
// names; the Config below holds the effective, merged values per listener.
struct SourcesConfig {
  // `observe_only`: every rule below is evaluated and its would-be refusal logged and counted
  // (rdpgate_observed_refusals_total), but nothing is refused. Default false.
  bool observe_only = false;
  // `allow`: only these sources pass. Absent (nullopt) = every source. [] = nobody (except grants).
  std::optional<std::vector<Cidr>> allow;
  // `deny`: refused with `denied_source`, checked before `allow`. Default empty.
  std::vector<Cidr> deny;
  // `max_connections`: concurrent connections through the whole gateway (all listeners). Default
  // 10000; 0 = unlimited. Refused with `too_many_connections`.
  std::uint32_t max_connections = 10000;
  // `per_source.max_connections`: concurrent connections per source address. Default 20; 0 = off.
  std::uint32_t per_source_max_connections = 20;
  // `per_source.rate`: new connections per source address (token bucket refill). Default 5/s;
  // "0/s" = off. Refused with `rate_limited`.
  Rate per_source_rate{5.0};
  // `per_source.burst`: token bucket size. Default 20; at least 1.
  std::uint32_t per_source_burst = 20;
  // `per_source.ipv4_prefix` (8..32, default 32) and `per_source.ipv6_prefix` (16..128, default
  // 64): what one "source" is for the per-source rate, cap, failure count and ban. One IPv6
  // host usually owns a whole /64; keying by /128 would give an attacker 2^64 sources.
  std::uint8_t per_source_ipv4_prefix = 32;
  std::uint8_t per_source_ipv6_prefix = 64;
  // The source key of `address`: its ipv4_prefix or ipv6_prefix range.
  [[nodiscard]] Cidr source_range(const IpAddress& address) const noexcept {
    return config::source_range(address, per_source_ipv4_prefix, per_source_ipv6_prefix);
  }
};

// `inspection:` — the pre-auth phase.
struct InspectionConfig {
  // `observe_only`: the rules below are evaluated, logged and counted, nothing is refused: a
  // request they would refuse is forwarded as it came (one that cannot be parsed, verbatim, as
  // a plain TCP proxy would). Default false.
  bool observe_only = false;
  // `timeout`: the whole inspection phase, from accept to a complete request. Default 5s;
  // 100ms..60s. Refused with `inspect_timeout`.
  Duration timeout = 5s;
  // `max_bytes`: cap on the client's first flight (PCB + Connection Request). Default 4KiB;
  // 64B..64KiB.
  std::uint32_t max_bytes = 4096;
  // `require_protocols`: the client must offer one of these (bit set of protocol::proto values).
  // Default [hybrid, hybrid_ex]; [] accepts any, standard RDP security included.
  std::uint32_t require_protocols = 0x2 | 0x8;
  bool require_any = true;  // false when `require_protocols: []`
  // Whether a request offering standard RDP security only (no RDP_NEG_REQ, or requestedProtocols
  // 0) passes: true when the list names `rdp` (which has no bit of its own) or is empty. A
  // request passes when !require_any, or (requested & require_protocols) != 0, or (accept_rdp
  // and requested == 0).
  bool accept_rdp = false;
  // `usernames.allow` / `usernames.deny`: globs (`*`, `?`) on the mstshash cookie, compared
  // case-insensitively. Default allow ["*"], deny []. A request without a cookie matches only
  // the pattern "*" in allow and nothing in deny (Microsoft clients truncate the cookie to 9
  // characters and may omit it: this is hygiene, never authentication).
  std::vector<std::string> username_allow{"*"};
  std::vector<std::string> username_deny;
  // `direct_approach`: allow clients that start with TLS (no X.224 request). Default false.
  bool direct_approach = false;
};

struct ProxyProtocolConfig {
  // `trusted`: only connections from these ranges may (and must) send a PROXY v1/v2 header.
  std::vector<Cidr> trusted;
};

enum class AccessMode { open, jit };

struct ListenerConfig {
  std::string name;   // `name`: unique; a metric label value
  Endpoint address;   // `address`: "0.0.0.0:13389", "[::]:13389"
  std::string route;  // `route`: used when no route's match applies; "" = none
  std::optional<ProxyProtocolConfig> proxy_protocol;  // `proxy_protocol`
  // `defer_accept`: the kernel hands a connection over only once its first bytes have arrived
  // (TCP_DEFER_ACCEPT), or after about a second of silence.
  bool defer_accept = false;
  // `mode`: `open` (default) or `jit`: only sources with a live grant (or on the effective
  // static `sources.allow` list, when one is configured) pass admission.
  AccessMode mode = AccessMode::open;
  SourcesConfig sources;        // effective: global `sources` overridden by the listener's
  InspectionConfig inspection;  // effective: global `inspection` overridden by the listener's
};

struct RouteMatch {
  std::optional<std::string> username;       // glob on the cookie (case-insensitive)
  std::optional<std::string> routing_token;  // glob on the whole routing-token line
  std::optional<std::string> listener;       // listener name
};

enum class Balance { least_connections, round_robin, first };

struct HealthCheckConfig {
  Duration interval = 5s;  // `interval`: 100ms..1h
  Duration timeout = 2s;   // `timeout`: per probe; <= interval
  bool rdp_probe = false;  // `rdp_probe`: send a Connection Request, expect a Connection Confirm
  std::uint32_t rise = 2;  // `rise`: consecutive successes to mark a backend up; >= 1
  std::uint32_t fall = 3;  // `fall`: consecutive failures to mark it down; >= 1
};

struct RouteConfig {
  std::string name;  // `name`: unique; a metric label value
  // `match`: all named conditions must hold; routes are tried in file order (SPEC §8).
  RouteMatch match;
  bool has_match = false;          // false: the route is chosen only as a listener's `route`
  std::vector<Endpoint> backends;  // `backends`: at least one
  Balance balance = Balance::least_connections;  // `balance`
  Duration connect_timeout = 3s;       // `connect_timeout`: per backend attempt; 100ms..60s
  bool forward_preconnection = false;  // `forward_preconnection`: pass a PCB on to the backend
  std::optional<HealthCheckConfig> health_check;  // `health_check`: absent = no checks
  AccessMode mode = AccessMode::open;  // `mode: jit`: only granted sources may use this route
  bool require_token = false;          // `require_token`: a valid signed token naming this route
};

// `session:`
struct SessionConfig {
  Duration idle_timeout = 2h;  // `idle_timeout`: no byte either way for this long; 0s = none
  Duration max_duration = 0s;  // `max_duration`: 0s = unlimited
};

// `shutdown:`
struct ShutdownConfig {
  Duration drain_timeout = 30s;  // `drain_timeout`: SIGTERM waits this long for sessions
};

// `bruteforce:` — failed-auth inference and bans (fail2ban semantics, SPEC §2).
struct BruteforceConfig {
  bool enabled = true;
  // `observe_only`: failures are judged and counted, bans computed and listed as observed
  // (admin API, `"observed": true`), never enforced; automatic bans made earlier and the
  // username throttle are evaluated and counted, not enforced. Manual bans stay enforced.
  bool observe_only = false;
  Duration find_time = 10min;      // `find_time`: window in which failures are counted
  std::uint32_t max_failures = 5;  // `max_failures`: per source within find_time -> ban
  Duration ban_time = 15min;       // `ban_time`: first ban
  double ban_time_factor = 2.0;    // `ban_time_factor`: repeat offenders ban_time * factor^n
  Duration ban_time_max = 24h;     // `ban_time_max`: cap on the grown ban time
  std::vector<Cidr> exempt;        // `exempt`: never counted or banned
  // Not keys of `bruteforce:`: the global `sources.per_source` prefixes, copied here by the
  // loader, so failure counts and bans key sources as admission does.
  std::uint8_t source_ipv4_prefix = 32;
  std::uint8_t source_ipv6_prefix = 64;
  // `prefix_ban:` — when `threshold` sources of one IPv4 /`ipv4` or IPv6 /`ipv6` prefix were
  // banned within find_time, the prefix is banned for the ban time of the last one; exempt
  // ranges never are. threshold 0 = off.
  std::uint32_t prefix_ban_threshold = 3;  // `prefix_ban.threshold`: 0..1000
  std::uint8_t prefix_ban_ipv4 = 24;       // `prefix_ban.ipv4`: 8..32
  std::uint8_t prefix_ban_ipv6 = 48;       // `prefix_ban.ipv6`: 16..128
  // `inference:` — accepted for old configuration files and ignored: failed logons are judged
  // from the TLS record stream now (protocol/nla_judge.hpp, docs/e2e.md).
  Duration failure_max_duration = 5s;             // `inference.max_duration`
  std::uint64_t failure_max_server_bytes = 3072;  // `inference.max_server_bytes`
  // `username:` — password-spray defence: failures for one cookie username across sources.
  std::uint32_t username_max_failures = 20;  // `username.max_failures`; 0 = off
  Duration username_find_time = 10min;       // `username.find_time`
  Duration username_block_time = 15min;      // `username.block_time`
};

struct MetricsConfig {
  bool enabled = true;                                    // false when `metrics: {address: ""}`
  Endpoint address{"127.0.0.1:9489", "127.0.0.1", 9489};  // `address`; GET /metrics
};

struct AdminConfig {
  bool enabled = true;                                    // false when `admin: {address: ""}`
  Endpoint address{"127.0.0.1:9488", "127.0.0.1", 9488};  // `address`
  std::string token_file;                                 // `token_file`: bearer token; or
  std::string token_env;  // `token_env`: name of an environment variable holding it
};

// `state.redis:` — share bans, grants, failure counts, rate counters and the token replay cache
// with other rdpgate instances through one Redis (docs/operations.md "Several instances").
// Absent: one instance, nothing shared.
enum class ReplayWhenDown { refuse, local };
struct RedisConfig {
  Endpoint address;           // `address`: "host:port" (a DNS name is allowed), required
  std::string password_file;  // `password_file`: AUTH password, 0600 like every secret; "" = none
  std::string key_prefix = "rdpgate:";  // `key_prefix`: prefix of every key and channel
  std::uint32_t db = 0;                 // `db`: SELECT this database, 0..15 by default
  // `replay_when_down`: while Redis is unreachable a signed token's first use cannot be checked
  // fleet-wide. `refuse` (default): refuse such tokens (a stolen token cannot be replayed on
  // another instance during an outage); `local`: accept on this instance's own replay cache.
  ReplayWhenDown replay_when_down = ReplayWhenDown::refuse;
  friend bool operator==(const RedisConfig&, const RedisConfig&) = default;
};

struct StateConfig {
  std::string path = "/var/lib/rdpgate";  // `path`: directory for the durable state
  // `required`: true (default) stops the start with exit status 1 when the store cannot be
  // used (`path` not creatable or writable, a corrupt database), rather than run without
  // durable bans, grants and token replays. false runs memory-only then, with an error in the
  // log and GET /healthz "degraded".
  bool required = true;
  std::optional<RedisConfig> redis;  // `redis`: read at start only
};

enum class LogFormat { text, json };
// Read at start only (a reload does not reopen the log). Logging never blocks the relay: each
// destination has a queue of `queue_lines` lines and one writer thread; when the reader does
// not keep up (a full pipe, a stalled journald, a slow disk) new lines are dropped, counted in
// rdpgate_log_dropped_total and summarised by a `log_dropped` line once the queue drains.
struct LoggingConfig {
  std::string level = "info";          // `level`: trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::json;  // `format`: json (default) or text
  std::string file;                    // `file`: append logs here; "" = standard error
  // `audit_file`: append the audit records (`connection` lines and their `refusals_suppressed`
  // summaries) here instead of the log above; "" (default) = with everything else. Must differ
  // from `file`.
  std::string audit_file;
  // `queue_lines`: lines waiting for a slow log reader, per destination, before new ones are
  // dropped; 16 to 1048576, default 8192 (about 4 MiB of audit records).
  std::uint32_t queue_lines = 8192;
};

// `tokens:` — signed access tokens (SPEC §3).
enum class TokenAlgorithm { hs256, eddsa };
struct TokenKey {
  std::string id;                                    // `id`: matches the JWS "kid" header; unique
  TokenAlgorithm algorithm = TokenAlgorithm::hs256;  // `alg`: HS256 or EdDSA
  std::string secret_file;  // HS256: `secret_file` or `secret_env` (raw bytes, >= 32)
  std::string secret_env;
  std::string public_key_file;   // EdDSA: `public_key_file` (PEM Ed25519 public key)
  std::string private_key_file;  // optional, for `rdpgate token issue`
};
struct TokensConfig {
  std::vector<TokenKey> keys;   // `keys`
  Duration clock_skew = 30s;    // `clock_skew`: tolerance on exp/nbf
  Duration max_lifetime = 24h;  // `max_lifetime`: longest exp - nbf accepted
};

// `portal:` — optional self-service just-in-time access over HTTPS (absent = off). A user
// signs in (password + TOTP code, users from `users_file`), picks a route and gets a grant for
// the address the request came from plus a ready `.rdp` file.
struct PortalConfig {
  Endpoint address{"0.0.0.0:8443", "0.0.0.0", 8443};  // `address`: HTTPS; default 0.0.0.0:8443
  std::string cert_file;  // `tls.cert_file`: PEM certificate chain; required
  std::string key_file;   // `tls.key_file`: PEM private key; required, 0600 (secret_file.hpp)
  // `public_address`: the `host:port` written into `.rdp` files (`full address:s:`); a DNS
  // name is allowed. Required.
  Endpoint public_address;
  // `users_file`: one user per line, managed by `rdpgate user ...`; must be 0600 or stricter.
  // Default /etc/rdpgate/users. Read at start and at every reload.
  std::string users_file = "/etc/rdpgate/users";
  Duration grant_duration = 8h;       // `grant_duration`: a grant's default length; 1min..30d
  Duration max_grant_duration = 12h;  // `max_grant_duration`: the longest a user may ask for;
                                      // >= grant_duration, at most 30d
  // `trusted_proxies`: reverse proxies in front of the portal. Only a request from one of these
  // has its X-Forwarded-For believed (the rightmost address not itself trusted). Default [].
  std::vector<Cidr> trusted_proxies;
  // Not keys: a signed-in session lasts this long without use, and at most session_max.
  Duration session_idle = 15min;
  Duration session_max = 8h;
};

struct Config {
  std::string file;  // the file it was loaded from
  std::uint32_t workers =
      0;  // `workers`: I/O threads; 0 = one per CPU rdpgate may use (affinity, cgroup quota)
  std::string user;                       // `user`: drop privileges to it after binding
  std::string group;                      // `group`
  bool allow_root = false;                // `allow_root`: run as root without `user`
  std::vector<ListenerConfig> listeners;  // `listeners`: at least one
  SourcesConfig sources;                  // global `sources` (listeners hold the merged copies)
  InspectionConfig inspection;            // global `inspection`
  std::vector<RouteConfig> routes;        // `routes`: at least one
  SessionConfig session;
  ShutdownConfig shutdown;
  BruteforceConfig bruteforce;
  MetricsConfig metrics;
  AdminConfig admin;
  StateConfig state;
  LoggingConfig logging;
  TokensConfig tokens;
  std::optional<PortalConfig> portal;  // `portal`: absent = off
};

}  // namespace rdpgate::config
