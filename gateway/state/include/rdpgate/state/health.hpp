#pragma once
// The one sink for persistence errors. The StateStore reports every failed write or load here
// as it returns the error, so the services that call it (bans, grants, the token replay cache)
// need not keep or forward errors; the gateway's metrics (rdpgate_state_errors_total), its log
// and GET /healthz read it. Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace rdpgate::state {

class StateHealth {
 public:
  using Observer = std::function<void(const std::string& error)>;
  struct Snapshot {
    bool persistent = true;  // false: the store could not be opened; state is memory-only
    std::uint64_t failures = 0;
    std::string last_error;  // "" when none
    std::chrono::system_clock::time_point last_failure{};
  };

  // Called on the reporting thread for every failure (set once, before the store is used).
  void observe(Observer observer);
  void unavailable(std::string error);    // the store could not be opened
  void failed(const std::string& error);  // a write or load failed
  [[nodiscard]] Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  Snapshot snapshot_;
  Observer observer_;
};

}  // namespace rdpgate::state
