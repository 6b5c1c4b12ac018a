#include "rdpgate/gateway/session_hooks.hpp"

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {
namespace {

// A compact JWS: three base64url segments separated by two dots.
bool looks_like_jws(std::string_view s) {
  if (s.size() < 5 || s.size() > security::TokenVerifier::max_jws_size) return false;
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_')) {
      return false;
    }
  }
  return dots == 2;
}

}  // namespace

std::optional<Decision> check_token(const Policy& policy, Services& services, const Peer& peer,
                                    const Request& request, SystemClock::time_point now,
                                    std::string& token_route, bool& consumed) {
  const auto* verifier = policy.tokens();
  std::string_view candidate;
  bool from_routing_token = false;
  if (request.token_kind == protocol::TokenKind::other &&
      security::TokenVerifier::is_routing_token(request.routing_token)) {
    candidate = request.routing_token;
    from_routing_token = true;
  } else if (verifier != nullptr && request.preconnection &&
             looks_like_jws(request.preconnection->blob)) {
    // Without configured keys a PCB string is someone else's (a Hyper-V VM id, ...): ignore it.
    candidate = request.preconnection->blob;
  }
  if (candidate.empty()) return std::nullopt;
  if (verifier == nullptr) {
    services.metrics.token_invalid().Increment();
    return Decision::refuse(OutcomeKind::token_invalid, "tokens_not_configured");
  }
  auto result = verifier->verify(candidate, peer.address, now);
  if (auto* err = std::get_if<security::TokenError>(&result)) {
    services.metrics.token_invalid().Increment();
    return Decision::refuse(OutcomeKind::token_invalid, std::string(security::token_to_string(*err)));
  }
  services.metrics.token_valid().Increment();
  token_route = std::get<security::TokenClaims>(result).route;
  consumed = from_routing_token;
  return std::nullopt;
}

std::optional<Decision> check_route_access(const Policy& policy, Services& services,
                                           const Peer& peer, const RoutePolicy& route,
                                           const std::string& token_route,
                                           SystemClock::time_point now) {
  if (route.cfg.require_token && token_route != route.cfg.name) {
    return Decision::refuse(OutcomeKind::token_invalid,
                            token_route.empty() ? "token_required" : "wrong_route");
  }
  if (route.cfg.mode == config::AccessMode::jit) {
    const auto& allow = policy.listeners().at(peer.listener).cfg.sources.allow;
    const bool statically_allowed =
        allow && std::any_of(allow->begin(), allow->end(),
                             [&](const config::Cidr& c) { return c.contains(peer.address); });
    const bool granted = services.grants != nullptr &&
                         services.grants->allows(peer.address, route.cfg.name, now);
    if (!statically_allowed && !granted) {
      return Decision::refuse(OutcomeKind::denied_source, "no_grant");
    }
  }
  return std::nullopt;
}

void on_auth_failure(Services& services, const config::Config& cfg, const Peer& peer,
                     std::string_view user, std::string_view conn) {
  services.metrics.auth_failures().Increment();
  if (services.bans == nullptr || !cfg.bruteforce.enabled) return;
  const auto now = SystemClock::now();
  auto ban = services.bans->record_failure(peer.address, user, now);
  if (ban) {
    services.metrics.bans_total(false).Increment();
    services.metrics.bans_active().Set(static_cast<double>(services.bans->active_count(now)));
    log_event(spdlog::level::warn, "ban",
              {{"conn", conn},
               {"cidr", ban->cidr.to_string()},
               {"origin", "auto"},
               {"until", rfc3339(ban->until)},
               {"offenses", ban->offenses},
               {"reason", ban->reason}});
  }
}

}  // namespace rdpgate::gateway
