#pragma once
// The one deadline mechanism of the gateway (STYLE.md §5). A deadline covers a phase, never a
// single read: the phase arms it once, and when it passes, the deadline runs its expiry action
// — for a session's phases, cancelling the session's sockets, so the pending read, write or
// connect completes with `operation_aborted` and the phase asks `expired()` why.
//
//   session   Deadline (socket cancel)   inspection (PROXY header + first flight), each connect
//                                        attempt, the Confirm exchange, the refusal linger
//             Deadline (watchdog)        relay: idle_timeout and max_duration, re-armed on wake
//   upstream  Deadline (resolver cancel) a DNS lookup of a backend name
//   health    Deadline (socket cancel)   one probe
//
// Cheaper than racing each phase against a timer with operator|| (two extra coroutines per
// phase, on every connection), and a raced operation that fails cannot be reported as a
// timeout. Single-threaded: arm, disarm and the expiry action run on the owner's executor.
// (The relay's completion signal, a timer cancelled when its last pump ends, is not a deadline.)

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <utility>

#include "rdpgate/gateway/asio.hpp"

namespace rdpgate::gateway {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  Deadline(const asio::any_io_executor& executor, std::function<void()> on_expiry)
      : timer_(executor), state_(std::make_shared<State>()) {
    state_->on_expiry = std::move(on_expiry);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline() { disarm(); }

  // Arms (or re-arms) for `when`; clears `expired()`.
  void arm(Clock::time_point when) {
    when_ = when;
    const auto generation = ++state_->generation;
    state_->expired = false;
    timer_.expires_at(when);
    timer_.async_wait([state = state_, generation](const error_code& ec) {
      if (ec || generation != state->generation) return;  // cancelled, or re-armed since
      state->expired = true;
      if (state->on_expiry) state->on_expiry();
    });
  }
  void arm_after(Clock::duration limit) { arm(Clock::now() + limit); }

  // INVARIANT: no expiry action runs after disarm() (or the destructor): a handler already
  // queued finds a newer generation in the shared state and returns without calling it.
  void disarm() noexcept {
    ++state_->generation;
    try {
      timer_.cancel();
    } catch (const std::exception&) {
      // Nothing to undo: the new generation alone keeps the action from running.
    }
  }

  [[nodiscard]] bool expired() const noexcept { return state_->expired; }
  // The time last armed for.
  [[nodiscard]] Clock::time_point when() const noexcept { return when_; }

 private:
  struct State {
    std::function<void()> on_expiry;
    std::uint64_t generation = 0;
    bool expired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;  // shared with a queued handler, which may outlive this
  Clock::time_point when_ = Clock::time_point::max();
};

}  // namespace rdpgate::gateway
