#pragma once
// Listener (SPEC §1.1): bind, accept with back-off on errors, and admission at accept — before
// a byte is read, a refused connection costs no coroutine, buffer or timer. Admitted
// connections become Sessions on the workers, in turn.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/gateway/session.hpp"

namespace rdpgate::gateway {

class Listeners {
 public:
  struct Bound {
    std::string name;
    tcp::endpoint endpoint;
  };

  Listeners(std::vector<std::unique_ptr<asio::io_context>>& workers, const PolicyStore& policies,
            SessionContext& sessions);

  // Binds `lc` and starts accepting; the error names the listener and the cause.
  std::optional<std::string> open(const config::ListenerConfig& lc);
  // Reload, step one: closes the listeners `cfg` drops or moves; returns those it adds or moves
  // (open them after publishing the new policy).
  std::vector<const config::ListenerConfig*> close_changed(const config::Config& cfg);
  void close_all();
  [[nodiscard]] std::vector<Bound> bound() const;

 private:
  struct Listener;
  awaitable<void> accept_loop(std::shared_ptr<Listener> listener);
  void on_accepted(Listener& listener, tcp::socket socket, SteadyClock::time_point accepted);
  static void close(const std::shared_ptr<Listener>& listener);

  std::vector<std::unique_ptr<asio::io_context>>& workers_;
  const PolicyStore& policies_;
  SessionContext& sessions_;
  std::atomic<std::size_t> next_worker_{0};
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Listener>> listeners_;
};

}  // namespace rdpgate::gateway
