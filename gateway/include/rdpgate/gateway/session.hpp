#pragma once
// One client connection after admission, on its worker's single-threaded executor, owning both
// sockets and its buffers (STYLE.md §5): one coroutine up to the relay, then the relay's
// callback pumps (relay.hpp), so that an idle session keeps no suspended coroutine frame; the
// session owns itself from start() until its outcome is recorded. session.cpp is the pipeline
// of SPEC §1, read top to bottom; each stage lives in the file named for it:
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
#include "rdpgate/gateway/bruteforce.hpp"
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
  Session(SessionContext& ctx, std::shared_ptr<const Policy> policy, Socket client, Peer peer,
          ConnectionSlot slot, bool admitted, Observed observed, SteadyClock::time_point accepted);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the whole pipeline and records its outcome; never throws. The session is freed once
  // its outcome is recorded.
  static void start(std::unique_ptr<Session> session);

 private:
  static awaitable<void> run(std::unique_ptr<Session> self);  // up to the relay
  awaitable<std::optional<Outcome>> prepare();                // nullopt: ready to relay
  awaitable<std::optional<Outcome>> upstream(const TokenCheck& token);
  void relay(std::unique_ptr<Session> self);
  void relayed(Outcome outcome);
  // The one exit: closes both sockets, then records `outcome` and frees the session.
  void finish(std::unique_ptr<Session> self, Outcome outcome);
  awaitable<Outcome> refuse(Phase phase, const Decision& d);
  // Inspection in observe mode: a first flight it would refuse is forwarded verbatim instead
  // (true), unless the client already left.
  bool pass_unparsed(const Outcome& refused);
  [[nodiscard]] std::optional<Outcome> halted(Phase phase) const;
  void stop_from_outside(OutcomeKind why);

  SessionContext& ctx_;
  std::shared_ptr<const Policy> policy_;
  const ListenerPolicy* listener_;
  Socket client_;
  Socket server_;
  Peer peer_;
  ConnectionSlot slot_;
  // (Members are ordered to leave little padding: every idle session holds one.)
  bool admitted_;
  bool negotiation_failure_ = false;
  std::optional<OutcomeKind> stopped_;  // killed / shutdown from outside
  Observed observed_;                   // would-be refusals (observe mode)
  SteadyClock::time_point accepted_;
  SystemClock::time_point started_wall_;
  std::shared_ptr<SessionEntry> entry_;
  Deadline deadline_;  // the current phase's: cancels both sockets when it passes; then the relay's

  ClientPrefix prefix_;  // bytes read from the client before relaying
  std::optional<Request> request_;
  const RoutePolicy* route_ = nullptr;
  std::shared_ptr<BackendState> backend_;
  std::optional<std::uint32_t> selected_;
  std::optional<std::chrono::duration<double>> handshake_;
  Traffic traffic_;
  std::optional<LogonJudge> judge_;  // from the Confirm on: judges the relayed TLS stream
  std::optional<Relay> relay_;
  std::unique_ptr<Session> self_;  // while relaying: the relay's completion frees the session
};

}  // namespace rdpgate::gateway
