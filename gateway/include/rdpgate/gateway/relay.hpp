#pragma once
// Relay (SPEC §1.6): two pumps moving bytes between the client and the server until both
// directions have ended, and a watchdog for `session.idle_timeout` and `session.max_duration`.
//
// The pumps are small callback state machines rather than coroutines: an idle session holds one
// pending readiness wait per direction and nothing else (no frames, no buffers, no pipes). They
// move bytes with splice(2) through a pooled pipe, or copy through a pooled buffer while an
// observer wants to see the bytes (or when splice is refused).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/buffer_pool.hpp"
#include "rdpgate/gateway/deadline.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/pipe_pool.hpp"
#include "rdpgate/gateway/registry.hpp"

namespace rdpgate::gateway {

// Bytes forwarded by one session, counted once for the audit record, the admin API's session
// view and rdpgate_relay_bytes_total.
struct Traffic {
  SessionEntry& entry;
  Metrics& metrics;
  std::uint64_t in = 0;   // client -> server
  std::uint64_t out = 0;  // server -> client
  void count(Direction d, std::size_t n) noexcept {
    const bool up = d == Direction::client_to_server;
    (up ? in : out) += n;
    (up ? entry.bytes_in : entry.bytes_out).fetch_add(n, std::memory_order_relaxed);
    metrics.relay_bytes(d, n);
  }
};

// A read-only view of the relayed stream (the failed-logon judgement reads it). Called on the
// session's executor, in stream order per direction.
class RelayObserver {
 public:
  virtual ~RelayObserver() = default;
  // While true, the pumps copy instead of splicing, and on_bytes sees every byte.
  [[nodiscard]] virtual bool wants_bytes() const noexcept { return false; }
  virtual void on_bytes(Direction, std::span<const std::byte>) {}
  // Every chunk forwarded, spliced or copied.
  virtual void on_forwarded(Direction, std::size_t) {}
  // The direction ended (end of stream, reset or close), once.
  virtual void on_end(Direction) {}
};

class Relay {
 public:
  // `watchdog`: the session's deadline, disarmed; the relay takes over its expiry action.
  Relay(Socket& client, Socket& server, Traffic& traffic, RelayObserver* observer,
        Deadline& watchdog);
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts both pumps and returns; `done` is called once both directions have ended, with the
  // outcome as the relay sees it: completed (client_closed / server_closed: who closed first),
  // idle_timeout or max_duration. Nothing stays suspended meanwhile: no coroutine frame, only
  // the pumps' pending operations and the watchdog's timer.
  // INVARIANT: `done` runs after both pumps' last handlers (they refer to this object), as the
  // last thing the relay does: it may destroy the relay.
  void start(const config::SessionConfig& limits, std::function<void(Outcome)> done);

 private:
  // Kept small: an idle session holds two. Counts stay below BufferPool::buffer_size.
  struct Pump {
    Socket* from = nullptr;
    Socket* to = nullptr;
    Pipe pipe;                  // holds `pending` bytes between splice calls
    BufferPool::Buffer buffer;  // copy mode: bytes [offset, length) not yet written
    std::uint32_t pending = 0;
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    Direction direction = Direction::client_to_server;
    bool running = false;
  };
  static_assert(BufferPool::buffer_size <= UINT32_MAX);
  void wait_readable(Pump& p);
  void on_readable(Pump& p, const error_code& ec);
  void on_writable(Pump& p, const error_code& ec);
  void finish(Pump& p, bool eof);
  void forwarded(Pump& p, std::size_t n);
  [[nodiscard]] bool splicing() const noexcept {
    return splice_ok_ && (observer_ == nullptr || !observer_->wants_bytes());
  }

  Socket& client() noexcept { return *c2s_.from; }
  Socket& server() noexcept { return *s2c_.from; }

  Traffic& traffic_;
  RelayObserver* observer_;
  Pump c2s_;
  Pump s2c_;
  int running_ = 0;
  bool splice_ok_ = true;  // false once splice(2) was refused: copy from then on
  enum class Closer { none, client, server } first_close_ = Closer::none;
  Deadline::Clock::time_point started_{};
  Deadline::Clock::time_point last_activity_{};
  config::SessionConfig limits_;
  std::optional<Outcome> ended_;  // set by the watchdog
  Deadline& watchdog_;            // idle_timeout / max_duration, re-armed on expiry
  std::function<void(Outcome)> done_;
  void on_watchdog();
  [[nodiscard]] Deadline::Clock::time_point due() const noexcept;
};

}  // namespace rdpgate::gateway
