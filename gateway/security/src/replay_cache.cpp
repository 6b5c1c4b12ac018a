#include "rdpgate/security/replay_cache.hpp"

namespace rdpgate::security {

ReplayCache::ReplayCache(state::StateStore* store, std::size_t capacity)
    : store_(store), capacity_(capacity) {
  if (store_ == nullptr) return;
  for (auto& record : store_->load_replays()) {
    seen_.emplace(std::move(record.jti), record.expires);
  }
}

ReplayCache::Use ReplayCache::first_use(std::string_view jti, TimePoint keep_until, TimePoint now) {
  std::lock_guard lock{mutex_};
  std::string key{jti};
  if (const auto it = seen_.find(key); it != seen_.end()) {
    if (it->second > now) return Use::replayed;
    seen_.erase(it);  // an old entry of an expired token: the jti may be reused
  }
  if (seen_.size() >= capacity_) {
    purge_locked(now);
    if (seen_.size() >= capacity_) return Use::full;
  }
  // The StateStore reports the failure to its StateHealth (log, metric, /healthz).
  if (store_ != nullptr && store_->put_replay({key, keep_until})) return Use::not_recorded;
  seen_.emplace(std::move(key), keep_until);
  return Use::first;
}

bool ReplayCache::contains(std::string_view jti, TimePoint now) const {
  std::lock_guard lock{mutex_};
  const auto it = seen_.find(std::string{jti});
  return it != seen_.end() && it->second > now;
}

std::size_t ReplayCache::size() const {
  std::lock_guard lock{mutex_};
  return seen_.size();
}

void ReplayCache::purge_locked(TimePoint now) {
  std::erase_if(seen_, [&](const auto& entry) { return entry.second <= now; });
}

void ReplayCache::purge(TimePoint now) {
  std::lock_guard lock{mutex_};
  purge_locked(now);
  if (store_ != nullptr) {
    state::reported(store_->purge_expired(now));
  }
}

}  // namespace rdpgate::security
