#include "rdpgate/security/replay_cache.hpp"

namespace rdpgate::security {

ReplayCache::ReplayCache(state::StateStore* store, std::size_t capacity)
    : store_(store), capacity_(capacity) {
  if (store_ == nullptr) return;
  std::string error;
  for (auto& record : store_->load_replays(&error)) {
    seen_.emplace(std::move(record.jti), record.expires);
  }
  last_error_ = std::move(error);
}

bool ReplayCache::first_use(std::string_view jti, TimePoint keep_until, TimePoint now) {
  std::lock_guard lock{mutex_};
  std::string key{jti};
  if (const auto it = seen_.find(key); it != seen_.end()) {
    if (it->second > now) return false;
    seen_.erase(it);  // an old entry of an expired token: the jti may be reused
  }
  if (seen_.size() >= capacity_) {
    purge_locked(now);
    if (seen_.size() >= capacity_) return false;
  }
  if (store_ != nullptr) {
    if (auto error = store_->put_replay({key, keep_until})) last_error_ = std::move(*error);
  }
  seen_.emplace(std::move(key), keep_until);
  return true;
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
    if (auto error = store_->purge_expired(now)) last_error_ = std::move(*error);
  }
}

std::string ReplayCache::last_error() const {
  std::lock_guard lock{mutex_};
  return last_error_;
}

void ReplayCache::clear_error() {
  std::lock_guard lock{mutex_};
  last_error_.clear();
}

}  // namespace rdpgate::security
