#pragma once
// The one exit of every connection (STYLE.md §6): when a connection ends — refused by the
// acceptor before a byte was read, refused later, or relayed to its end — its Outcome and what
// was learnt about it go through `record_outcome`, which writes the audit record, updates the
// per-connection metrics and calls the brute-force hook. Nothing else writes a `connection` line
// or increments rdpgate_connections_total / rdpgate_refusals_total.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/request.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

struct BackendState;

// What is known about a connection when it ends; every pointer may be null (not reached).
struct ConnectionRecord {
  std::string_view id;
  SystemClock::time_point start;
  SteadyClock::time_point accepted;
  const Peer* peer = nullptr;
  const Request* request = nullptr;
  const RoutePolicy* route = nullptr;
  const BackendState* backend = nullptr;
  std::optional<std::uint32_t> selected;  // the protocol the server's Confirm selected
  bool negotiation_failure = false;       // the server answered with RDP_NEG_FAILURE
  std::uint64_t bytes_in = 0;             // client -> server, forwarded
  std::uint64_t bytes_out = 0;            // server -> client, forwarded
  std::optional<std::chrono::duration<double>> handshake;  // accept -> Confirm forwarded
  std::string_view evidence;  // the logon judgement's evidence (TLS sessions), bruteforce.hpp
  const Observed* observed = nullptr;  // would-be refusals of rules in observe mode
};

// Identifier for the audit record and the admin API: 16 hex digits, unique per process run.
// A value, not a string: a refused connection allocates nothing.
struct SessionId {
  std::array<char, 16> digits{};
  [[nodiscard]] std::string_view view() const noexcept { return {digits.data(), digits.size()}; }
};
SessionId next_session_id();

void record_outcome(Services& services, const Policy& policy, const ConnectionRecord& record,
                    const Outcome& outcome);

}  // namespace rdpgate::gateway
