#include "rdpgate/gateway/relay.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace rdpgate::gateway {

Relay::Relay(Socket& client, Socket& server, Traffic& traffic, RelayObserver* observer,
             Deadline& watchdog)
    : traffic_(traffic), observer_(observer), watchdog_(watchdog) {
  c2s_.from = s2c_.to = &client;
  c2s_.to = s2c_.from = &server;
  c2s_.direction = Direction::client_to_server;
  s2c_.direction = Direction::server_to_client;
  watchdog_.on_expiry([this] { on_watchdog(); });
}

void Relay::start(const config::SessionConfig& limits, std::function<void(Outcome)> done) {
  limits_ = limits;
  done_ = std::move(done);
  started_ = last_activity_ = Deadline::Clock::now();
  error_code ignored;
  client().set_option(tcp::no_delay(true), ignored);
  // No non_blocking(true) (an ioctl each): the session's asynchronous reads, writes and connect
  // already made both descriptors O_NONBLOCK, which is all the splice(2) calls below rely on.
  c2s_.running = s2c_.running = true;
  running_ = 2;
  wait_readable(c2s_);
  wait_readable(s2c_);
  if (const auto when = due(); when != Deadline::Clock::time_point::max()) watchdog_.arm(when);
}

Deadline::Clock::time_point Relay::due() const noexcept {
  auto when = Deadline::Clock::time_point::max();
  if (limits_.idle_timeout.count() > 0) when = last_activity_ + limits_.idle_timeout;
  if (limits_.max_duration.count() > 0) when = std::min(when, started_ + limits_.max_duration);
  return when;
}

void Relay::on_watchdog() {
  const auto now = Deadline::Clock::now();
  if (ended_ || running_ == 0) return;
  if (const auto when = due(); now < when) {
    watchdog_.arm(when);  // there was traffic since: not idle yet
    return;
  }
  const bool max_reached =
      limits_.max_duration.count() > 0 && now >= started_ + limits_.max_duration;
  ended_ = max_reached ? Outcome{Phase::relay, OutcomeKind::max_duration, Why::max_duration}
                       : Outcome{Phase::relay, OutcomeKind::idle_timeout, Why::idle_timeout};
  error_code ignored;
  client().close(ignored);  // the pumps finish with operation_aborted
  server().close(ignored);
}

void Relay::forwarded(Pump& p, std::size_t n) {
  traffic_.count(p.direction, n);
  if (observer_ != nullptr) observer_->on_forwarded(p.direction, n);
  last_activity_ = Deadline::Clock::now();
}

void Relay::wait_readable(Pump& p) {
  // Wait without a buffer or a pipe: an idle session holds no relay memory.
  p.from->async_wait(Socket::wait_read, [this, &p](const error_code& ec) { on_readable(p, ec); });
}

void Relay::on_readable(Pump& p, const error_code& ec) {
  if (ec) return finish(p, false);
  if (splicing() && !p.pipe.valid()) p.pipe = PipePool::local().take();
  if (splicing() && p.pipe.valid()) {
    // Zero-copy: socket -> pipe (here) -> socket (on_writable), splice(2).
    const auto n = ::splice(p.from->native_handle(), nullptr, p.pipe.write_end, nullptr,
                            BufferPool::buffer_size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      p.pending = static_cast<std::uint32_t>(n);  // at most buffer_size
      return on_writable(p, {});
    }
    PipePool::local().give_back(std::exchange(p.pipe, Pipe{}));  // empty: nothing was moved
    if (n == 0) return finish(p, true);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_readable(p);
    if (errno != EINVAL) return finish(p, false);
    splice_ok_ = false;  // not spliceable here (an unusual socket or kernel): copy from now on
  }
  if (!p.buffer) p.buffer = BufferPool::local().take();
  error_code rec;
  const std::size_t n =
      p.from->read_some(asio::buffer(p.buffer.get(), BufferPool::buffer_size), rec);
  if (rec == asio::error::would_block || rec == asio::error::try_again) {
    p.buffer.reset();
    return wait_readable(p);
  }
  if (rec) {
    p.buffer.reset();
    return finish(p, rec == asio::error::eof);
  }
  p.offset = 0;
  p.length = static_cast<std::uint32_t>(n);  // at most buffer_size
  if (observer_ != nullptr && observer_->wants_bytes()) {
    observer_->on_bytes(p.direction, std::span<const std::byte>(p.buffer.get(), n));
  }
  on_writable(p, {});
}

void Relay::on_writable(Pump& p, const error_code& ec) {
  if (ec) return finish(p, false);
  for (;;) {
    std::size_t moved = 0;
    int error = 0;
    if (p.pipe.valid()) {
      if (p.pending == 0) break;
      const auto m = ::splice(p.pipe.read_end, nullptr, p.to->native_handle(), nullptr, p.pending,
                              SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        moved = static_cast<std::size_t>(m);
        p.pending -= static_cast<std::uint32_t>(moved);
      } else {
        error = m < 0 ? errno : EPIPE;
      }
    } else {
      if (p.offset == p.length) break;
      error_code wec;
      moved = p.to->write_some(asio::buffer(p.buffer.get() + p.offset, p.length - p.offset), wec);
      p.offset += static_cast<std::uint32_t>(moved);
      if (wec) {
        error = (wec == asio::error::would_block || wec == asio::error::try_again) ? EAGAIN : EPIPE;
      }
    }
    if (moved > 0) forwarded(p, moved);
    if (error == EAGAIN || error == EWOULDBLOCK) {
      // Backpressure: the receiver is slow; read no more until it can take these bytes.
      p.to->async_wait(Socket::wait_write,
                       [this, &p](const error_code& wec) { on_writable(p, wec); });
      return;
    }
    if (error != 0) return finish(p, false);
  }
  // Everything written: give the pipe (empty) and the buffer back before waiting again.
  if (p.pipe.valid()) PipePool::local().give_back(std::exchange(p.pipe, Pipe{}));
  p.buffer.reset();
  wait_readable(p);
}

void Relay::finish(Pump& p, bool eof) {
  if (!p.running) return;
  p.running = false;
  if (p.pipe.valid()) {
    // INVARIANT: a pipe that may still hold bytes is never reused.
    if (p.pending == 0) {
      PipePool::local().give_back(std::exchange(p.pipe, Pipe{}));
    } else {
      PipePool::close(std::exchange(p.pipe, Pipe{}));
    }
  }
  p.buffer.reset();
  if (first_close_ == Closer::none) {
    first_close_ = p.direction == Direction::client_to_server ? Closer::client : Closer::server;
  }
  if (observer_ != nullptr) observer_->on_end(p.direction);
  error_code ignored;
  if (eof) {
    // Half-close: pass the FIN on and keep the other direction running. The last direction to
    // end needs no shutdown(2): the session closes both sockets next, and close(2) sends the
    // FIN (never a reset: the other direction read that peer to its end).
    if (running_ > 1) p.to->shutdown(Socket::shutdown_send, ignored);
  } else {
    // Any error (reset, cancellation) ends both directions.
    client().close(ignored);
    server().close(ignored);
  }
  if (--running_ > 0) return;
  watchdog_.disarm();
  const auto outcome =
      ended_ ? *ended_
             : Outcome{Phase::relay, OutcomeKind::completed,
                       first_close_ == Closer::server ? Why::server_closed : Why::client_closed};
  std::exchange(done_, nullptr)(outcome);  // may destroy this relay: nothing after it
}

}  // namespace rdpgate::gateway
