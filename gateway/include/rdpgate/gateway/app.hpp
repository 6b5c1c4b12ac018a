#pragma once
// The running gateway: worker threads (one single-threaded io_context each), listeners, the
// policy store, the shared services, the metrics endpoint, the admin API, health checks,
// signals, reload and drain.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rdpgate/admin/service.hpp"
#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/registry.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/gateway/session.hpp"

namespace prometheus {
class Exposer;
}
namespace rdpgate::admin {
class AdminServer;
}
namespace rdpgate::state {
class StateStore;
}
namespace rdpgate::security {
class BanManager;
class GrantTable;
class ReplayCache;
}  // namespace rdpgate::security

namespace rdpgate::gateway {

class App final : public admin::AdminService {
 public:
  explicit App(config::Config cfg);
  ~App() override;
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

  struct Bound {
    std::string name;
    tcp::endpoint endpoint;
  };
  [[nodiscard]] std::vector<Bound> listeners() const;
  [[nodiscard]] std::optional<tcp::endpoint> metrics_endpoint() const { return metrics_endpoint_; }
  [[nodiscard]] std::optional<tcp::endpoint> admin_endpoint() const { return admin_endpoint_; }
  [[nodiscard]] Services& services() noexcept { return *services_; }
  [[nodiscard]] Metrics& metrics() noexcept { return *metrics_; }
  [[nodiscard]] SessionRegistry& registry() noexcept { return registry_; }
  [[nodiscard]] std::shared_ptr<const Policy> policy() const { return policies_.current(); }

  // admin::AdminService
  std::vector<admin::SessionView> list_sessions() override;
  bool kill_session(std::string_view id) override;
  std::vector<admin::BanView> list_bans() override;
  std::variant<admin::BanView, std::string> add_ban(std::string_view cidr, config::Duration duration,
                                                    std::string_view reason) override;
  bool remove_ban(std::string_view cidr) override;
  std::vector<admin::GrantView> list_grants() override;
  std::variant<admin::GrantView, std::string> add_grant(std::string_view cidr,
                                                        std::string_view route,
                                                        config::Duration duration,
                                                        std::string_view reason) override;
  bool revoke_grant(std::string_view id) override;
  std::optional<std::string> reload() override { return reload_from_file(); }

 private:
  struct Listener;
  std::optional<std::string> open_listener(const config::ListenerConfig& lc);
  awaitable<void> accept_loop(std::shared_ptr<Listener> listener);
  void on_accepted(Listener& listener, tcp::socket socket, SteadyClock::time_point accepted);
  awaitable<void> housekeeping();
  awaitable<void> health_checks(std::string route, std::uint64_t generation);
  void start_health_checks(const config::Config& cfg);
  awaitable<void> shutdown_sequence();
  void sync_gauges();

  config::Config initial_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<security::BanManager> bans_;
  std::unique_ptr<security::GrantTable> grants_;
  std::shared_ptr<security::ReplayCache> replay_;
  PolicyStore policies_;
  SessionRegistry registry_;
  SessionContext session_ctx_;

  asio::io_context control_;
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_worker_{0};
  mutable std::mutex listeners_mutex_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::optional<asio::signal_set> signals_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::optional<tcp::endpoint> metrics_endpoint_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::optional<tcp::endpoint> admin_endpoint_;
  std::atomic<std::uint64_t> health_generation_{0};
  std::mutex reload_mutex_;

  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace rdpgate::gateway
