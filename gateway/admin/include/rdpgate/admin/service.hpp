#pragma once
// What the admin API needs from the running gateway (SPEC §6, §8 "Admin API"). The gateway
// implements it; every member may be called from any admin connection's strand at any time, so
// implementations must be thread-safe.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/config/units.hpp"

namespace rdpgate::admin {

struct SessionView {
  std::string id, source, listener, route, backend, user;
  std::chrono::system_clock::time_point started;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

struct BanView {
  std::string cidr;
  std::chrono::system_clock::time_point until;
  std::string reason;
  std::string origin;     // "auto" | "manual"
  bool observed = false;  // computed in observe mode (bruteforce.observe_only): not enforced
};

struct GrantView {
  std::string id, cidr, route;
  std::chrono::system_clock::time_point until;
  std::string reason;
};

// What GET /healthz reports beyond "the process answers": the durable state's health. The
// status is "degraded" (still HTTP 200: the gateway keeps relaying) while state is memory-only
// or a write or load failed within the last `recent_failure`.
struct HealthView {
  static constexpr std::chrono::minutes recent_failure{5};
  bool state_persistent = true;
  std::uint64_t state_failures = 0;
  std::string state_last_error;
  std::optional<std::chrono::system_clock::time_point> state_last_failure;
  [[nodiscard]] bool degraded(std::chrono::system_clock::time_point now) const {
    return !state_persistent || (state_last_failure && now - *state_last_failure < recent_failure);
  }
};

// CIDRs handed to add_ban, remove_ban and add_grant are already validated and in canonical
// form (config::Cidr::to_string(): "203.0.113.7/32", "2001:db8::/32"); durations are positive.
class AdminService {
 public:
  virtual ~AdminService() = default;
  virtual std::vector<SessionView> list_sessions() = 0;
  virtual bool kill_session(std::string_view id) = 0;  // false -> 404
  virtual std::vector<BanView> list_bans() = 0;
  virtual std::variant<BanView, std::string> add_ban(std::string_view cidr,
                                                     config::Duration duration,
                                                     std::string_view reason) = 0;  // string -> 400
  virtual bool remove_ban(std::string_view cidr) = 0;                               // false -> 404
  virtual std::vector<GrantView> list_grants() = 0;
  virtual std::variant<GrantView, std::string> add_grant(
      std::string_view cidr, std::string_view route, config::Duration duration,
      std::string_view reason) = 0;                    // string -> 400
  virtual bool revoke_grant(std::string_view id) = 0;  // false -> 404
  virtual std::optional<std::string> reload() = 0;     // error -> 500 {"error": ...}
  virtual HealthView health() { return {}; }
};

}  // namespace rdpgate::admin
