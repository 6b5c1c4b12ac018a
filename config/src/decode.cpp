// Stage 1: YAML nodes -> Config, with types, syntaxes and bounds checked per value.
// Bounds are those documented in config.hpp; keep the two in step.

#include "decode.hpp"

#include <algorithm>
#include <limits>

namespace rdpgate::config::detail {
namespace {

constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
constexpr Duration forever = std::chrono::hours{24 * 365 * 100};

// Globs on a username cookie: non-empty, printable.
std::optional<std::vector<std::string>> globs(Walker& walker, const Field& field) {
  auto list = walker.strings(field);
  if (!list) return std::nullopt;
  const auto elements = walker.sequence(field);
  for (std::size_t i = 0; i < list->size(); ++i) {
    if ((*list)[i].empty()) walker.error(elements[i].where, "empty pattern");
  }
  return list;
}

// Writes into `into` only the keys present, so that a listener's `sources:` decoded onto a
// copy of the global values overrides just the keys it names (`per_source` keys one by one).
void decode_sources(Walker& walker, const Field& field, SourcesConfig& into) {
  const MapReader map{
      walker, field, {"allow", "deny", "max_connections", "per_source", "observe_only"}};
  if (auto f = map.get("observe_only")) set(into.observe_only, walker.boolean(*f));
  if (auto f = map.get("allow")) {
    if (auto list = walker.cidrs(*f)) into.allow = std::move(*list);
  }
  if (auto f = map.get("deny")) {
    if (auto list = walker.cidrs(*f)) into.deny = std::move(*list);
  }
  if (auto f = map.get("max_connections"))
    set(into.max_connections, walker.integer(*f, 0, u32_max));
  if (auto f = map.get("per_source")) {
    const MapReader per{
        walker, *f, {"max_connections", "rate", "burst", "ipv4_prefix", "ipv6_prefix"}};
    if (auto g = per.get("ipv4_prefix")) {
      set(into.per_source_ipv4_prefix, walker.integer(*g, 8, 32));
    }
    if (auto g = per.get("ipv6_prefix")) {
      set(into.per_source_ipv6_prefix, walker.integer(*g, 16, 128));
    }
    if (auto g = per.get("max_connections")) {
      set(into.per_source_max_connections, walker.integer(*g, 0, u32_max));
    }
    if (auto g = per.get("rate")) set(into.per_source_rate, walker.rate(*g));
    if (auto g = per.get("burst")) set(into.per_source_burst, walker.integer(*g, 1, u32_max));
  }
}

void decode_inspection(Walker& walker, const Field& field, InspectionConfig& into) {
  const MapReader map{walker,
                      field,
                      {"timeout", "max_bytes", "require_protocols", "usernames", "direct_approach",
                       "observe_only"}};
  if (auto f = map.get("observe_only")) set(into.observe_only, walker.boolean(*f));
  if (auto f = map.get("timeout")) set(into.timeout, walker.duration(*f, 100ms, 60s));
  if (auto f = map.get("max_bytes")) set(into.max_bytes, walker.size(*f, 64, 64 * 1024));
  if (auto f = map.get("require_protocols")) {
    if (!f->node.IsSequence()) {
      (void)walker.sequence(*f);  // reports the type error
    } else {
      std::uint32_t bits = 0;
      bool rdp = false;
      bool ok = true;
      const auto elements = walker.sequence(*f);
      for (const auto& element : elements) {
        // [MS-RDPBCGR] 2.2.1.1.1 requestedProtocols; PROTOCOL_RDP is the absence of bits.
        const auto bit = walker.choice<std::uint32_t>(element, {{"rdp", 0x0},
                                                                {"ssl", 0x1},
                                                                {"hybrid", 0x2},
                                                                {"rdstls", 0x4},
                                                                {"hybrid_ex", 0x8},
                                                                {"rdsaad", 0x10}});
        if (!bit) {
          ok = false;
          continue;
        }
        if (*bit == 0) rdp = true;
        bits |= *bit;
      }
      if (ok) {
        into.require_protocols = bits;
        into.accept_rdp = rdp || elements.empty();
        into.require_any = !elements.empty();
      }
    }
  }
  if (auto f = map.get("usernames")) {
    const MapReader users{walker, *f, {"allow", "deny"}};
    if (auto g = users.get("allow")) set(into.username_allow, globs(walker, *g));
    if (auto g = users.get("deny")) set(into.username_deny, globs(walker, *g));
  }
  if (auto f = map.get("direct_approach")) set(into.direct_approach, walker.boolean(*f));
}

void decode_listeners(Walker& walker, const Field& field, Decoded& out) {
  const auto elements = walker.sequence(field);
  if (field.node.IsSequence() && elements.empty()) {
    walker.error(field.where, "at least one listener is required");
  }
  for (const auto& element : elements) {
    ListenerConfig listener;
    listener.sources = out.config.sources;
    listener.inspection = out.config.inspection;
    ListenerMarks marks;
    marks.self = element.where;
    const MapReader map{walker,
                        element,
                        {"name", "address", "route", "proxy_protocol", "sources", "inspection",
                         "mode", "defer_accept"}};
    if (auto f = map.require("name")) {
      marks.name = f->where;
      set(listener.name, name(walker, *f));
    }
    if (auto f = map.require("address")) {
      marks.address = f->where;
      set(listener.address, walker.endpoint(*f, false, true));
    }
    if (auto f = map.get("route")) {
      marks.route = f->where;
      set(listener.route, name(walker, *f));
    }
    if (auto f = map.get("proxy_protocol")) {
      const MapReader proxy{walker, *f, {"trusted"}};
      ProxyProtocolConfig config;
      if (auto g = proxy.require("trusted")) set(config.trusted, walker.cidrs(*g));
      if (proxy.valid()) listener.proxy_protocol = std::move(config);
    }
    if (auto f = map.get("sources")) decode_sources(walker, *f, listener.sources);
    if (auto f = map.get("inspection")) decode_inspection(walker, *f, listener.inspection);
    if (auto f = map.get("mode")) set(listener.mode, mode(walker, *f));
    if (auto f = map.get("defer_accept")) set(listener.defer_accept, walker.boolean(*f));
    out.config.listeners.push_back(std::move(listener));
    out.listeners.push_back(std::move(marks));
  }
}

void decode_bruteforce(Walker& walker, const Field& field, BruteforceConfig& into) {
  const MapReader map{
      walker,
      field,
      {"enabled", "find_time", "max_failures", "ban_time", "ban_time_factor", "ban_time_max",
       "exempt", "inference", "username", "prefix_ban", "observe_only"}};
  if (auto f = map.get("enabled")) set(into.enabled, walker.boolean(*f));
  if (auto f = map.get("observe_only")) set(into.observe_only, walker.boolean(*f));
  if (auto f = map.get("find_time")) set(into.find_time, walker.duration(*f, 1s, 30 * 24h));
  if (auto f = map.get("max_failures")) set(into.max_failures, walker.integer(*f, 1, 1000000));
  if (auto f = map.get("ban_time")) set(into.ban_time, walker.duration(*f, 1s, 365 * 24h));
  if (auto f = map.get("ban_time_factor")) set(into.ban_time_factor, walker.number(*f, 1, 100));
  std::optional<Field> max = map.get("ban_time_max");
  if (max) set(into.ban_time_max, walker.duration(*max, 1s, 365 * 24h));
  if (into.ban_time_max < into.ban_time) {
    walker.error(max ? max->where : map.where(),
                 "ban_time_max " + format_duration(into.ban_time_max) + " is below ban_time " +
                     format_duration(into.ban_time));
  }
  if (auto f = map.get("exempt")) set(into.exempt, walker.cidrs(*f));
  if (auto f = map.get("inference")) {
    const MapReader inference{walker, *f, {"max_duration", "max_server_bytes"}};
    if (auto g = inference.get("max_duration")) {
      set(into.failure_max_duration, walker.duration(*g, 100ms, 10min));
    }
    if (auto g = inference.get("max_server_bytes")) {
      set(into.failure_max_server_bytes, walker.size(*g, 1, 64ULL << 20));
    }
  }
  if (auto f = map.get("prefix_ban")) {
    const MapReader prefix{walker, *f, {"threshold", "ipv4", "ipv6"}};
    if (auto g = prefix.get("threshold")) {
      set(into.prefix_ban_threshold, walker.integer(*g, 0, 1000));
    }
    if (auto g = prefix.get("ipv4")) set(into.prefix_ban_ipv4, walker.integer(*g, 8, 32));
    if (auto g = prefix.get("ipv6")) set(into.prefix_ban_ipv6, walker.integer(*g, 16, 128));
  }
  if (auto f = map.get("username")) {
    const MapReader user{walker, *f, {"max_failures", "find_time", "block_time"}};
    if (auto g = user.get("max_failures")) {
      set(into.username_max_failures, walker.integer(*g, 0, 1000000));
    }
    if (auto g = user.get("find_time"))
      set(into.username_find_time, walker.duration(*g, 1s, 30 * 24h));
    if (auto g = user.get("block_time")) {
      set(into.username_block_time, walker.duration(*g, 1s, 365 * 24h));
    }
  }
}

// `metrics:` / `admin:`: an empty `address` turns the endpoint off.
void decode_listen_address(Walker& walker, const Field& field, bool& enabled, Endpoint& address,
                           Where& mark) {
  mark = field.where;
  if (field.node.IsScalar() && field.node.Scalar().empty()) {
    enabled = false;
    return;
  }
  enabled = true;
  set(address, walker.endpoint(field, false, true));
}

void decode_admin(Walker& walker, const Field& field, Decoded& out) {
  AdminConfig& admin = out.config.admin;
  const MapReader map{walker, field, {"address", "token_file", "token_env"}};
  if (auto f = map.get("address")) {
    decode_listen_address(walker, *f, admin.enabled, admin.address, out.admin_address);
  }
  std::optional<Field> file = map.get("token_file");
  std::optional<Field> env = map.get("token_env");
  if (file) set(admin.token_file, walker.string(*file));
  if (env) set(admin.token_env, walker.string(*env));
  if (file && env) {
    walker.error(env->where, "set only one of token_file and token_env");
  } else if (admin.enabled && map.valid() && admin.token_file.empty() && admin.token_env.empty()) {
    walker.error((file  ? *file
                  : env ? *env
                        : Field{field.node, map.where()})
                     .where,
                 "the admin API needs token_file or token_env (or address: \"\" to turn it off)");
  }
}

}  // namespace

void decode_redis(Walker& walker, const Field& field, RedisConfig& redis) {
  const MapReader map{
      walker, field, {"address", "password_file", "key_prefix", "db", "replay_when_down"}};
  if (!map.valid()) return;
  if (auto f = map.get("address")) {
    set(redis.address, walker.endpoint(*f, true, false));
  } else {
    walker.error(field.where, "missing required key \"address\" (host:port of the Redis server)");
  }
  if (auto f = map.get("password_file")) set(redis.password_file, walker.string(*f));
  if (auto f = map.get("key_prefix")) set(redis.key_prefix, walker.string(*f));
  if (auto f = map.get("db")) set(redis.db, walker.integer(*f, 0, 1023));
  if (auto f = map.get("replay_when_down")) {
    set(redis.replay_when_down,
        walker.choice<ReplayWhenDown>(
            *f, {{"refuse", ReplayWhenDown::refuse}, {"local", ReplayWhenDown::local}}));
  }
}

Decoded decode(Walker& walker, const YAML::Node& document) {
  Decoded out;
  const Field root = walker.root(document);
  out.root = root.where;
  if (document.IsNull()) {
    walker.error(root.where, "empty configuration: at least listeners and routes are required");
    return out;
  }
  const MapReader map{walker,
                      root,
                      {"workers", "user", "group", "allow_root", "listeners", "sources",
                       "inspection", "routes", "session", "shutdown", "bruteforce", "metrics",
                       "admin", "state", "logging", "tokens", "portal"}};
  if (!map.valid()) return out;
  Config& config = out.config;
  if (auto f = map.get("workers")) set(config.workers, walker.integer(*f, 0, 1024));
  if (auto f = map.get("user")) set(config.user, walker.string(*f));
  if (auto f = map.get("group")) set(config.group, walker.string(*f));
  if (auto f = map.get("allow_root")) set(config.allow_root, walker.boolean(*f));
  // Globals first: listeners start from them.
  if (auto f = map.get("sources")) decode_sources(walker, *f, config.sources);
  if (auto f = map.get("inspection")) decode_inspection(walker, *f, config.inspection);
  if (auto f = map.require("listeners")) decode_listeners(walker, *f, out);
  if (auto f = map.require("routes")) decode_routes(walker, *f, out);
  if (auto f = map.get("session")) {
    const MapReader session{walker, *f, {"idle_timeout", "max_duration"}};
    if (auto g = session.get("idle_timeout")) {
      set(config.session.idle_timeout, walker.duration(*g, 0s, forever));
    }
    if (auto g = session.get("max_duration")) {
      set(config.session.max_duration, walker.duration(*g, 0s, forever));
    }
  }
  if (auto f = map.get("shutdown")) {
    const MapReader shutdown{walker, *f, {"drain_timeout"}};
    if (auto g = shutdown.get("drain_timeout")) {
      set(config.shutdown.drain_timeout, walker.duration(*g, 0s, 1h));
    }
  }
  if (auto f = map.get("bruteforce")) decode_bruteforce(walker, *f, config.bruteforce);
  config.bruteforce.source_ipv4_prefix = config.sources.per_source_ipv4_prefix;
  config.bruteforce.source_ipv6_prefix = config.sources.per_source_ipv6_prefix;
  if (auto f = map.get("metrics")) {
    const MapReader metrics{walker, *f, {"address"}};
    if (auto g = metrics.get("address")) {
      decode_listen_address(walker, *g, config.metrics.enabled, config.metrics.address,
                            out.metrics_address);
    }
  }
  if (auto f = map.get("admin")) {
    decode_admin(walker, *f, out);
  } else {
    walker.error(root.where,
                 "missing required key \"admin\" (the admin API needs token_file or token_env; "
                 "admin: {address: \"\"} turns it off)");
  }
  if (auto f = map.get("state")) {
    const MapReader state{walker, *f, {"path", "required", "redis"}};
    if (auto g = state.get("path")) {
      set(config.state.path, walker.string(*g));
      if (config.state.path.empty()) walker.error(g->where, "empty path");
    }
    if (auto g = state.get("required")) set(config.state.required, walker.boolean(*g));
    if (auto g = state.get("redis")) decode_redis(walker, *g, config.state.redis.emplace());
  }
  if (auto f = map.get("logging")) {
    const MapReader logging{walker, *f, {"level", "format", "file", "audit_file", "queue_lines"}};
    if (auto g = logging.get("level")) {
      const auto level = walker.choice<int>(*g, {{"trace", 0},
                                                 {"debug", 1},
                                                 {"info", 2},
                                                 {"warn", 3},
                                                 {"error", 4},
                                                 {"critical", 5},
                                                 {"off", 6}});
      if (level) config.logging.level = g->node.Scalar();
    }
    if (auto g = logging.get("format")) {
      set(config.logging.format,
          walker.choice<LogFormat>(*g, {{"text", LogFormat::text}, {"json", LogFormat::json}}));
    }
    if (auto g = logging.get("file")) set(config.logging.file, walker.string(*g));
    if (auto g = logging.get("audit_file")) {
      set(config.logging.audit_file, walker.string(*g));
      if (!config.logging.audit_file.empty() && config.logging.audit_file == config.logging.file) {
        walker.error(g->where,
                     "audit_file is the same file as logging.file (leave it out to "
                     "keep the audit records with the other lines)");
      }
    }
    if (auto g = logging.get("queue_lines")) {
      set(config.logging.queue_lines, walker.integer(*g, 16, 1 << 20));
    }
  }
  if (auto f = map.get("tokens")) decode_tokens(walker, *f, out);
  if (auto f = map.get("portal")) decode_portal(walker, *f, out);
  return out;
}

}  // namespace rdpgate::config::detail
