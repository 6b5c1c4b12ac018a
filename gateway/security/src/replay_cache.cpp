#include "rdpgate/security/replay_cache.hpp"

#include <future>

namespace rdpgate::security {

ReplayCache::ReplayCache(state::StateStore* store, std::size_t capacity)
    : store_(store), capacity_(capacity) {
  if (store_ == nullptr) return;
  for (auto& record : store_->load_replays()) {
    seen_.emplace(std::move(record.jti), record.expires);
  }
}

void ReplayCache::first_use(std::string_view jti, TimePoint keep_until, TimePoint now,
                            std::function<void(Use)> done) {
  std::string key{jti};
  Use refused = Use::first;
  {
    std::lock_guard lock{mutex_};
    if (const auto it = seen_.find(key); it != seen_.end()) {
      if (it->second > now) {
        refused = Use::replayed;
      } else {
        seen_.erase(it);  // an old entry of an expired token: the jti may be reused
      }
    }
    if (refused == Use::first && seen_.size() >= capacity_) {
      purge_locked(now);
      if (seen_.size() >= capacity_) refused = Use::full;
    }
    if (refused == Use::first) seen_.emplace(key, keep_until);  // reserved: a replay from now on
  }
  if (refused != Use::first) {
    done(refused);
    return;
  }
  if (!fleet_) {
    record(key, keep_until, std::move(done));
    return;
  }
  fleet_(key, keep_until, [this, key, keep_until, done = std::move(done)](Fleet answer) mutable {
    switch (answer) {
      case Fleet::first: record(key, keep_until, std::move(done)); return;
      case Fleet::replayed: done(Use::replayed); return;  // keep refusing it here too
      case Fleet::unavailable:
        release(key, keep_until);
        done(Use::unavailable);
        return;
    }
  });
}

void ReplayCache::share(FleetCheck check) { fleet_ = std::move(check); }

void ReplayCache::release(const std::string& jti, TimePoint keep_until) {
  std::lock_guard lock{mutex_};
  if (const auto it = seen_.find(jti); it != seen_.end() && it->second == keep_until) {
    seen_.erase(it);
  }
}

void ReplayCache::record(const std::string& jti, TimePoint keep_until,
                         std::function<void(Use)> done) {
  if (store_ == nullptr) {
    done(Use::first);
    return;
  }
  // The store reports a failure to its StateHealth (log, metric, /healthz).
  store_->put_replay({jti, keep_until}, [this, jti, keep_until, done = std::move(done)](
                                            const std::optional<std::string>& error) {
    if (!error) {
      done(Use::first);
      return;
    }
    release(jti, keep_until);
    done(Use::not_recorded);
  });
}

ReplayCache::Use ReplayCache::first_use(std::string_view jti, TimePoint keep_until, TimePoint now) {
  std::promise<Use> answer;
  auto result = answer.get_future();
  first_use(jti, keep_until, now, [&answer](Use use) { answer.set_value(use); });
  return result.get();
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
  if (store_ != nullptr) store_->purge_expired(now, std::chrono::hours{24 * 7}, {});
}

}  // namespace rdpgate::security
