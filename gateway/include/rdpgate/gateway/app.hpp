#pragma once
// The running gateway, wired: worker threads (one single-threaded io_context each), the accept
// thread (acceptors and admission) and a control thread, the policy store, the shared services,
// durable state, listeners, the metrics endpoint, the admin API, health checks and signals. The
// parts live in their own files: listener.cpp, health.cpp, admin_adapter.cpp; reload.cpp and
// shutdown.cpp hold App's reload and drain.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/admin_adapter.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/health.hpp"
#include "rdpgate/gateway/listener.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/registry.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/gateway/session.hpp"
#include "rdpgate/security/token_keys.hpp"
#include "rdpgate/state/health.hpp"

namespace prometheus {
class Exposer;
}
namespace rdpgate::admin {
class AdminServer;
}
namespace rdpgate::state {
class StateStore;
}
namespace rdpgate::portal {
class Portal;
class PortalServer;
struct User;
}  // namespace rdpgate::portal
namespace rdpgate::security {
class BanManager;
class GrantTable;
class ReplayCache;
}  // namespace rdpgate::security

namespace rdpgate::gateway {
class SharedState;

class PortalAdapter;

class App {
 public:
  explicit App(config::Config cfg);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Binds every listener and endpoint and starts the threads. On failure returns the error
  // (nothing keeps running).
  [[nodiscard]] std::optional<std::string> start();
  // Blocks until a shutdown completed (SIGTERM/SIGINT or request_shutdown()).
  void wait();
  // Starts a graceful shutdown (safe from any thread).
  void request_shutdown();
  // Reloads the configuration file (safe from any thread); returns the error, if any.
  std::optional<std::string> reload_from_file();
  std::optional<std::string> apply(config::Config cfg);  // reload with an already loaded config

  using Bound = Listeners::Bound;
  [[nodiscard]] std::vector<Bound> listeners() const { return listeners_.bound(); }
  [[nodiscard]] std::optional<tcp::endpoint> metrics_endpoint() const { return metrics_endpoint_; }
  [[nodiscard]] std::optional<tcp::endpoint> admin_endpoint() const { return admin_endpoint_; }
  [[nodiscard]] std::optional<tcp::endpoint> portal_endpoint() const { return portal_endpoint_; }
  [[nodiscard]] Services& services() noexcept { return *services_; }
  [[nodiscard]] Metrics& metrics() noexcept { return *metrics_; }
  [[nodiscard]] SessionRegistry& registry() noexcept { return registry_; }
  [[nodiscard]] std::shared_ptr<const Policy> policy() const { return policies_.current(); }
  [[nodiscard]] const state::StateHealth& state_health() const noexcept { return state_health_; }
  // The admin API's view of the gateway (after start()).
  [[nodiscard]] AdminAdapter& admin_service() noexcept { return *admin_service_; }

 private:
  std::optional<std::string> open_state_and_policy();
  void make_state_services();  // bans, grants and replay cache over store_ (null: memory-only)
  std::optional<std::string> share_state();  // state.redis: SharedState over them
  std::optional<std::string> reload_failed(std::string error);
  std::optional<std::string> start_metrics();
  std::optional<std::string> start_admin();
  void start_threads();
  // The portal (portal_start.cpp): what a reload must read first, and the switch.
  struct PortalStaged {
    std::shared_ptr<const std::vector<portal::User>> users;
    std::optional<security::TokenKeyMaterial> key;
  };
  std::variant<PortalStaged, std::string> stage_portal(const config::Config& cfg) const;
  void commit_portal(const config::Config& cfg, PortalStaged staged);
  std::optional<std::string> start_portal();
  void stop_portal();
  awaitable<void> housekeeping();
  awaitable<void> shutdown_sequence();
  awaitable<void> wait_for_sessions(SteadyClock::time_point deadline);
  awaitable<void> stop_exposer();

  config::Config initial_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Services> services_;
  state::StateHealth state_health_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<security::BanManager> bans_;
  std::unique_ptr<security::GrantTable> grants_;
  std::shared_ptr<security::ReplayCache> replay_;
  std::unique_ptr<SharedState> shared_;  // state.redis; stopped before the parts above go
  PolicyStore policies_;
  SessionRegistry registry_;
  SessionContext session_ctx_;

  asio::io_context control_;
  asio::io_context accept_{1};  // the acceptors and admission (listener.cpp)
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_guards_;
  std::vector<std::thread> threads_;
  Listeners listeners_;
  HealthChecks health_;
  std::optional<asio::signal_set> signals_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::optional<tcp::endpoint> metrics_endpoint_;
  std::unique_ptr<AdminAdapter> admin_service_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::optional<tcp::endpoint> admin_endpoint_;
  std::mutex reload_mutex_;

  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> shutting_down_{false};

  // Last: the portal's thread uses the tables and services above, so it stops first.
  std::unique_ptr<PortalAdapter> portal_service_;
  std::unique_ptr<portal::Portal> portal_;
  std::unique_ptr<portal::PortalServer> portal_server_;
  std::optional<tcp::endpoint> portal_endpoint_;
};

}  // namespace rdpgate::gateway
