#pragma once
// Backend pools: per-route routing state kept across reloads (active connections, round-robin
// position, health, username affinity). Keyed by route name and backend address, so a reload that
// keeps a backend keeps its state.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/metrics.hpp"

namespace rdpgate::gateway {

struct BackendState {
  config::Endpoint endpoint;
  std::atomic<std::uint32_t> active{0};
  std::atomic<bool> up{true};  // without a health check always true (HealthChecks::restart)
  // Health-check bookkeeping, touched only by the route's health checker.
  std::uint32_t successes = 0;
  std::uint32_t failures = 0;
  BackendMetrics* metrics = nullptr;
  void set_up(bool value) noexcept {
    up.store(value);
    if (metrics != nullptr) metrics->up->Set(value ? 1 : 0);
  }
};

class RoutePool {
 public:
  RoutePool(std::string route, std::vector<std::shared_ptr<BackendState>> backends)
      : route_(std::move(route)), backends_(std::move(backends)) {}
  // Backends to try, in order: the balance policy's choice first (the user's previous backend
  // when affinity applies), then the others as failover. Backends marked down are left out.
  [[nodiscard]] std::vector<std::shared_ptr<BackendState>> candidates(config::Balance balance,
                                                                      std::string_view user);
  // Remembers that `user` landed on `backend` (affinity by username).
  void remember(std::string_view user, const std::string& backend);
  [[nodiscard]] const std::vector<std::shared_ptr<BackendState>>& backends() const noexcept {
    return backends_;
  }
  [[nodiscard]] const std::string& route() const noexcept { return route_; }

 private:
  static constexpr std::size_t max_affinity = 1u << 16;
  std::string route_;
  std::vector<std::shared_ptr<BackendState>> backends_;
  std::atomic<std::uint64_t> next_{0};
  std::mutex affinity_mutex_;
  std::unordered_map<std::string, std::string> affinity_;  // lower-case user -> backend address
};

class BackendPools {
 public:
  explicit BackendPools(Metrics& metrics) : metrics_(metrics) {}
  // Builds the pools for `routes`, reusing the state of backends that remain.
  void update(const std::vector<config::RouteConfig>& routes);
  [[nodiscard]] std::shared_ptr<RoutePool> get(const std::string& route) const;

 private:
  Metrics& metrics_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<RoutePool>> pools_;
};

}  // namespace rdpgate::gateway
