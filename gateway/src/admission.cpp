#include "rdpgate/gateway/admission.hpp"

#include <algorithm>
#include <cstring>

namespace rdpgate::gateway {

ConnectionTracker::Shard& ConnectionTracker::shard(const config::IpAddress& a) const noexcept {
  return shards_[IpHash{}(a) % shard_count];
}

ConnectionTracker::Result ConnectionTracker::acquire(const config::IpAddress& source,
                                                     std::uint32_t max_total,
                                                     std::uint32_t max_per_source) {
  const auto now_total = total_.fetch_add(1) + 1;
  if (max_total != 0 && now_total > max_total) {
    total_.fetch_sub(1);
    return Result::too_many_total;
  }
  auto& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto& count = s.counts[source];
  if (max_per_source != 0 && count >= max_per_source) {
    if (count == 0) s.counts.erase(source);
    total_.fetch_sub(1);
    return Result::too_many_per_source;
  }
  ++count;
  return Result::admitted;
}

void ConnectionTracker::release(const config::IpAddress& source) noexcept {
  auto& s = shard(source);
  {
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(source);
    if (it != s.counts.end() && --it->second == 0) s.counts.erase(it);
  }
  total_.fetch_sub(1);
}

std::uint32_t ConnectionTracker::count(const config::IpAddress& source) const {
  auto& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto it = s.counts.find(source);
  return it == s.counts.end() ? 0 : it->second;
}

bool RateLimiter::allow(const config::IpAddress& source, double rate, std::uint32_t burst,
                        Clock::time_point now) {
  if (rate <= 0) return true;  // "0/s" turns the limit off
  const double capacity = std::max<double>(1.0, burst);
  auto& s = shards_[IpHash{}(source) % shard_count];
  std::lock_guard lock(s.mutex);
  auto it = s.buckets.find(source);
  if (it == s.buckets.end()) {
    // INVARIANT: the map stays bounded. A full shard first forgets full buckets; if it is still
    // full (a flood from very many addresses), new sources are let through unmetered rather than
    // tracked: the global concurrency cap still bounds them.
    if (s.buckets.size() >= max_buckets_per_shard) {
      std::erase_if(s.buckets, [&](const auto& kv) {
        const auto elapsed = std::chrono::duration<double>(now - kv.second.updated).count();
        return kv.second.tokens + elapsed * rate >= capacity;
      });
      if (s.buckets.size() >= max_buckets_per_shard) return true;
    }
    it = s.buckets.emplace(source, Bucket{capacity, now}).first;
  }
  auto& b = it->second;
  const auto elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) {
    b.tokens = std::min(capacity, b.tokens + elapsed * rate);
    b.updated = now;
  }
  const bool shared = shared_.load(std::memory_order_relaxed);
  if (shared) settle(s, source, b);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  if (shared && s.admitted.size() < max_buckets_per_shard) ++s.admitted[source];
  return true;
}

void RateLimiter::settle(Shard& s, const config::IpAddress& source, Bucket& bucket) {
  if (s.charged.empty()) return;
  const auto it = s.charged.find(source);
  if (it == s.charged.end()) return;
  bucket.tokens = std::max(0.0, bucket.tokens - it->second);
  s.charged.erase(it);
}

RateLimiter::Counts RateLimiter::drain_admitted() {
  Counts out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    out.insert(out.end(), s.admitted.begin(), s.admitted.end());
    s.admitted.clear();
  }
  return out;
}

void RateLimiter::charge(const config::IpAddress& source, std::uint32_t connections) {
  auto& s = shards_[IpHash{}(source) % shard_count];
  std::lock_guard lock(s.mutex);
  if (s.charged.size() >= max_buckets_per_shard && !s.charged.contains(source)) return;
  s.charged[source] += connections;
}

std::size_t RateLimiter::sweep(double rate, std::uint32_t burst, Clock::time_point now) {
  const double capacity = std::max<double>(1.0, burst);
  std::size_t left = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    std::erase_if(s.buckets, [&](const auto& kv) {
      const auto elapsed = std::chrono::duration<double>(now - kv.second.updated).count();
      return rate <= 0 || kv.second.tokens + elapsed * rate >= capacity;
    });
    s.charged.clear();  // another instance's admissions of the last sweep period: stale now
    left += s.buckets.size();
  }
  return left;
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace rdpgate::gateway
