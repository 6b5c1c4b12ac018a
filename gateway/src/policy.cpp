#include "rdpgate/gateway/policy.hpp"

#include "rdpgate/gateway/filters.hpp"
#include "rdpgate/gateway/glob.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {

Request Request::from(const protocol::FirstFlight& flight) {
  Request r;
  r.direct_tls = flight.tls.has_value();
  r.preconnection = flight.preconnection;
  r.preconnection_size = flight.preconnection_size;
  if (flight.request) {
    const auto& cr = *flight.request;
    r.has_cookie = cr.has_cookie;
    r.user = std::string(cr.cookie);
    r.token_kind = cr.token_kind;
    r.routing_token = std::string(cr.routing_token);
    if (cr.token_size != 0) {
      r.token_offset = flight.preconnection_size + cr.token_offset;
      r.token_size = cr.token_size;
    }
    r.has_negotiation = cr.negotiation.has_value();
    if (cr.negotiation) {
      r.negotiation_flags = cr.negotiation->flags;
      r.requested_protocols = cr.negotiation->requested_protocols;
    }
    if (cr.correlation) r.correlation_id = cr.correlation->id;
    r.src_ref = cr.src_ref;
  }
  if (flight.tls) r.sni = std::string(flight.tls->sni);
  return r;
}

std::shared_ptr<const Policy> Policy::build(config::Config cfg, Services& services,
                                            std::shared_ptr<const security::TokenVerifier> tokens) {
  auto p = std::make_shared<Policy>();
  p->tokens_ = std::move(tokens);
  services.pools.update(cfg.routes);
  for (const auto& lc : cfg.listeners) {
    ListenerPolicy lp;
    lp.cfg = lc;
    lp.metrics = &services.metrics.listener(lc.name);
    lp.limits.max_total = lc.inspection.max_bytes;
    if (lc.proxy_protocol) lp.trusted_proxies = config::CidrSet(lc.proxy_protocol->trusted);
    const auto& s = lc.sources;
    if (!s.deny.empty()) lp.admission.push_back(std::make_unique<SourceDenyList>(config::CidrSet(s.deny)));
    lp.admission.push_back(std::make_unique<BanCheck>(services));
    std::optional<config::CidrSet> allow;
    if (s.allow) allow = config::CidrSet(*s.allow);
    lp.admission.push_back(std::make_unique<SourceAllowList>(
        std::move(allow), lc.mode == config::AccessMode::jit, services));
    if (s.per_source_rate.per_second > 0) {
      lp.admission.push_back(std::make_unique<SourceRateLimit>(
          services.rate_limiter(lc.name), s.per_source_rate, s.per_source_burst));
    }
    const auto& i = lc.inspection;
    lp.request.push_back(std::make_unique<ProtocolRequirement>(i.require_protocols, i.require_any, i.accept_rdp));
    lp.request.push_back(std::make_unique<UsernamePolicy>(i.username_allow, i.username_deny));
    lp.request.push_back(std::make_unique<UsernameThrottle>(services));
    p->listeners_.push_back(std::move(lp));
  }
  for (const auto& rc : cfg.routes) {
    RoutePolicy rp;
    rp.cfg = rc;
    rp.pool = services.pools.get(rc.name);
    rp.metrics = &services.metrics.route(rc.name);
    p->routes_.push_back(std::move(rp));
  }
  p->config_ = std::move(cfg);
  return p;
}

std::optional<std::size_t> Policy::find_listener(const std::string& name) const {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i].cfg.name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Policy::find_route(const std::string& name) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].cfg.name == name) return i;
  }
  return std::nullopt;
}

Decision Policy::admit(const Peer& peer, SystemClock::time_point now) const {
  for (const auto& f : listeners_.at(peer.listener).admission) {
    if (auto d = f->on_admission(peer, now); d.refused()) return d;
  }
  return Decision::pass();
}

Decision Policy::check(const Peer& peer, const Request& request,
                       SystemClock::time_point now) const {
  for (const auto& f : listeners_.at(peer.listener).request) {
    if (auto d = f->on_request(peer, request, now); d.refused()) return d;
  }
  return Decision::pass();
}

std::optional<std::size_t> Policy::choose_route(const Peer& peer, const Request& request,
                                                const std::string* token_route) const {
  if (token_route != nullptr) {
    // A route that requires a token of its own is not left through a token naming another
    // route: it stays the choice, and the route access check refuses it (`wrong_route`).
    const auto chosen = choose_route(peer, request, nullptr);
    if (chosen && routes_[*chosen].cfg.require_token) return chosen;
    return find_route(*token_route);
  }
  const auto& listener = listeners_.at(peer.listener).cfg;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& r = routes_[i].cfg;
    if (!r.has_match) continue;
    const auto& m = r.match;
    if (m.listener && *m.listener != listener.name) continue;
    if (m.username && !(request.has_cookie ? glob_match(*m.username, request.user)
                                           : *m.username == "*")) {
      continue;
    }
    if (m.routing_token &&
        (request.routing_token.empty() || !glob_match(*m.routing_token, request.routing_token, false))) {
      continue;
    }
    if (m.token_route) continue;  // only reachable through a token naming it
    return i;
  }
  if (!listener.route.empty()) return find_route(listener.route);
  return std::nullopt;
}

}  // namespace rdpgate::gateway
