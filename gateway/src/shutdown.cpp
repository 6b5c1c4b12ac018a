// Shutdown (SIGTERM, SIGINT): stop accepting, let sessions finish for `shutdown.drain_timeout`,
// then end the rest (`shutdown`), stop the endpoints and the threads. Waiting is event-driven:
// the session registry signals when its last session is gone.
#include <prometheus/exposer.h>

#include <thread>

#include "rdpgate/admin/server.hpp"
#include "rdpgate/gateway/app.hpp"
#include "rdpgate/gateway/log.hpp"

namespace rdpgate::gateway {

using namespace std::chrono_literals;

// After the drain, sessions told to stop get this long to record their outcome.
constexpr auto stop_grace = 5s;

void App::request_shutdown() {
  if (shutting_down_.exchange(true)) return;
  asio::co_spawn(control_, shutdown_sequence(), asio::detached);
}

awaitable<void> App::wait_for_sessions(SteadyClock::time_point deadline) {
  // The timer is the wake-up: it expires at the deadline, or is cancelled (on this thread)
  // when the registry reports its last session gone.
  auto drained = std::make_shared<asio::steady_timer>(control_, deadline);
  registry_.notify_when_empty(
      [this, drained] { asio::post(control_, [drained] { drained->cancel(); }); });
  co_await drained->async_wait(use_nothrow);
  registry_.notify_when_empty(nullptr);
}

awaitable<void> App::shutdown_sequence() {
  log_event(spdlog::level::info, "shutdown_started", {{"sessions", registry_.size()}});
  listeners_.close_all();
  health_.stop();
  if (signals_) {
    error_code ignored;
    signals_->cancel(ignored);
  }
  co_await wait_for_sessions(SteadyClock::now() +
                             policies_.current()->config().shutdown.drain_timeout);
  if (registry_.size() > 0) {
    registry_.stop_all(OutcomeKind::shutdown);
    co_await wait_for_sessions(SteadyClock::now() + stop_grace);
  }
  if (admin_) admin_->stop();
  stop_portal();
  co_await stop_exposer();
  for (auto& g : work_guards_) g.reset();
  accept_.stop();
  for (auto& w : workers_) w->stop();
  // Refusal lines suppressed since the last summary would otherwise never be reported.
  services_->refusal_log.flush(SteadyClock::now(), true);
  log_event(spdlog::level::info, "shutdown_complete", {});
  spdlog::default_logger_raw()->flush();
  control_.stop();
  {
    std::lock_guard lock(done_mutex_);
    done_ = true;
  }
  done_cv_.notify_all();
}

awaitable<void> App::stop_exposer() {
  if (!exposer_) co_return;
  // civetweb, under prometheus::Exposer, sees its stop flag only when its master thread's poll
  // of the listening socket returns: up to 2 s later, unless a connection wakes it. Stop it on
  // a thread of its own and knock on the port until it is gone.
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    exposer_.reset();
    stopped = true;
  });
  asio::steady_timer pause(control_);
  const auto knock_deadline = SteadyClock::now() + 3s;
  while (!stopped && metrics_endpoint_ && SteadyClock::now() < knock_deadline) {
    tcp::socket knock(control_);
    co_await knock.async_connect(*metrics_endpoint_, use_nothrow);
    error_code ignored;
    knock.close(ignored);
    pause.expires_after(10ms);
    co_await pause.async_wait(use_nothrow);
  }
  stopper.join();
}

}  // namespace rdpgate::gateway
