#pragma once
// How a connection ended (SPEC §8): exactly one Outcome per connection, the single source for the
// audit record, the `outcome` and `reason` metric labels and the log line (STYLE.md §6, HAProxy's
// "stream state at disconnection": who or what ended it x in which phase).
//
// Every value here is an enum, so a metric label can never carry a value from traffic. The
// audit record's fields and the metric labels that mean the same thing share one name:
// `phase`, `outcome`, `reason`.

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "rdpgate/protocol/errc.hpp"

namespace rdpgate::security {
enum class TokenError;
}

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
  auth_failed,     // a failed NLA logon, judged from the relayed byte stream
  max_duration,    // session.max_duration reached
  killed,          // ended through the admin API
  proxy_refused,   // PROXY header missing, malformed, or from an untrusted source
  internal_error,  // a bug: logged at error, the gateway keeps serving
  tls_incomplete,  // TLS was selected and never completed: junk, a port check, a scanner
};
inline constexpr std::size_t outcome_count = 21;

[[nodiscard]] std::string_view to_string(OutcomeKind kind) noexcept;
[[nodiscard]] std::string_view to_string(Phase phase) noexcept;
[[nodiscard]] const std::array<OutcomeKind, outcome_count>& all_outcomes() noexcept;

// The gateway's own reasons. A new one goes here and into `to_string(Why)`; its name is part of
// the audit record and the `reason` label, so it is never renamed.
enum class Why : std::uint8_t {
  none,
  // admission (filters.cpp, listener.cpp)
  deny_list,
  ban,
  allow_list,
  no_grant,
  rate_limited,
  global_limit,
  per_source_limit,
  // PROXY header and first flight (inspect.cpp)
  bad_proxy_header,
  proxy_timeout,
  untrusted_proxy,
  proxy_not_enabled,
  not_rdp_tls,
  closed_before_data,
  truncated,
  too_large,
  inspect_timeout,
  // policy (filters.cpp, policy.cpp)
  no_negotiation,
  protocol_not_offered,
  no_username,
  deny,
  not_allowed,
  username_throttled,
  tokens_not_configured,
  // routing (routing.cpp)
  unknown_route,
  token_required,
  wrong_route,
  wrong_listener,  // a token for a route kept to another listener (`match.listener`)
  no_route,
  // upstream (upstream.cpp)
  all_backends_down,
  connect_failed,
  confirm_timeout,
  backend_closed,
  backend_selected_rdp,
  backend_selected_ssl,
  backend_selected_hybrid,
  backend_selected_rdstls,
  backend_selected_hybrid_ex,
  backend_selected_rdsaad,
  backend_selected_unknown,
  // relay (relay.cpp)
  client_closed,
  server_closed,
  idle_timeout,
  max_duration,
  logon_refused,  // the TLS record stream shows the host refused the credentials
  // anywhere
  stopped,
  exception,
};
[[nodiscard]] std::string_view to_string(Why why) noexcept;
// `backend_selected_<name>` for a single protocol from RDP_NEG_RSP.
[[nodiscard]] Why backend_selected(std::uint32_t single_protocol) noexcept;

// A bounded snake_case detail of an outcome: one of the gateway's own reasons, a parser error
// (protocol::errc) or a token error (security::TokenError), each by its stable name.
class Reason {
 public:
  constexpr Reason() noexcept = default;
  constexpr Reason(Why why) noexcept  // NOLINT(google-explicit-constructor): a reason is a value
      : source_(Source::gateway), code_(static_cast<std::uint8_t>(why)) {}
  constexpr Reason(protocol::errc code) noexcept  // NOLINT(google-explicit-constructor)
      : source_(Source::parser), code_(static_cast<std::uint8_t>(code)) {}
  explicit Reason(security::TokenError error) noexcept;

  [[nodiscard]] std::string_view name() const noexcept;
  [[nodiscard]] constexpr bool empty() const noexcept {
    return source_ == Source::gateway && code_ == 0;
  }
  // Dense key for metric caches: distinct for distinct reasons.
  [[nodiscard]] constexpr std::uint16_t key() const noexcept {
    return static_cast<std::uint16_t>((static_cast<unsigned>(source_) << 8) | code_);
  }
  friend constexpr bool operator==(Reason a, Reason b) noexcept { return a.key() == b.key(); }
  friend bool operator==(Reason a, std::string_view b) noexcept { return a.name() == b; }

 private:
  enum class Source : std::uint8_t { gateway, parser, token };
  Source source_ = Source::gateway;
  std::uint8_t code_ = 0;
};
std::ostream& operator<<(std::ostream& out, Reason reason);

struct Outcome {
  Phase phase = Phase::relay;
  OutcomeKind kind = OutcomeKind::completed;
  Reason reason;
  [[nodiscard]] bool refused() const noexcept {
    return kind != OutcomeKind::completed && kind != OutcomeKind::auth_failed &&
           kind != OutcomeKind::idle_timeout && kind != OutcomeKind::max_duration &&
           kind != OutcomeKind::shutdown && kind != OutcomeKind::killed &&
           kind != OutcomeKind::tls_incomplete;
  }
};

// Observe mode (`observe_only` in `sources`, `inspection`, `bruteforce`): the refusals a
// connection met from rules that are evaluated but not enforced, in the order met. The first is
// the outcome it would have had: record_outcome() counts it in rdpgate_observed_refusals_total
// and the audit record lists them all (`observed`).
class Observed {
 public:
  void add(const Outcome& would_be) noexcept {
    if (size_ < capacity) items_[size_++] = would_be;
  }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] const Outcome& first() const noexcept { return items_[0]; }
  // "denied_source:deny_list rate_limited:rate_limited"; "" when empty.
  [[nodiscard]] std::string text() const;

 private:
  static constexpr std::size_t capacity = 4;  // more rules than this never apply to one peer
  std::array<Outcome, capacity> items_{};
  std::uint8_t size_ = 0;
};

}  // namespace rdpgate::gateway
