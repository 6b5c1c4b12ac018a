#pragma once
// Several rdpgate instances, one Redis (state.redis): bans, grants, failure counts, the username
// throttle, per-source connection rates and the token replay cache shared by the fleet.
//
// Admission never waits on the network. Every instance keeps its own replica — the BanManager,
// GrantTable and RateLimiters it had anyway, with its SQLite store underneath — and this class
// keeps the replica and Redis in step on two threads of its own:
//   - the commander: everything that changed here goes to Redis in order, pipelined (a ban is
//     HSET into `bans` and published; a judged failure and, every 100 ms, each listener's
//     admissions per source are published); a token's first use is an atomic SET NX with the
//     token's remaining lifetime; whenever a connection comes back, every 5 minutes, and every
//     15 s when the fleet's change counter (`version`) moved, a full resync (below);
//   - the subscriber: applies what the other instances publish, as it arrives (a ban made on
//     one instance is enforced by the others within milliseconds).
// Full resync: Redis' bans and grants are applied here; ones here that Redis lacks are pushed
// to it unless a tombstone says another instance lifted them (so a Redis that lost its data, or
// changes made here while it was unreachable, come back; a lifted ban never does).
//
// Redis down: admission goes on with the replica. Changes made here queue (up to 100,000,
// oldest dropped first — the resync pushes what they left out) and reach Redis when it returns;
// failures and rates are not queued (counts are per instance meanwhile). The token replay check
// answers at once with state.redis.replay_when_down: `refuse`, or this instance's own cache
// (`local`). One log line when the connection goes and one when it is back; reconnects back off
// from 100 ms to 5 s. Metrics: rdpgate_state_redis_up, rdpgate_state_redis_failed_operations_total,
// rdpgate_state_redis_pending_operations, rdpgate_state_redis_resyncs_total and
// rdpgate_state_redis_last_resync_timestamp_seconds.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/fleet_codec.hpp"
#include "rdpgate/security/replay_cache.hpp"
#include "rdpgate/state/redis.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace rdpgate::gateway {

struct Services;

class SharedState {
 public:
  struct Parts {
    security::BanManager& bans;
    security::GrantTable& grants;
    security::ReplayCache& replay;
    Services& services;  // the listeners' rate limiters
    prometheus::Registry& registry;
  };
  // `password`: read from state.redis.password_file by the caller ("" = none).
  SharedState(config::RedisConfig config, std::string password, Parts parts);
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;
  ~SharedState();  // stop()

  // Hooks itself into the parts and starts both threads; returns at once (Redis may be down).
  void start();
  void stop();

  [[nodiscard]] bool up() const noexcept { return up_.load(); }
  [[nodiscard]] const std::string& instance() const noexcept { return instance_; }

 private:
  struct Claim {
    std::string jti;
    std::chrono::milliseconds ttl;
    std::function<void(security::ReplayCache::Fleet)> answer;
  };
  // A change made here (queued while Redis is down), a message, or a replay claim.
  using Op = std::variant<fleet::Event, Claim>;

  void enqueue(Op op);
  void command_loop();
  void subscribe_loop();
  bool connect_commander();
  // Sends `ops` in one pipeline; false (and the changes put back) when the connection broke.
  bool send(std::deque<Op>& ops);
  // Brings the replica and Redis in step (see above); `full` false: only when `P version`
  // (counted up by every change) moved since the last resync. False when the connection broke.
  bool resync(bool full);
  void publish_rates(std::deque<Op>& ops);
  void apply(const fleet::Message& message);
  void went_down(const std::string& error);
  [[nodiscard]] std::string key(std::string_view name) const {
    return config_.key_prefix + std::string(name);
  }
  [[nodiscard]] state::RedisConnection::Options options() const;

  config::RedisConfig config_;
  std::string password_;
  Parts parts_;
  std::string instance_;  // random, per process

  std::mutex mutex_;  // INVARIANT: guards queue_, resync_wanted_, stopping_
  std::condition_variable wake_;
  std::deque<Op> queue_;
  bool resync_wanted_ = true;
  std::string version_;  // `P version` at the last resync (the command thread's)
  // What the last resync applied, by key: the JSON value and its expiry (the command thread's).
  struct Applied {
    std::string value;
    std::chrono::system_clock::time_point until;
  };
  using Seen = std::unordered_map<std::string, Applied>;
  Seen seen_bans_;
  Seen seen_grants_;
  bool stopping_ = false;
  std::atomic<bool> up_{false};
  std::atomic<bool> stop_subscriber_{false};

  std::optional<state::RedisConnection> commander_;  // the command thread's connection
  std::thread command_thread_;
  std::thread subscribe_thread_;

  prometheus::Gauge* up_gauge_ = nullptr;
  prometheus::Counter* failed_ = nullptr;
  prometheus::Gauge* pending_ = nullptr;
  prometheus::Counter* resyncs_ = nullptr;
  prometheus::Gauge* last_resync_ = nullptr;
};

}  // namespace rdpgate::gateway
