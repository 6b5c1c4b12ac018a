#pragma once
// Thread-safe admission services shared by all sessions and kept across reloads: concurrency
// counts (global and per source) and per-source connection-rate token buckets. Both are sharded
// hash maps so a flood from one range contends on few locks, and both are bounded: entries that
// carry no information (zero connections, a full bucket) are dropped.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/security/address_hash.hpp"

namespace rdpgate::gateway {

// Keyed per process: see security/address_hash.hpp.
using IpHash = security::AddressHash;

class ConnectionTracker {
 public:
  enum class Result { admitted, too_many_total, too_many_per_source };

  // Takes a slot for `source` unless a cap (0 = none) would be exceeded.
  Result acquire(const config::IpAddress& source, std::uint32_t max_total,
                 std::uint32_t max_per_source);
  void release(const config::IpAddress& source) noexcept;
  [[nodiscard]] std::uint64_t total() const noexcept { return total_.load(); }
  [[nodiscard]] std::uint32_t count(const config::IpAddress& source) const;

 private:
  static constexpr std::size_t shard_count = 64;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<config::IpAddress, std::uint32_t, IpHash> counts;
  };
  Shard& shard(const config::IpAddress& a) const noexcept;
  mutable std::array<Shard, shard_count> shards_;
  std::atomic<std::uint64_t> total_{0};
};

// RAII slot in a ConnectionTracker.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionTracker* tracker, const config::IpAddress& source)
      : tracker_(tracker), source_(source) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept
      : tracker_(std::exchange(other.tracker_, nullptr)), source_(other.source_) {}
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    reset();
    tracker_ = std::exchange(other.tracker_, nullptr);
    source_ = other.source_;
    return *this;
  }
  ~ConnectionSlot() { reset(); }
  void reset() noexcept {
    if (tracker_ != nullptr) std::exchange(tracker_, nullptr)->release(source_);
  }

 private:
  ConnectionTracker* tracker_ = nullptr;
  config::IpAddress source_;
};

// Per-source token buckets: `rate` tokens per second up to `burst`; one token per connection.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // True if a connection from `source` may start now (and takes a token).
  bool allow(const config::IpAddress& source, double rate_per_second, std::uint32_t burst,
             Clock::time_point now);
  // Drops buckets that have refilled completely (they hold no information). Returns the number
  // of buckets left.
  std::size_t sweep(double rate_per_second, std::uint32_t burst, Clock::time_point now);
  [[nodiscard]] std::size_t size() const;

  // A cluster-wide limit (state.redis): after share(), allow() counts the connections it admits
  // per source, which drain_admitted() hands over (and resets) for the other instances; charge()
  // takes from a source's bucket the connections other instances admitted, at its next allow().
  void share() noexcept { shared_.store(true, std::memory_order_relaxed); }
  using Counts = std::vector<std::pair<config::IpAddress, std::uint32_t>>;
  [[nodiscard]] Counts drain_admitted();
  void charge(const config::IpAddress& source, std::uint32_t connections);

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  // Takes what other instances admitted from `source` out of its bucket; the shard's mutex held.
  struct Shard;
  static void settle(Shard& s, const config::IpAddress& source, Bucket& bucket);
  static constexpr std::size_t shard_count = 64;
  static constexpr std::size_t max_buckets_per_shard = 1u << 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<config::IpAddress, Bucket, IpHash> buckets;
    std::unordered_map<config::IpAddress, std::uint32_t, IpHash> admitted;  // since the drain
    std::unordered_map<config::IpAddress, std::uint32_t, IpHash> charged;   // not yet settled
  };
  std::array<Shard, shard_count> shards_;
  std::atomic<bool> shared_{false};
};

}  // namespace rdpgate::gateway
