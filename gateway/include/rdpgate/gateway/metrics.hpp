#pragma once
// Every metric family of rdpgate, declared in one place (STYLE.md §6; names: SPEC §8). Label
// values come only from the configuration and fixed enums — never an address, user or token.

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "rdpgate/gateway/outcome.hpp"

namespace rdpgate::gateway {

enum class Direction : std::uint8_t { client_to_server, server_to_client };

// Counters for one listener, resolved once so the data path does no label lookups.
struct ListenerMetrics {
  std::array<prometheus::Counter*, outcome_count> connections{};
  // rdpgate_observed_refusals_total{listener,reason}: null for outcomes no rule in observe mode
  // can have.
  std::array<prometheus::Counter*, outcome_count> observed{};
  prometheus::Gauge* sessions_active = nullptr;
  prometheus::Histogram* handshake_seconds = nullptr;
  prometheus::Counter* inspection_bytes = nullptr;
  prometheus::Counter* accept_errors = nullptr;
};

struct BackendMetrics {
  prometheus::Gauge* up = nullptr;
  prometheus::Gauge* connections_active = nullptr;
  prometheus::Counter* connect_failures = nullptr;
};

struct RouteMetrics {
  prometheus::Gauge* sessions_active = nullptr;
  prometheus::Histogram* connect_seconds = nullptr;
};

// The process_* collector, registered next to the registry on the exposer. The exposer holds a
// weak_ptr: the returned collector lives as long as the process.
std::shared_ptr<prometheus::Collectable> make_process_collector();

class Metrics {
 public:
  Metrics();
  [[nodiscard]] std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Resolved handles, created on first use and kept (listeners and routes come from config).
  ListenerMetrics& listener(const std::string& name);
  RouteMetrics& route(const std::string& name);
  BackendMetrics& backend(const std::string& route, const std::string& backend);
  // rdpgate_refusals_total{listener,phase,reason}: the reason's name, or the outcome's when it
  // has none.
  void refusal(const std::string& listener, const Outcome& outcome);

  void requested_protocols(std::uint32_t requested, bool has_negotiation);
  // A single protocol from RDP_NEG_RSP, or `negotiation_failure` for an RDP_NEG_FAILURE.
  static constexpr std::uint32_t negotiation_failure = 0xFFFFFFFF;
  void selected_protocol(std::uint32_t selected);
  void relay_bytes(Direction d, std::uint64_t n) {
    (d == Direction::client_to_server ? relay_c2s_ : relay_s2c_)->Increment(static_cast<double>(n));
  }

  prometheus::Gauge& bans_active() { return *bans_active_; }
  prometheus::Gauge& usernames_throttled() { return *usernames_throttled_; }
  prometheus::Counter& bans_total(bool manual) { return manual ? *bans_manual_ : *bans_auto_; }
  prometheus::Gauge& grants_active() { return *grants_active_; }
  prometheus::Counter& grants_total() { return *grants_total_; }
  prometheus::Counter& auth_failures() { return *auth_failures_; }
  prometheus::Counter& tokens(std::string_view result);
  prometheus::Counter& token_valid() { return *token_valid_; }
  prometheus::Counter& token_invalid() { return *token_invalid_; }
  prometheus::Counter& config_reloads(bool success) {
    return success ? *reloads_success_ : *reloads_failure_;
  }
  prometheus::Counter& log_suppressed() { return *log_suppressed_; }
  // Brings rdpgate_log_dropped_total up to the log writers' count (log_lines_dropped()); the
  // housekeeping calls it every second.
  void sync_log_dropped();
  prometheus::Counter& state_errors() { return *state_errors_; }
  // rdpgate_portal_signins_total{result}: `result` is portal::to_string(SigninResult).
  prometheus::Counter& portal_signins(std::string_view result);
  prometheus::Counter& portal_grants() { return *portal_grants_; }  // rdpgate_portal_grants_total
  // rdpgate_worker_busy_total{worker}: times the worker was found busy by the accept thread
  // (handoff.hpp); `worker` is its index, 0 .. workers - 1.
  prometheus::Counter& worker_busy(std::size_t worker);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::mutex mutex_;
  prometheus::Family<prometheus::Counter>* connections_;
  prometheus::Family<prometheus::Counter>* refusals_;
  prometheus::Family<prometheus::Counter>* observed_;
  prometheus::Family<prometheus::Gauge>* sessions_active_;
  prometheus::Family<prometheus::Gauge>* route_sessions_active_;
  prometheus::Family<prometheus::Counter>* relay_bytes_;
  prometheus::Family<prometheus::Histogram>* handshake_;
  prometheus::Family<prometheus::Histogram>* connect_;
  prometheus::Family<prometheus::Counter>* requested_;
  prometheus::Family<prometheus::Counter>* selected_;
  prometheus::Family<prometheus::Gauge>* backend_up_;
  prometheus::Family<prometheus::Gauge>* backend_active_;
  prometheus::Family<prometheus::Counter>* backend_failures_;
  prometheus::Family<prometheus::Counter>* inspection_bytes_;
  prometheus::Family<prometheus::Counter>* accept_errors_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* worker_busy_;
  std::array<prometheus::Counter*, 8> requested_by_{};
  std::array<prometheus::Counter*, 8> selected_by_{};
  prometheus::Counter* token_valid_ = nullptr;
  prometheus::Counter* token_invalid_ = nullptr;
  prometheus::Counter* relay_c2s_;
  prometheus::Counter* relay_s2c_;
  prometheus::Gauge* bans_active_;
  prometheus::Gauge* usernames_throttled_;
  prometheus::Counter* bans_auto_;
  prometheus::Counter* bans_manual_;
  prometheus::Gauge* grants_active_;
  prometheus::Counter* grants_total_;
  prometheus::Counter* auth_failures_;
  prometheus::Counter* reloads_success_;
  prometheus::Counter* reloads_failure_;
  prometheus::Counter* log_suppressed_;
  prometheus::Counter* log_dropped_;
  std::uint64_t log_dropped_seen_ = 0;  // under mutex_
  prometheus::Counter* state_errors_;
  prometheus::Family<prometheus::Counter>* portal_signins_;
  prometheus::Counter* portal_grants_;
  std::unordered_map<std::string, std::unique_ptr<ListenerMetrics>> listeners_;
  std::unordered_map<std::string, std::unique_ptr<RouteMetrics>> routes_;
  std::unordered_map<std::string, std::unique_ptr<BackendMetrics>> backends_;
  // listener -> (phase << 24 | reason key): looked up without building a string, so a refused
  // connection allocates nothing.
  std::unordered_map<std::string, std::unordered_map<std::uint32_t, prometheus::Counter*>>
      refusal_cache_;
  std::unordered_map<std::size_t, prometheus::Counter*> worker_busy_by_;
};

}  // namespace rdpgate::gateway
