#include "rdpgate/gateway/routing.hpp"

#include <algorithm>

#include "rdpgate/gateway/glob.hpp"
#include "rdpgate/security/grant_table.hpp"

namespace rdpgate::gateway {
namespace {

std::optional<Decision> check_route_access(const Policy& policy, Services& services,
                                           const Peer& peer, const RoutePolicy& route,
                                           const std::string& token_route,
                                           SystemClock::time_point now) {
  if (route.cfg.require_token && token_route != route.cfg.name) {
    return Decision::refuse(OutcomeKind::token_invalid,
                            token_route.empty() ? Why::token_required : Why::wrong_route);
  }
  // A route kept to one listener (`match.listener`) is not reached from another by a token.
  const auto& only = route.cfg.match.listener;
  if (!token_route.empty() && route.cfg.has_match && only &&
      *only != policy.listeners().at(peer.listener).cfg.name) {
    return Decision::refuse(OutcomeKind::token_invalid, Why::wrong_listener);
  }
  if (route.cfg.mode == config::AccessMode::jit) {
    const auto& allow = policy.listeners().at(peer.listener).cfg.sources.allow;
    const bool statically_allowed =
        allow && std::any_of(allow->begin(), allow->end(),
                             [&](const config::Cidr& c) { return c.contains(peer.address); });
    const bool granted =
        services.grants != nullptr && services.grants->allows(peer.address, route.cfg.name, now);
    if (!statically_allowed && !granted) {
      return Decision::refuse(OutcomeKind::denied_source, Why::no_grant);
    }
  }
  return std::nullopt;
}

}  // namespace

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
    if (m.username &&
        !(request.has_cookie ? glob_match(*m.username, request.user) : *m.username == "*")) {
      continue;
    }
    if (m.routing_token && (request.routing_token.empty() ||
                            !glob_match(*m.routing_token, request.routing_token, false))) {
      continue;
    }
    return i;
  }
  if (!listener.route.empty()) return find_route(listener.route);
  return std::nullopt;
}

std::variant<const RoutePolicy*, Decision> route_request(const Policy& policy, Services& services,
                                                         const Peer& peer, const Request& request,
                                                         const std::string& token_route,
                                                         SystemClock::time_point now) {
  const auto index =
      policy.choose_route(peer, request, token_route.empty() ? nullptr : &token_route);
  if (!index) {
    return token_route.empty() ? Decision::refuse(OutcomeKind::no_route, Why::no_route)
                               : Decision::refuse(OutcomeKind::token_invalid, Why::unknown_route);
  }
  const auto& route = policy.routes()[*index];
  if (auto refusal = check_route_access(policy, services, peer, route, token_route, now)) {
    return *refusal;
  }
  return &route;
}

}  // namespace rdpgate::gateway
