#pragma once
// The `jti` values of signed tokens already used, each kept until its token's expiry plus the
// clock skew: after that the token itself is refused as expired, so the entry can go.
//
// Memory answers; the StateStore (optional) makes entries survive a restart, so a token used
// just before a crash cannot be replayed just after it. Thread-safe: one mutex, never held
// across a store write; a first use reserves its jti in memory before the write is queued, so
// two connections presenting the same token cannot both pass. At most
// `capacity` live entries: when full (even after dropping expired ones) first_use() refuses,
// failing closed, rather than forgetting tokens that could then be replayed. With a store, a
// use is accepted only once its write succeeded: a jti that is not on disk could be replayed
// after a restart, so a failed write (disk full, read-only file system) refuses the token, and
// the jti is not remembered — the same token passes once the store writes again.

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "rdpgate/state/state_store.hpp"

namespace rdpgate::security {

class ReplayCache {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  static constexpr std::size_t default_capacity = 1'000'000;

  explicit ReplayCache(state::StateStore* store = nullptr, std::size_t capacity = default_capacity);

  enum class Use {
    first,         // never seen (or expired): remembered until `keep_until`
    replayed,      // seen before and still live
    full,          // `capacity` live entries even after dropping the expired ones
    not_recorded,  // the store's write failed: not remembered, so the use must be refused
    unavailable    // the fleet's replay cache could not be asked (state.redis down, `refuse`)
  };
  // The fleet's replay cache (state.redis): asked after the local reservation, it answers
  // `first` (no instance used the jti; it is now claimed for all), `replayed` (another instance
  // did) or `unavailable`. The answer may come on another thread.
  enum class Fleet { first, replayed, unavailable };
  using FleetCheck = std::function<void(const std::string& jti, TimePoint keep_until,
                                        std::function<void(Fleet)> answer)>;
  void share(FleetCheck check);  // before the first use
  // Remembers `jti` on its first use; anything but Use::first means "refuse". The form with
  // `done` never waits for the disk: the jti is reserved in memory at once (a concurrent use of
  // it is a replay from now on), and `done` is called — at once, or on the store's writer thread
  // once the use is durable — with the answer; when the store could not record it, the
  // reservation is dropped again (not_recorded).
  [[nodiscard]] Use first_use(std::string_view jti, TimePoint keep_until, TimePoint now);
  void first_use(std::string_view jti, TimePoint keep_until, TimePoint now,
                 std::function<void(Use)> done);
  [[nodiscard]] bool contains(std::string_view jti, TimePoint now) const;
  [[nodiscard]] std::size_t size() const;
  void purge(TimePoint now);

 private:
  void purge_locked(TimePoint now);
  // After the fleet's answer: the store write, or the refusal.
  void record(const std::string& jti, TimePoint keep_until, std::function<void(Use)> done);
  void release(const std::string& jti, TimePoint keep_until);  // drops our reservation

  FleetCheck fleet_;
  state::StateStore* store_;
  std::size_t capacity_;
  mutable std::mutex mutex_;  // INVARIANT: guards everything below and every store_ call
  std::unordered_map<std::string, TimePoint> seen_;
};

}  // namespace rdpgate::security
