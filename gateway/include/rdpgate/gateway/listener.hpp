#pragma once
// Listener (SPEC §1.1): bind, accept with back-off on errors, and admission at accept — before
// a byte is read, a refused connection costs no coroutine, buffer, timer or epoll registration
// (accept, setsockopt, close). Every acceptor and every admission decision runs on the accept
// thread (its own io_context), so a busy worker stops no accept and no refusal, and a refused
// connection costs no worker anything. Admitted connections are handed to the workers in turn
// (handoff.hpp) and become Sessions there. A reload binds first and switches after: a listener
// that cannot be bound leaves every running one as it was.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/handoff.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/gateway/session.hpp"

namespace rdpgate::gateway {

class Listeners {
  struct Listener;  // one acceptor (listener.cpp)

 public:
  struct Bound {
    std::string name;
    tcp::endpoint endpoint;
  };

  // The listeners of a configuration, bound and listening but not yet accepting (stage()),
  // waiting for commit(). Dropping it unused closes what it bound.
  struct Staged {
    struct Entry {
      std::shared_ptr<Listener> listener;
      std::string name;
      config::Endpoint configured;
      bool fresh = false;  // bound by stage(); the others already accept
    };
    std::vector<Entry> serve;                      // one per listener of the config, in order
    std::vector<std::shared_ptr<Listener>> close;  // open now, served by none of them
  };

  // `accept_io` runs the acceptors and admission (one thread); `workers` (at least one) run the
  // sessions.
  Listeners(asio::io_context& accept_io, std::vector<std::unique_ptr<asio::io_context>>& workers,
            SessionContext& sessions);

  // Start and reload, step one: finds, for every listener of `cfg`, an open acceptor that
  // serves its address — the same name and address, or the same host and (non-zero) port
  // under another name, which renames it — and binds the others (listen(), no accept yet).
  // Nothing that runs changes. The error names the listener and the cause; what was bound
  // for it is closed again. (Moving a listener between a wildcard and a specific address on
  // one port needs both sockets at once, which Linux refuses: that reload fails.)
  [[nodiscard]] std::variant<Staged, std::string> stage(const config::Config& cfg);
  // Step two, once `policy` (built from the same config) is published: every staged acceptor
  // serves its listener of `policy`, the fresh ones start accepting, those in `close` are
  // closed. Cannot fail.
  void commit(Staged staged, const std::shared_ptr<const Policy>& policy);
  void close_all();
  [[nodiscard]] std::vector<Bound> bound() const;

 private:
  // What an acceptor serves: listener `index` of `policy`, named `name`. A reload swaps it
  // as a whole, so a connection accepted meanwhile sees a name and a policy that belong
  // together (a renamed listener is never looked up in the wrong snapshot).
  struct Binding {
    std::string name;
    std::shared_ptr<const Policy> policy;
    std::size_t index = 0;
  };
  static std::variant<std::shared_ptr<Listener>, std::string> bind(
      asio::io_context& io, const config::ListenerConfig& lc);
  awaitable<void> accept_loop(std::shared_ptr<Listener> listener);
  void on_accepted(Listener& listener, int fd, const tcp::endpoint& remote,
                   SteadyClock::time_point accepted);
  void start_session(Socket socket, Admitted connection);  // on the worker
  static void close(const std::shared_ptr<Listener>& listener);

  asio::io_context& accept_io_;
  SessionContext& sessions_;
  Handoff handoff_;           // accept thread only
  mutable std::mutex mutex_;  // INVARIANT: held around every change of listeners_
  std::vector<std::shared_ptr<Listener>> listeners_;
};

}  // namespace rdpgate::gateway
