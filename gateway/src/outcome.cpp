#include "rdpgate/gateway/outcome.hpp"

namespace rdpgate::gateway {

std::string_view to_string(OutcomeKind kind) noexcept {
  switch (kind) {
    case OutcomeKind::completed: return "completed";
    case OutcomeKind::denied_source: return "denied_source";
    case OutcomeKind::banned: return "banned";
    case OutcomeKind::rate_limited: return "rate_limited";
    case OutcomeKind::too_many_connections: return "too_many_connections";
    case OutcomeKind::not_rdp: return "not_rdp";
    case OutcomeKind::malformed: return "malformed";
    case OutcomeKind::inspect_timeout: return "inspect_timeout";
    case OutcomeKind::protocol_not_allowed: return "protocol_not_allowed";
    case OutcomeKind::username_denied: return "username_denied";
    case OutcomeKind::token_invalid: return "token_invalid";
    case OutcomeKind::no_route: return "no_route";
    case OutcomeKind::backend_unreachable: return "backend_unreachable";
    case OutcomeKind::idle_timeout: return "idle_timeout";
    case OutcomeKind::shutdown: return "shutdown";
    case OutcomeKind::auth_failed: return "auth_failed";
    case OutcomeKind::max_duration: return "max_duration";
    case OutcomeKind::killed: return "killed";
    case OutcomeKind::proxy_refused: return "proxy_refused";
    case OutcomeKind::internal_error: return "internal_error";
  }
  return "internal_error";
}

std::string_view to_string(Phase phase) noexcept {
  switch (phase) {
    case Phase::admission: return "admission";
    case Phase::inspection: return "inspection";
    case Phase::policy: return "policy";
    case Phase::routing: return "routing";
    case Phase::relay: return "relay";
  }
  return "relay";
}

const std::array<OutcomeKind, outcome_count>& all_outcomes() noexcept {
  static constexpr std::array<OutcomeKind, outcome_count> all = {
      OutcomeKind::completed,      OutcomeKind::denied_source,
      OutcomeKind::banned,         OutcomeKind::rate_limited,
      OutcomeKind::too_many_connections, OutcomeKind::not_rdp,
      OutcomeKind::malformed,      OutcomeKind::inspect_timeout,
      OutcomeKind::protocol_not_allowed, OutcomeKind::username_denied,
      OutcomeKind::token_invalid,  OutcomeKind::no_route,
      OutcomeKind::backend_unreachable, OutcomeKind::idle_timeout,
      OutcomeKind::shutdown,       OutcomeKind::auth_failed,
      OutcomeKind::max_duration,   OutcomeKind::killed,
      OutcomeKind::proxy_refused,  OutcomeKind::internal_error,
  };
  return all;
}

}  // namespace rdpgate::gateway
