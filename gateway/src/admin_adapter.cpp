#include "rdpgate/gateway/admin_adapter.hpp"

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"
#include "rdpgate/state/health.hpp"

namespace rdpgate::gateway {
namespace {

// `/v1/bans/{cidr}` writes the CIDR's `/` as `_`.
std::string cidr_from_path(std::string_view text) {
  std::string s(text);
  for (auto& c : s) {
    if (c == '_') c = '/';
  }
  return s;
}

std::string bad_cidr(std::string_view text, const std::string& error) {
  return "bad cidr \"" + std::string(text) + "\"" + (error.empty() ? "" : ": " + error);
}

}  // namespace

void AdminAdapter::sync_gauges() {
  const auto now = SystemClock::now();
  p_.metrics.bans_active().Set(static_cast<double>(p_.bans.active_count(now)));
  p_.metrics.usernames_throttled().Set(static_cast<double>(p_.bans.blocked_username_count(now)));
  p_.metrics.grants_active().Set(static_cast<double>(p_.grants.active_count(now)));
}

std::vector<admin::SessionView> AdminAdapter::list_sessions() {
  std::vector<admin::SessionView> out;
  for (auto& s : p_.registry.list()) {
    out.push_back({s.id, s.source, s.listener, s.route, s.backend, s.user, s.started, s.bytes_in,
                   s.bytes_out});
  }
  return out;
}

bool AdminAdapter::kill_session(std::string_view id) {
  return p_.registry.stop(std::string(id), OutcomeKind::killed);
}

std::vector<admin::BanView> AdminAdapter::list_bans() {
  std::vector<admin::BanView> out;
  for (const auto& b : p_.bans.list(SystemClock::now())) {
    out.push_back({b.cidr.to_string(), b.until, b.reason,
                   b.origin == security::BanOrigin::manual ? "manual" : "auto", b.observed});
  }
  return out;
}

std::variant<admin::BanView, std::string> AdminAdapter::add_ban(std::string_view cidr_text,
                                                                config::Duration duration,
                                                                std::string_view reason) {
  std::string error;
  auto cidr = config::parse_cidr(cidr_text, &error);
  if (!cidr) return bad_cidr(cidr_text, error);
  if (duration.count() <= 0) return std::string("duration must be positive");
  auto ban = p_.bans.ban(*cidr, duration, std::string(reason), SystemClock::now());
  p_.metrics.bans_total(true).Increment();
  sync_gauges();
  log_event(spdlog::level::warn, "ban",
            {{"cidr", ban.cidr.to_string()},
             {"origin", "manual"},
             {"until", rfc3339(ban.until)},
             {"reason", ban.reason}});
  // Sessions already relaying from the banned range are left alone; new ones are refused.
  return admin::BanView{ban.cidr.to_string(), ban.until, ban.reason, "manual"};
}

bool AdminAdapter::remove_ban(std::string_view cidr_text) {
  auto cidr = config::parse_cidr(cidr_from_path(cidr_text));
  if (!cidr) return false;
  const bool removed = p_.bans.unban(*cidr);
  if (removed) log_event(spdlog::level::warn, "unban", {{"cidr", cidr->to_string()}});
  sync_gauges();
  return removed;
}

std::vector<admin::GrantView> AdminAdapter::list_grants() {
  std::vector<admin::GrantView> out;
  for (const auto& g : p_.grants.list(SystemClock::now())) {
    out.push_back({g.id, g.cidr.to_string(), g.route, g.until, g.reason});
  }
  return out;
}

std::variant<admin::GrantView, std::string> AdminAdapter::add_grant(std::string_view cidr_text,
                                                                    std::string_view route,
                                                                    config::Duration duration,
                                                                    std::string_view reason) {
  std::string error;
  auto cidr = config::parse_cidr(cidr_text, &error);
  if (!cidr) return bad_cidr(cidr_text, error);
  if (route != "*" && !p_.policies.current()->find_route(std::string(route))) {
    return "unknown route \"" + std::string(route) + "\"";
  }
  if (duration.count() <= 0) return std::string("duration must be positive");
  auto added =
      p_.grants.add(*cidr, std::string(route), duration, std::string(reason), SystemClock::now());
  if (auto* err = std::get_if<std::string>(&added)) return *err;
  const auto& g = std::get<security::Grant>(added);
  p_.metrics.grants_total().Increment();
  sync_gauges();
  log_event(spdlog::level::warn, "grant",
            {{"id", g.id},
             {"cidr", g.cidr.to_string()},
             {"route", g.route},
             {"until", rfc3339(g.until)},
             {"reason", g.reason}});
  return admin::GrantView{g.id, g.cidr.to_string(), g.route, g.until, g.reason};
}

bool AdminAdapter::revoke_grant(std::string_view id) {
  const bool revoked = p_.grants.revoke(id);
  if (revoked) log_event(spdlog::level::warn, "grant_revoked", {{"id", id}});
  sync_gauges();
  return revoked;
}

admin::HealthView AdminAdapter::health() {
  const auto s = p_.state.snapshot();
  admin::HealthView view;
  view.state_persistent = s.persistent;
  view.state_failures = s.failures;
  view.state_last_error = s.last_error;
  if (!s.last_error.empty()) view.state_last_failure = s.last_failure;
  return view;
}

}  // namespace rdpgate::gateway
