#pragma once
// JSON shapes of the admin API (SPEC §8 "Admin API") and RFC 3339 timestamps.

#include <boost/json/value.hpp>
#include <chrono>
#include <string>

#include "rdpgate/admin/service.hpp"

namespace rdpgate::admin {

// "2026-11-22T10:00:00Z": UTC, whole seconds (sub-second parts are truncated toward the past).
[[nodiscard]] std::string format_rfc3339(std::chrono::system_clock::time_point time);

// {id, source, listener, route, backend, user, started, bytes_in, bytes_out}
[[nodiscard]] boost::json::value to_json(const SessionView& session);
// {cidr, until, reason, origin}, and `"observed": true` on a ban computed in observe mode
[[nodiscard]] boost::json::value to_json(const BanView& ban);
// {id, cidr, route, until, reason}
[[nodiscard]] boost::json::value to_json(const GrantView& grant);
// {"status": "ok"|"degraded", "state": {"persistent", "errors", "last_error", "last_error_at"}}
[[nodiscard]] boost::json::value to_json(const HealthView& health,
                                         std::chrono::system_clock::time_point now);

}  // namespace rdpgate::admin
