// The recorder: the one exit of every connection (recorder.hpp).
#include <atomic>
#include <random>
#include <string>

#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/bruteforce.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/net.hpp"
#include "rdpgate/gateway/recorder.hpp"
#include "rdpgate/protocol/hex.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::gateway {
namespace {

std::string correlation_text(const std::optional<std::array<std::uint8_t, 16>>& id) {
  if (!id) return {};
  std::string s;
  s.reserve(32);
  protocol::append_hex(s, *id);
  return s;
}

std::string requested_text(const Request* request) {
  if (request == nullptr) return {};
  if (!request->has_negotiation) return "none";
  return protocol::protocol_set_name(request->requested_protocols);
}

std::string_view selected_text(const ConnectionRecord& c) {
  if (c.selected) return protocol::protocol_name(*c.selected);
  return c.negotiation_failure ? "negotiation_failure" : "";
}

}  // namespace

SessionId next_session_id() {
  // A random 64-bit base per process plus a counter, mixed so ids do not look sequential.
  static const std::uint64_t base = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = base + 0x9E3779B97F4A7C15ull * (counter.fetch_add(1) + 1);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  SessionId id;
  for (int i = 15; i >= 0; --i, x >>= 4) {
    id.digits[static_cast<std::size_t>(i)] = protocol::hex_digit(static_cast<unsigned>(x));
  }
  return id;
}

void record_outcome(Services& services, const Policy& policy, const ConnectionRecord& c,
                    const Outcome& outcome) {
  auto& metrics = services.metrics;
  const auto& listener = policy.listeners().at(c.peer->listener);
  listener.metrics->connections[static_cast<std::size_t>(outcome.kind)]->Increment();
  if (outcome.refused()) {
    metrics.refusal(listener.cfg.name, outcome);
  }
  if (c.request != nullptr) {
    metrics.requested_protocols(c.request->requested_protocols, c.request->has_negotiation);
  }
  const bool observed = c.observed != nullptr && !c.observed->empty();
  if (observed) {
    if (auto* counter =
            listener.metrics->observed[static_cast<std::size_t>(c.observed->first().kind)]) {
      counter->Increment();
    }
  }
  if (c.selected) metrics.selected_protocol(*c.selected);
  if (c.negotiation_failure) metrics.selected_protocol(Metrics::negotiation_failure);
  if (c.handshake) listener.metrics->handshake_seconds->Observe(c.handshake->count());
  if (outcome.kind == OutcomeKind::auth_failed) {
    on_auth_failure(services, policy.config(), *c.peer, c.request ? c.request->user : "", c.id);
  }

  // Refusals come in floods (denied sources, scanners, junk): their lines are rate-limited per
  // outcome kind, so one kind's flood never hides another's lines. Connections that reached a
  // backend (completed, auth_failed, tls_incomplete, ...) are the audit trail: always written,
  // subject only to the log queue's bound (log_writer.hpp).
  if (outcome.refused() &&
      !services.refusal_log.admit(to_string(outcome.kind), SteadyClock::now())) {
    metrics.log_suppressed().Increment();
    return;
  }
  const auto duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - c.accepted)
          .count();
  const auto level =
      outcome.kind == OutcomeKind::internal_error ? spdlog::level::err : spdlog::level::info;
  const auto* request = c.request;
  log_audit_event(
      level, "connection",
      {{"conn", c.id},
       {"start", rfc3339(c.start)},
       {"duration_ms", static_cast<std::int64_t>(duration_ms)},
       {"src", ip_text(c.peer->address)},
       {"src_port", c.peer->port},
       {"listener", listener.cfg.name},
       {"user", request != nullptr ? std::string_view(request->user) : std::string_view()},
       {"requested", requested_text(request)},
       {"selected", selected_text(c)},
       {"correlation_id",
        request != nullptr ? correlation_text(request->correlation_id) : std::string()},
       {"pcb_id", request != nullptr && request->preconnection ? request->preconnection->id : 0u},
       {"route", c.route != nullptr ? std::string_view(c.route->cfg.name) : std::string_view()},
       {"backend",
        c.backend != nullptr ? std::string_view(c.backend->endpoint.text) : std::string_view()},
       {"phase", to_string(outcome.phase)},
       {"outcome", to_string(outcome.kind)},
       {"reason", outcome.reason.name()},
       {"bytes_in", c.bytes_in},
       {"bytes_out", c.bytes_out},
       {"handshake_ms", c.handshake ? c.handshake->count() * 1000.0 : 0.0},
       {"evidence", c.evidence},
       {"observed", observed ? c.observed->text() : std::string()}});
}

}  // namespace rdpgate::gateway
