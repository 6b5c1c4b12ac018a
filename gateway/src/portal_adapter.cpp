#include "rdpgate/gateway/portal_adapter.hpp"

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {

std::variant<PortalKey, std::string> load_portal_key(const config::TokensConfig& tokens) {
  for (const auto& key : tokens.keys) {
    const bool has_signing_material = key.algorithm == config::TokenAlgorithm::hs256
                                          ? !key.secret_file.empty() || !key.secret_env.empty()
                                          : !key.private_key_file.empty();
    if (!has_signing_material) continue;
    auto material = security::load_token_key(key, true);
    if (auto* err = std::get_if<std::string>(&material)) return "portal: token key: " + *err;
    return PortalKey{std::get<security::TokenKeyMaterial>(std::move(material))};
  }
  return PortalKey{};
}

PortalAdapter::PortalAdapter(security::BanManager& bans, security::GrantTable& grants,
                             Metrics& metrics, const PolicyStore& policies)
    : bans_(bans), grants_(grants), metrics_(metrics), policies_(policies) {
  for (const auto result : {portal::SigninResult::success, portal::SigninResult::bad_credentials,
                            portal::SigninResult::banned, portal::SigninResult::throttled,
                            portal::SigninResult::bad_request}) {
    (void)metrics_.portal_signins(portal::to_string(result));  // every series from 0
  }
}

void PortalAdapter::set_key(PortalKey key) {
  std::lock_guard lock{key_mutex_};
  key_ = key ? std::make_shared<const security::TokenKeyMaterial>(std::move(*key)) : nullptr;
}

bool PortalAdapter::banned(const config::IpAddress& source, portal::TimePoint now) {
  return bans_.is_banned(source, now);
}

bool PortalAdapter::user_blocked(std::string_view user, portal::TimePoint now) {
  return bans_.username_blocked(user, now);
}

void PortalAdapter::signin_failed(const config::IpAddress& source, std::string_view user,
                                  portal::TimePoint now) {
  if (!policies_.current()->config().bruteforce.enabled) return;
  std::optional<security::Ban> prefix_ban;
  auto ban = bans_.record_failure(source, user, now, &prefix_ban);
  metrics_.usernames_throttled().Set(static_cast<double>(bans_.blocked_username_count(now)));
  for (const auto* created : {ban ? &*ban : nullptr, prefix_ban ? &*prefix_ban : nullptr}) {
    if (created == nullptr) continue;
    if (!created->observed) {
      metrics_.bans_total(false).Increment();
      metrics_.bans_active().Set(static_cast<double>(bans_.active_count(now)));
    }
    log_event(spdlog::level::warn, "ban",
              {{"cidr", created->cidr.to_string()},
               {"origin", "auto"},
               {"observed", created->observed},
               {"until", rfc3339(created->until)},
               {"offenses", created->offenses},
               {"reason", "portal sign-in failures"}});
  }
}

void PortalAdapter::signin(portal::SigninResult result, std::string_view user,
                           const config::IpAddress& source) {
  metrics_.portal_signins(portal::to_string(result)).Increment();
  // The user name and address only: never the password, code, session or CSRF token.
  log_event(result == portal::SigninResult::success ? spdlog::level::info : spdlog::level::warn,
            "portal_signin",
            {{"src", source.to_string()}, {"user", user}, {"result", portal::to_string(result)}});
}

bool PortalAdapter::route_exists(std::string_view route) {
  return policies_.current()->find_route(std::string(route)).has_value();
}

std::variant<security::Grant, std::string> PortalAdapter::add_grant(const config::Cidr& cidr,
                                                                    const std::string& route,
                                                                    config::Duration duration,
                                                                    const std::string& reason,
                                                                    std::string_view user) {
  const auto now = SystemClock::now();
  auto added = grants_.add(cidr, route, duration, reason, now);
  if (auto* err = std::get_if<std::string>(&added)) return *err;
  const auto& g = std::get<security::Grant>(added);
  metrics_.grants_total().Increment();
  metrics_.portal_grants().Increment();
  metrics_.grants_active().Set(static_cast<double>(grants_.active_count(now)));
  log_audit_event(spdlog::level::info, "grant",
                  {{"id", g.id},
                   {"cidr", g.cidr.to_string()},
                   {"route", g.route},
                   {"until", rfc3339(g.until)},
                   {"reason", g.reason},
                   {"origin", "portal"},
                   {"user", user}});
  return added;
}

std::vector<security::Grant> PortalAdapter::grants(portal::TimePoint now) {
  return grants_.list(now);
}

bool PortalAdapter::end_grant(std::string_view id, std::string_view user) {
  const bool revoked = grants_.revoke(id);
  if (revoked) {
    metrics_.grants_active().Set(static_cast<double>(grants_.active_count(SystemClock::now())));
    log_audit_event(spdlog::level::info, "grant_revoked",
                    {{"id", id}, {"origin", "portal"}, {"user", user}});
  }
  return revoked;
}

PortalAdapter::SignedToken PortalAdapter::routing_token(const std::string& route,
                                                        const config::Cidr& source,
                                                        portal::TimePoint until) {
  std::shared_ptr<const security::TokenKeyMaterial> key;
  {
    std::lock_guard lock{key_mutex_};
    key = key_;
  }
  if (!key) return {};
  const auto now = SystemClock::now();
  security::TokenRequest request;
  request.route = route;
  request.not_before = now;
  // No longer than the verifier accepts (tokens.max_lifetime), and never past the grant.
  const auto longest = now + policies_.current()->config().tokens.max_lifetime;
  request.expires = std::min(until, longest);
  request.source = source;
  auto issued = security::issue_routing_token(*key, request);
  if (auto* err = std::get_if<std::string>(&issued)) {
    log_event(spdlog::level::err, "portal_token_failed", {{"route", route}, {"error", *err}});
    return {"", *err};
  }
  return {std::get<security::IssuedToken>(issued).token, ""};
}

}  // namespace rdpgate::gateway
