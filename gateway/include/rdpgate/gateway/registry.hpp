#pragma once
// Live sessions, for the admin API (list, kill) and for shutdown (drain, then close the rest).
// An entry is created by its session and touched by other threads only through atomics, the
// entry's mutex, or a function posted to the session's own executor.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/outcome.hpp"

namespace rdpgate::gateway {

struct SessionEntry {
  explicit SessionEntry(const Executor& on) : executor(on) {}

  std::string id;  // set before the entry is added, then constant
  std::string listener;
  std::chrono::system_clock::time_point started;
  const Executor executor;                  // the session's
  std::atomic<std::uint64_t> bytes_in{0};   // client -> server
  std::atomic<std::uint64_t> bytes_out{0};  // server -> client

  // The strings below are set by the session as it learns them (a PROXY header replaces the
  // source) and read by the admin API: only under `mutex`.
  mutable std::mutex mutex;
  std::string source;  // "ip:port"
  std::string route;
  std::string backend;
  std::string user;
  void set_source(std::string v) { set(source, std::move(v)); }
  void set_route(std::string v) { set(route, std::move(v)); }
  void set_backend(std::string v) { set(backend, std::move(v)); }
  void set_user(std::string v) { set(user, std::move(v)); }

  // Set and called only on `executor`: stops the session with the given outcome.
  std::function<void(OutcomeKind)> stop;
  bool alive = true;  // only on `executor`

 private:
  void set(std::string& field, std::string v) {
    std::lock_guard lock(mutex);
    field = std::move(v);
  }
};

struct SessionSnapshot {
  std::string id, source, listener, route, backend, user;
  std::chrono::system_clock::time_point started;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

class SessionRegistry {
 public:
  void add(const std::shared_ptr<SessionEntry>& e);
  void remove(const std::string& id);
  [[nodiscard]] std::vector<SessionSnapshot> list() const;
  bool stop(const std::string& id, OutcomeKind why);
  void stop_all(OutcomeKind why);
  [[nodiscard]] std::size_t size() const;
  // Calls `fn` once, on the thread that removes the last session (at once when there is none);
  // a later call replaces an earlier one, and nullptr clears it. Shutdown waits on it.
  void notify_when_empty(std::function<void()> fn);

 private:
  mutable std::mutex mutex_;
  std::function<void()> on_empty_;  // guarded by mutex_
  std::unordered_map<std::string, std::shared_ptr<SessionEntry>> sessions_;
};

}  // namespace rdpgate::gateway
