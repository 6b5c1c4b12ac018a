#pragma once
// Thread-safe services shared by every session and kept across reloads (STYLE.md §4: state lives
// here, filters only reference it).

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "rdpgate/gateway/admission.hpp"
#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/names.hpp"

namespace rdpgate::state {
class StateStore;
}
namespace rdpgate::security {
class BanManager;
class GrantTable;
class ReplayCache;
}  // namespace rdpgate::security

namespace rdpgate::gateway {

struct Services {
  explicit Services(Metrics& m) : metrics(m), pools(m) {}
  Metrics& metrics;
  ConnectionTracker tracker;
  BackendPools pools;
  RefusalLog refusal_log;
  NameCache names;                          // host-name backends, resolved in the background
  state::StateStore* store = nullptr;       // null when state could not be opened
  security::BanManager* bans = nullptr;     // null: no bans
  security::GrantTable* grants = nullptr;   // null: no grants
  security::ReplayCache* replay = nullptr;  // null: tokens cannot be checked for replay

  // Per-listener connection-rate buckets, kept across reloads by listener name.
  std::shared_ptr<RateLimiter> rate_limiter(const std::string& listener) {
    std::lock_guard lock(mutex_);
    auto& slot = rate_limiters_[listener];
    if (!slot) slot = std::make_shared<RateLimiter>();
    return slot;
  }
  // Every listener's buckets, by listener name (state.redis shares them).
  template <typename F>
  void for_each_rate_limiter(F&& f) {
    std::lock_guard lock(mutex_);
    for (auto& [name, limiter] : rate_limiters_) f(name, *limiter);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<RateLimiter>> rate_limiters_;
};

}  // namespace rdpgate::gateway
