#include "rdpgate/gateway/registry.hpp"

#include <utility>

namespace rdpgate::gateway {

void SessionRegistry::add(const std::shared_ptr<SessionEntry>& e) {
  std::lock_guard lock(mutex_);
  sessions_[e->id] = e;
}

void SessionRegistry::remove(const std::string& id) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
    if (sessions_.empty()) notify = std::exchange(on_empty_, nullptr);
  }
  if (notify) notify();
}

void SessionRegistry::notify_when_empty(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (!sessions_.empty() || !fn) {
      on_empty_ = std::move(fn);
      return;
    }
    on_empty_ = nullptr;
  }
  fn();
}

std::vector<SessionSnapshot> SessionRegistry::list() const {
  std::vector<std::shared_ptr<SessionEntry>> entries;
  {
    std::lock_guard lock(mutex_);
    entries.reserve(sessions_.size());
    for (const auto& [id, e] : sessions_) entries.push_back(e);
  }
  std::vector<SessionSnapshot> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    SessionSnapshot s;
    s.id = e->id;
    s.listener = e->listener;
    s.started = e->started;
    s.bytes_in = e->bytes_in.load();
    s.bytes_out = e->bytes_out.load();
    {
      std::lock_guard lock(e->mutex);
      s.source = e->source;
      s.route = e->route;
      s.backend = e->backend;
      s.user = e->user;
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool SessionRegistry::stop(const std::string& id, OutcomeKind why) {
  std::shared_ptr<SessionEntry> e;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    e = it->second;
  }
  asio::post(e->executor, [e, why] {
    if (e->alive && e->stop) e->stop(why);
  });
  return true;
}

void SessionRegistry::stop_all(OutcomeKind why) {
  std::vector<std::shared_ptr<SessionEntry>> entries;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : sessions_) entries.push_back(e);
  }
  for (auto& e : entries) {
    asio::post(e->executor, [e, why] {
      if (e->alive && e->stop) e->stop(why);
    });
  }
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace rdpgate::gateway
