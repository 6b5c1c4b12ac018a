#pragma once
// The `jti` values of signed tokens already used, each kept until its token's expiry plus the
// clock skew: after that the token itself is refused as expired, so the entry can go.
//
// Memory answers; the StateStore (optional) makes entries survive a restart, so a token used
// just before a crash cannot be replayed just after it. Thread-safe: one mutex, held across
// the store write so two connections presenting the same token cannot both pass. At most
// `capacity` live entries: when full (even after dropping expired ones) first_use() refuses,
// failing closed, rather than forgetting tokens that could then be replayed.

#include <chrono>
#include <cstddef>
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

  // True the first time `jti` is seen (it is then remembered until `keep_until`); false for a
  // replay, or when the cache is full.
  bool first_use(std::string_view jti, TimePoint keep_until, TimePoint now);
  [[nodiscard]] bool contains(std::string_view jti, TimePoint now) const;
  [[nodiscard]] std::size_t size() const;
  void purge(TimePoint now);

 private:
  void purge_locked(TimePoint now);

  state::StateStore* store_;
  std::size_t capacity_;
  mutable std::mutex mutex_;  // INVARIANT: guards everything below and every store_ call
  std::unordered_map<std::string, TimePoint> seen_;
};

}  // namespace rdpgate::security
