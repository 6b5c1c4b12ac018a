#pragma once
// How a connection ended (SPEC §8): exactly one Outcome per connection, the single source for the
// audit record, the `outcome` metric label and the log line (STYLE.md §6, HAProxy's "stream state
// at disconnection": who or what ended it x in which phase).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdpgate::gateway {

enum class Phase : std::uint8_t { admission, inspection, policy, routing, relay };

enum class OutcomeKind : std::uint8_t {
  completed,
  denied_source,
  banned,
  rate_limited,
  too_many_connections,
  not_rdp,
  malformed,
  inspect_timeout,
  protocol_not_allowed,
  username_denied,
  token_invalid,
  no_route,
  backend_unreachable,
  idle_timeout,
  shutdown,
  auth_failed,      // inferred failed NLA logon (short, server-closed, little data)
  max_duration,     // session.max_duration reached
  killed,           // ended through the admin API
  proxy_refused,    // PROXY header missing, malformed, or from an untrusted source
  internal_error,   // a bug: logged at error, the gateway keeps serving
};
inline constexpr std::size_t outcome_count = 20;

[[nodiscard]] std::string_view to_string(OutcomeKind kind) noexcept;
[[nodiscard]] std::string_view to_string(Phase phase) noexcept;
[[nodiscard]] const std::array<OutcomeKind, outcome_count>& all_outcomes() noexcept;

struct Outcome {
  Phase phase = Phase::relay;
  OutcomeKind kind = OutcomeKind::completed;
  // A bounded, snake_case detail: the parser's errc name, the token error, "client_closed", ...
  std::string reason;
  [[nodiscard]] bool refused() const noexcept {
    return kind != OutcomeKind::completed && kind != OutcomeKind::auth_failed &&
           kind != OutcomeKind::idle_timeout && kind != OutcomeKind::max_duration &&
           kind != OutcomeKind::shutdown && kind != OutcomeKind::killed;
  }
};

}  // namespace rdpgate::gateway
