#include "rdpgate/gateway/handoff.hpp"

#include <unistd.h>

#include <cassert>
#include <string>
#include <utility>

#include "rdpgate/gateway/log.hpp"

namespace rdpgate::gateway {

Admitted::Admitted(Admitted&& other) noexcept
    : fd(std::exchange(other.fd, -1)),
      protocol(other.protocol),
      policy(std::move(other.policy)),
      peer(other.peer),
      slot(std::move(other.slot)),
      admitted(other.admitted),
      observed(other.observed),
      accepted(other.accepted) {}

Admitted::~Admitted() {
  if (fd >= 0) ::close(fd);
}

struct Handoff::Ticket {
  Ticket(Admitted c, SteadyClock::time_point at) : connection(std::move(c)), given(at) {}
  std::atomic<bool> taken{false};  // INVARIANT: whoever sets it owns `connection`
  Admitted connection;
  SteadyClock::time_point given;
};

struct Handoff::Worker {
  std::atomic<bool> busy{false};  // set by sweep(), cleared by the probe on the worker
  // Given to this worker, oldest first. A worker takes its tickets in that order (its
  // io_context runs posted handlers in order), so the taken ones are a prefix.
  std::deque<std::shared_ptr<Ticket>> waiting;
  void forget_taken() {
    while (!waiting.empty() && waiting.front()->taken.load(std::memory_order_acquire)) {
      waiting.pop_front();
    }
  }
};

Handoff::Handoff(asio::io_context& accept_io,
                 std::vector<std::unique_ptr<asio::io_context>>& workers, Metrics& metrics,
                 Start start, SteadyClock::duration busy_after)
    : ios_(workers),
      metrics_(metrics),
      start_(std::move(start)),
      busy_after_(busy_after),
      sweep_timer_(accept_io) {
  assert(!ios_.empty());
  for (std::size_t i = 0; i < ios_.size(); ++i) workers_.push_back(std::make_unique<Worker>());
}

Handoff::~Handoff() = default;

std::size_t Handoff::choose() {
  const auto n = workers_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto w = (next_ + i) % n;
    if (!workers_[w]->busy.load(std::memory_order_acquire)) {
      next_ = (w + 1) % n;
      return w;
    }
  }
  const auto w = next_;  // all busy: the one that frees first is as likely as any
  next_ = (w + 1) % n;
  return w;
}

void Handoff::give(Admitted connection) {
  const auto w = choose();
  auto ticket = std::make_shared<Ticket>(std::move(connection), SteadyClock::now());
  auto& worker = *workers_[w];
  worker.forget_taken();
  worker.waiting.push_back(ticket);
  asio::post(*ios_[w], [this, w, ticket] { take(w, ticket); });
  arm_sweep();
}

// On worker `w`'s thread.
void Handoff::take(std::size_t w, const std::shared_ptr<Ticket>& ticket) {
  if (ticket->taken.exchange(true, std::memory_order_acq_rel)) return;  // moved meanwhile
  Admitted connection = std::move(ticket->connection);
  Socket socket(*ios_[w]);
  error_code ec;
  socket.assign(connection.protocol, connection.fd, ec);
  if (ec) {  // only when the worker's epoll set cannot grow; `connection` closes the descriptor
    log_event(spdlog::level::err, "internal_error",
              {{"worker", w}, {"error", "hand-off: " + ec.message()}});
    return;
  }
  connection.fd = -1;  // the socket's now
  start_(std::move(socket), std::move(connection));
}

void Handoff::arm_sweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(busy_after_ / 2);
  sweep_timer_.async_wait([this](const error_code& ec) {
    sweep_armed_ = false;
    if (!ec) sweep();
  });
}

void Handoff::sweep() {
  const auto now = SteadyClock::now();
  bool any_free = false;
  for (std::size_t w = 0; w < workers_.size(); ++w) {
    auto& worker = *workers_[w];
    worker.forget_taken();
    if (!worker.waiting.empty() && now - worker.waiting.front()->given >= busy_after_ &&
        !worker.busy.exchange(true, std::memory_order_acq_rel)) {
      const auto since = worker.waiting.front()->given;
      metrics_.worker_busy(w).Increment();
      log_event(
          spdlog::level::warn, "worker_busy",
          {{"worker", w},
           {"waiting", worker.waiting.size()},
           {"message",
            "the worker has not started a connection given to it " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count()) +
                " ms ago: its connections go to the other workers until it runs again"}});
      // Posted behind everything given to it: when it runs, the worker's loop turns again.
      asio::post(*ios_[w], [this, w, since] {
        workers_[w]->busy.store(false, std::memory_order_release);
        const auto busy =
            std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - since);
        log_event(spdlog::level::info, "worker_free",
                  {{"worker", w}, {"busy_ms", static_cast<std::int64_t>(busy.count())}});
      });
    }
    if (!worker.busy.load(std::memory_order_acquire)) any_free = true;
  }
  // Move what waits on a busy worker to free ones; with none free it stays where it is (it
  // would only move from one busy worker to another).
  if (any_free) {
    for (auto& worker : workers_) {
      if (!worker->busy.load(std::memory_order_acquire) || worker->waiting.empty()) continue;
      for (const auto& ticket : std::exchange(worker->waiting, {})) {
        if (!ticket->taken.exchange(true, std::memory_order_acq_rel)) {
          give(std::move(ticket->connection));
        }
      }
    }
  }
  for (const auto& worker : workers_) {
    if (!worker->waiting.empty()) arm_sweep();
  }
}

}  // namespace rdpgate::gateway
