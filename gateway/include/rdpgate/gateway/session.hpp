#pragma once
// One client connection after admission: one coroutine on its worker's single-threaded
// executor, owning both sockets and its buffers (STYLE.md §5). session.cpp is the pipeline of
// SPEC §1, read top to bottom; each stage lives in the file named for it:
//
//   listener.cpp  admission at accept (the acceptor; behind a trusted PROXY header, here)
//   inspect.cpp   PROXY header and first flight, under the inspection deadline
//   policy.cpp    request filters, signed tokens
//   routing.cpp   route choice and route access
//   upstream.cpp  connect, then the Confirm exchange
//   relay.cpp     pumps and watchdog; bruteforce.cpp judges the stream
//   outcome.cpp   the one exit: audit record, metrics, brute-force hook

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rdpgate/gateway/admission.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/deadline.hpp"
#include "rdpgate/gateway/filter.hpp"
#include "rdpgate/gateway/inspect.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/registry.hpp"
#include "rdpgate/gateway/relay.hpp"
#include "rdpgate/gateway/request.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

struct SessionContext {
  Services& services;
  SessionRegistry& registry;
};

// Admission, before a byte is read: the listener's filter chain, then a concurrency slot (kept
// in `slot` when admitted). Run by the acceptor and, behind a trusted PROXY header, by the
// session on the address the header carries. Refusals of rules in observe mode go to
// `observed`. Defined in listener.cpp.
std::optional<Outcome> admit_source(const Policy& policy, Services& services, const Peer& peer,
                                    ConnectionSlot& slot, Observed& observed);

class Session {
 public:
  // `admitted`: admission already ran in the acceptor (false behind a trusted PROXY header);
  // `observed`: what it would have refused in observe mode.
  Session(SessionContext& ctx, std::shared_ptr<const Policy> policy, tcp::socket client, Peer peer,
          ConnectionSlot slot, bool admitted, Observed observed, SteadyClock::time_point accepted);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the whole pipeline and records its outcome; never throws.
  awaitable<void> run();

 private:
  awaitable<std::optional<Outcome>> prepare();  // nullopt: ready to relay
  awaitable<std::optional<Outcome>> upstream();
  awaitable<Outcome> relay();
  awaitable<Outcome> refuse(Phase phase, const Decision& d);
  // Inspection in observe mode: a first flight it would refuse is forwarded verbatim instead
  // (true), unless the client already left.
  bool pass_unparsed(const Outcome& refused);
  [[nodiscard]] std::optional<Outcome> halted(Phase phase) const;
  void stop_from_outside(OutcomeKind why);

  SessionContext& ctx_;
  std::shared_ptr<const Policy> policy_;
  const ListenerPolicy* listener_;
  tcp::socket client_;
  tcp::socket server_;
  Peer peer_;
  ConnectionSlot slot_;
  bool admitted_;
  Observed observed_;  // would-be refusals (observe mode)
  SteadyClock::time_point accepted_;
  SystemClock::time_point started_wall_;
  std::shared_ptr<SessionEntry> entry_;
  Deadline deadline_;                   // the current phase's; cancels both sockets when it passes
  std::optional<OutcomeKind> stopped_;  // killed / shutdown from outside

  ClientPrefix prefix_;  // bytes read from the client before relaying
  std::optional<Request> request_;
  TokenCheck token_;
  const RoutePolicy* route_ = nullptr;
  std::shared_ptr<BackendState> backend_;
  std::optional<std::uint32_t> selected_;
  bool negotiation_failure_ = false;
  std::optional<std::chrono::duration<double>> handshake_;
  Traffic traffic_;
  std::vector<std::byte> forwarded_tls_;  // a Direct Approach ClientHello, for the judgement
  std::string evidence_;                  // the logon judgement's, for the audit record
  std::optional<Relay> relay_;
};

}  // namespace rdpgate::gateway
