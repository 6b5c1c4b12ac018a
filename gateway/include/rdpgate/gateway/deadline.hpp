#pragma once
// The one deadline mechanism of the gateway (STYLE.md §5). A deadline covers a phase, never a
// single read: the phase arms it once, and when it passes, the deadline runs its expiry action
// — for a session's phases, cancelling the session's sockets, so the pending read, write or
// connect completes with `operation_aborted` and the phase asks `expired()` why.
//
//   session   Deadline (socket cancel)   inspection (PROXY header + first flight), each connect
//                                        attempt, the Confirm exchange, the refusal linger;
//                       (watchdog)       then, the same deadline for the relay: idle_timeout and
//                                        max_duration, re-armed on wake
//   upstream  Deadline (resolver cancel) a DNS lookup of a backend name
//   health    Deadline (socket cancel)   one probe
//
// Cheaper than racing each phase against a timer with operator|| (two extra coroutines per
// phase, on every connection), and a raced operation that fails cannot be reported as a
// timeout. Single-threaded: arm, disarm and the expiry action run on the owner's executor.

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

  Deadline(const Executor& executor, std::function<void()> on_expiry)
      : timer_(executor), state_(std::make_shared<State>()) {
    state_->on_expiry = std::move(on_expiry);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline() {
    ++state_->generation;  // a completion already queued finds it and returns
    try {
      timer_.cancel();
    } catch (const std::exception&) {
      // Nothing to undo: the new generation alone keeps the action from running.
    }
  }

  // Arms (or re-arms) for `when`; clears `expired()`. A wait already pending that ends no
  // later than `when` is kept, and waits again for the rest when it ends early: re-arming the
  // timer costs a system call (timerfd_settime) whenever it becomes the earliest of its
  // io_context, and a session moves its deadline on per phase.
  void arm(Clock::time_point when) {
    when_ = state_->when = when;
    state_->expired = false;
    if (state_->pending && timer_.expiry() <= when) return;
    wait(when);
  }
  void arm_after(Clock::duration limit) { arm(Clock::now() + limit); }

  // Replaces the expiry action (one deadline serves a session's phases, then its relay). Call it
  // disarmed: a pending wait keeps going and runs the new action if armed again.
  void on_expiry(std::function<void()> action) { state_->on_expiry = std::move(action); }

  // INVARIANT: no expiry action runs after disarm() (or the destructor): a wait still pending
  // ends as a no-op (or waits again if arm() is called meanwhile).
  void disarm() noexcept { state_->when = Clock::time_point::max(); }

  [[nodiscard]] bool expired() const noexcept { return state_->expired; }
  // The time last armed for.
  [[nodiscard]] Clock::time_point when() const noexcept { return when_; }

 private:
  struct State {
    std::function<void()> on_expiry;
    std::uint64_t generation = 0;  // bumped per wait started and on destruction
    Clock::time_point when = Clock::time_point::max();  // max: disarmed
    bool pending = false;                               // a wait is started and has not ended
    bool expired = false;
  };

  void wait(Clock::time_point until) {
    const auto generation = ++state_->generation;
    state_->pending = true;
    timer_.expires_at(until);  // cancels a pending wait, whose completion is now stale
    timer_.async_wait([this, state = state_, generation](const error_code& ec) {
      // A stale completion: another wait started since, or the Deadline is gone.
      if (generation != state->generation) return;
      // Current generation: the Deadline (and so `this`) is still alive.
      state->pending = false;
      if (ec || state->when == Clock::time_point::max()) return;  // cancelled or disarmed
      if (Clock::now() < state->when) return wait(state->when);   // moved on meanwhile
      state->expired = true;
      if (state->on_expiry) state->on_expiry();
    });
  }

  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor> timer_;
  std::shared_ptr<State> state_;  // shared with a queued handler, which may outlive this
  Clock::time_point when_ = Clock::time_point::max();
};

}  // namespace rdpgate::gateway
