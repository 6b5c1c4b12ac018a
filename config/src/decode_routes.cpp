// Stage 1, continued: `routes:` (with their health checks) and `tokens:`.

#include "decode.hpp"

namespace rdpgate::config::detail {

namespace {

std::optional<HealthCheckConfig> decode_health_check(Walker& walker, const Field& field) {
  const MapReader map{walker, field, {"interval", "timeout", "rdp_probe", "rise", "fall"}};
  if (!map.valid()) return std::nullopt;
  HealthCheckConfig check;
  if (auto f = map.get("interval")) set(check.interval, walker.duration(*f, 100ms, 1h));
  std::optional<Field> timeout = map.get("timeout");
  if (timeout) set(check.timeout, walker.duration(*timeout, 10ms, 1h));
  if (auto f = map.get("rdp_probe")) set(check.rdp_probe, walker.boolean(*f));
  if (auto f = map.get("rise")) set(check.rise, walker.integer(*f, 1, 100));
  if (auto f = map.get("fall")) set(check.fall, walker.integer(*f, 1, 100));
  if (check.timeout > check.interval) {
    walker.error(timeout ? timeout->where : map.where(),
                 "timeout " + format_duration(check.timeout) + " exceeds interval " +
                     format_duration(check.interval));
  }
  return check;
}

}  // namespace

void decode_routes(Walker& walker, const Field& field, Decoded& out) {
  const auto elements = walker.sequence(field);
  if (field.node.IsSequence() && elements.empty()) {
    walker.error(field.where, "at least one route is required");
  }
  for (const auto& element : elements) {
    RouteConfig route;
    RouteMarks marks;
    marks.self = element.where;
    const MapReader map{walker,
                        element,
                        {"name", "match", "backends", "balance", "connect_timeout",
                         "forward_preconnection", "health_check", "mode", "require_token"}};
    if (auto f = map.require("name")) {
      marks.name = f->where;
      set(route.name, name(walker, *f));
    }
    if (auto f = map.get("match")) {
      const MapReader match{walker, *f, {"username", "routing_token", "listener"}};
      route.has_match = match.valid();
      if (auto g = match.get("username")) route.match.username = walker.string(*g);
      if (auto g = match.get("routing_token")) route.match.routing_token = walker.string(*g);
      if (auto g = match.get("listener")) {
        marks.match_listener = g->where;
        route.match.listener = name(walker, *g);
      }
    }
    if (auto f = map.require("backends")) {
      const auto backends = walker.sequence(*f);
      if (f->node.IsSequence() && backends.empty()) {
        walker.error(f->where, "at least one backend is required");
      }
      for (const auto& backend : backends) {
        if (auto endpoint = walker.endpoint(backend, true, false)) {
          route.backends.push_back(std::move(*endpoint));
          marks.backends.push_back(backend.where);
        }
      }
    }
    if (auto f = map.get("balance")) {
      set(route.balance,
          walker.choice<Balance>(*f, {{"least_connections", Balance::least_connections},
                                      {"round_robin", Balance::round_robin},
                                      {"first", Balance::first}}));
    }
    if (auto f = map.get("connect_timeout"))
      set(route.connect_timeout, walker.duration(*f, 100ms, 60s));
    if (auto f = map.get("forward_preconnection")) {
      set(route.forward_preconnection, walker.boolean(*f));
    }
    if (auto f = map.get("health_check")) route.health_check = decode_health_check(walker, *f);
    if (auto f = map.get("mode")) set(route.mode, mode(walker, *f));
    if (auto f = map.get("require_token")) {
      marks.require_token = f->where;
      set(route.require_token, walker.boolean(*f));
    }
    out.config.routes.push_back(std::move(route));
    out.routes.push_back(std::move(marks));
  }
}

void decode_tokens(Walker& walker, const Field& field, Decoded& out) {
  TokensConfig& tokens = out.config.tokens;
  const MapReader map{walker, field, {"keys", "clock_skew", "max_lifetime"}};
  if (auto f = map.get("keys")) {
    for (const auto& element : walker.sequence(*f)) {
      TokenKey key;
      Where id_mark;
      const MapReader k{
          walker,
          element,
          {"id", "alg", "secret_file", "secret_env", "public_key_file", "private_key_file"}};
      if (auto g = k.require("id")) {
        id_mark = g->where;
        set(key.id, walker.string(*g));
        if (key.id.empty()) walker.error(g->where, "empty key id");
      }
      std::optional<TokenAlgorithm> alg = key.algorithm;  // HS256 unless `alg` says otherwise
      if (auto g = k.get("alg")) {
        alg = walker.choice<TokenAlgorithm>(
            *g, {{"HS256", TokenAlgorithm::hs256}, {"EdDSA", TokenAlgorithm::eddsa}});
        set(key.algorithm, alg);
      }
      std::optional<Field> secret_file = k.get("secret_file");
      std::optional<Field> secret_env = k.get("secret_env");
      std::optional<Field> public_key = k.get("public_key_file");
      if (secret_file) set(key.secret_file, walker.string(*secret_file));
      if (secret_env) set(key.secret_env, walker.string(*secret_env));
      if (public_key) set(key.public_key_file, walker.string(*public_key));
      if (auto g = k.get("private_key_file")) set(key.private_key_file, walker.string(*g));
      // Which secret a key needs depends on its algorithm: judged only when that is known.
      if (k.valid() && alg) {
        if (key.algorithm == TokenAlgorithm::hs256) {
          if (secret_file && secret_env) {
            walker.error(secret_env->where, "set only one of secret_file and secret_env");
          } else if (key.secret_file.empty() && key.secret_env.empty()) {
            walker.error(k.where(), "an HS256 key needs secret_file or secret_env");
          }
          if (public_key) walker.error(public_key->where, "public_key_file is for EdDSA keys");
        } else {
          if (key.public_key_file.empty()) {
            walker.error(k.where(), "an EdDSA key needs public_key_file");
          }
          if (secret_file || secret_env) {
            walker.error((secret_file ? *secret_file : *secret_env).where,
                         "secret_file and secret_env are for HS256 keys");
          }
        }
      }
      tokens.keys.push_back(std::move(key));
      out.key_ids.push_back(std::move(id_mark));
    }
  }
  if (auto f = map.get("clock_skew")) set(tokens.clock_skew, walker.duration(*f, 0s, 10min));
  if (auto f = map.get("max_lifetime"))
    set(tokens.max_lifetime, walker.duration(*f, 1s, 365 * 24h));
}

}  // namespace rdpgate::config::detail
