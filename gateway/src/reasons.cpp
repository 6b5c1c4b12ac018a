// The stable names of outcomes, phases and reasons: audit record fields and metric labels.
#include <ostream>

#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/security/token_verifier.hpp"

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
    case OutcomeKind::tls_incomplete: return "tls_incomplete";
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
      OutcomeKind::completed,
      OutcomeKind::denied_source,
      OutcomeKind::banned,
      OutcomeKind::rate_limited,
      OutcomeKind::too_many_connections,
      OutcomeKind::not_rdp,
      OutcomeKind::malformed,
      OutcomeKind::inspect_timeout,
      OutcomeKind::protocol_not_allowed,
      OutcomeKind::username_denied,
      OutcomeKind::token_invalid,
      OutcomeKind::no_route,
      OutcomeKind::backend_unreachable,
      OutcomeKind::idle_timeout,
      OutcomeKind::shutdown,
      OutcomeKind::auth_failed,
      OutcomeKind::max_duration,
      OutcomeKind::killed,
      OutcomeKind::proxy_refused,
      OutcomeKind::internal_error,
      OutcomeKind::tls_incomplete,
  };
  return all;
}

std::string_view to_string(Why why) noexcept {
  switch (why) {
    case Why::none: return "";
    case Why::deny_list: return "deny_list";
    case Why::ban: return "ban";
    case Why::allow_list: return "allow_list";
    case Why::no_grant: return "no_grant";
    case Why::rate_limited: return "rate_limited";
    case Why::global_limit: return "global_limit";
    case Why::per_source_limit: return "per_source_limit";
    case Why::bad_proxy_header: return "bad_proxy_header";
    case Why::proxy_timeout: return "proxy_timeout";
    case Why::untrusted_proxy: return "untrusted_proxy";
    case Why::proxy_not_enabled: return "proxy_not_enabled";
    case Why::not_rdp_tls: return "not_rdp_tls";
    case Why::closed_before_data: return "closed_before_data";
    case Why::truncated: return "truncated";
    case Why::too_large: return "too_large";
    case Why::inspect_timeout: return "inspect_timeout";
    case Why::no_negotiation: return "no_negotiation";
    case Why::protocol_not_offered: return "protocol_not_offered";
    case Why::no_username: return "no_username";
    case Why::deny: return "deny";
    case Why::not_allowed: return "not_allowed";
    case Why::username_throttled: return "username_throttled";
    case Why::tokens_not_configured: return "tokens_not_configured";
    case Why::unknown_route: return "unknown_route";
    case Why::token_required: return "token_required";
    case Why::wrong_route: return "wrong_route";
    case Why::wrong_listener: return "wrong_listener";
    case Why::no_route: return "no_route";
    case Why::all_backends_down: return "all_backends_down";
    case Why::connect_failed: return "connect_failed";
    case Why::confirm_timeout: return "confirm_timeout";
    case Why::backend_closed: return "backend_closed";
    case Why::backend_selected_rdp: return "backend_selected_rdp";
    case Why::backend_selected_ssl: return "backend_selected_ssl";
    case Why::backend_selected_hybrid: return "backend_selected_hybrid";
    case Why::backend_selected_rdstls: return "backend_selected_rdstls";
    case Why::backend_selected_hybrid_ex: return "backend_selected_hybrid_ex";
    case Why::backend_selected_rdsaad: return "backend_selected_rdsaad";
    case Why::backend_selected_unknown: return "backend_selected_unknown";
    case Why::client_closed: return "client_closed";
    case Why::server_closed: return "server_closed";
    case Why::idle_timeout: return "idle_timeout";
    case Why::max_duration: return "max_duration";
    case Why::logon_refused: return "logon_refused";
    case Why::stopped: return "stopped";
    case Why::exception: return "exception";
  }
  return "";
}

Why backend_selected(std::uint32_t single_protocol) noexcept {
  switch (single_protocol) {
    case protocol::proto::rdp: return Why::backend_selected_rdp;
    case protocol::proto::ssl: return Why::backend_selected_ssl;
    case protocol::proto::hybrid: return Why::backend_selected_hybrid;
    case protocol::proto::rdstls: return Why::backend_selected_rdstls;
    case protocol::proto::hybrid_ex: return Why::backend_selected_hybrid_ex;
    case protocol::proto::rdsaad: return Why::backend_selected_rdsaad;
    default: return Why::backend_selected_unknown;
  }
}

Reason::Reason(security::TokenError error) noexcept
    : source_(Source::token), code_(static_cast<std::uint8_t>(error)) {}

std::string_view Reason::name() const noexcept {
  switch (source_) {
    case Source::gateway: return to_string(static_cast<Why>(code_));
    case Source::parser: return protocol::to_string(static_cast<protocol::errc>(code_));
    case Source::token: return security::token_to_string(static_cast<security::TokenError>(code_));
  }
  return "";
}

std::ostream& operator<<(std::ostream& out, Reason reason) { return out << reason.name(); }

std::string Observed::text() const {
  std::string out;
  for (std::size_t i = 0; i < size_; ++i) {
    if (i != 0) out += ' ';
    out += to_string(items_[i].kind);
    out += ':';
    out += items_[i].reason.name();
  }
  return out;
}

}  // namespace rdpgate::gateway
