// JSON shapes of the admin API and RFC 3339 timestamps.

#include "rdpgate/admin/json.hpp"

#include <boost/json.hpp>
#include <cstdio>

namespace rdpgate::admin {

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto seconds = floor<std::chrono::seconds>(time);
  const auto day = floor<days>(seconds);
  const year_month_day date{day};
  const hh_mm_ss clock{seconds - day};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return text;
}

boost::json::value to_json(const SessionView& session) {
  return boost::json::object{{"id", session.id},
                             {"source", session.source},
                             {"listener", session.listener},
                             {"route", session.route},
                             {"backend", session.backend},
                             {"user", session.user},
                             {"started", format_rfc3339(session.started)},
                             {"bytes_in", session.bytes_in},
                             {"bytes_out", session.bytes_out}};
}

boost::json::value to_json(const BanView& ban) {
  boost::json::object out{{"cidr", ban.cidr},
                          {"until", format_rfc3339(ban.until)},
                          {"reason", ban.reason},
                          {"origin", ban.origin}};
  // Only on bans computed in observe mode: an enforced ban keeps the contract's exact shape.
  if (ban.observed) out["observed"] = true;
  return out;
}

boost::json::value to_json(const GrantView& grant) {
  return boost::json::object{{"id", grant.id},
                             {"cidr", grant.cidr},
                             {"route", grant.route},
                             {"until", format_rfc3339(grant.until)},
                             {"reason", grant.reason}};
}

boost::json::value to_json(const HealthView& health, std::chrono::system_clock::time_point now) {
  boost::json::object state{{"persistent", health.state_persistent},
                            {"errors", health.state_failures},
                            {"last_error", health.state_last_error}};
  if (health.state_last_failure) {
    state["last_error_at"] = format_rfc3339(*health.state_last_failure);
  } else {
    state["last_error_at"] = nullptr;
  }
  return boost::json::object{{"status", health.degraded(now) ? "degraded" : "ok"},
                             {"state", std::move(state)}};
}

}  // namespace rdpgate::admin
