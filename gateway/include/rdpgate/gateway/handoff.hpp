#pragma once
// Hand-off: the accept thread gives each admitted connection to a worker, in turn, and never
// leaves it waiting on a busy one (ARCHITECTURE.md, "Threads and who owns what"). A worker that
// has not started a connection within `busy_after` of being given it is busy — a long handler
// or a blocking call holds its thread. The connections waiting on it go to the other workers,
// and it gets new ones again once its loop has run a probe posted to it.
//
//   accept thread                                 worker i (its io_context's one thread)
//   give() ── Ticket{connection} ── post ──────>  take(): the first to claim the ticket owns
//                                                 the descriptor; the worker registers it and
//                                                 starts the session
//   sweep(), every busy_after / 2 while tickets wait:
//     a ticket of worker i older than busy_after: worker i is busy, a probe is posted to it,
//     and its unclaimed tickets are claimed back and given to the next free worker
//   probe() runs on worker i ────────────────────> worker i is free again
//
// INVARIANT: a ticket is claimed once (`taken.exchange`), so a connection starts at most once
// and its descriptor has one owner. Everything here belongs to the accept thread, except the
// tickets' `taken` and the workers' `busy` flags.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "rdpgate/gateway/admission.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/request.hpp"

namespace rdpgate::gateway {

// An admitted connection on its way to a worker: the client's descriptor, registered with no
// io_context yet, and what admission decided. Closes the descriptor unless a worker took it.
struct Admitted {
  Admitted() = default;
  Admitted(Admitted&& other) noexcept;
  Admitted& operator=(Admitted&&) = delete;
  ~Admitted();

  int fd = -1;
  tcp protocol = tcp::v4();
  std::shared_ptr<const Policy> policy;  // the snapshot its listener served at accept
  Peer peer;
  ConnectionSlot slot;
  bool admitted = false;  // false: behind a trusted PROXY header, admission runs in the session
  Observed observed;
  SteadyClock::time_point accepted;
};

class Handoff {
 public:
  // Runs on the worker's thread, with the descriptor now a socket of the worker's io_context.
  using Start = std::function<void(Socket, Admitted)>;
  // A healthy worker starts a connection within a millisecond or two; a loaded one within tens.
  static constexpr std::chrono::milliseconds default_busy_after{100};

  Handoff(asio::io_context& accept_io, std::vector<std::unique_ptr<asio::io_context>>& workers,
          Metrics& metrics, Start start, SteadyClock::duration busy_after = default_busy_after);
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;
  ~Handoff();

  // On the accept thread: to the next worker in turn that is not busy (when all are, to the
  // next in turn).
  void give(Admitted connection);

 private:
  struct Ticket;
  struct Worker;
  std::size_t choose();
  void arm_sweep();
  void sweep();
  void take(std::size_t worker, const std::shared_ptr<Ticket>& ticket);

  std::vector<std::unique_ptr<asio::io_context>>& ios_;
  Metrics& metrics_;
  Start start_;
  SteadyClock::duration busy_after_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t next_ = 0;
  asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
};

}  // namespace rdpgate::gateway
