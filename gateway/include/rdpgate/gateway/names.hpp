#pragma once
// Host-name backends, resolved in the background (SPEC §7: a dead DNS server never stalls a
// session). The system resolver (getaddrinfo) cannot be cancelled and may block for the
// resolver's whole timeout, so no session ever calls it: one lookup thread keeps every watched
// name resolved and sessions read the last good answer.
//
//   watch(names)   the host names of the configured backends (every Policy::build)
//   find(name)     the last good answer, or null (not resolved yet, or never successfully)
//   wait(name, t)  for a name without an answer: until its next lookup completes or `t`
//
// Each name is looked up again `refresh` after a success, `retry` after a failure; a failed or
// hung lookup keeps the last good answer in use. One thread for all names: a lookup that hangs
// delays the other names' refreshes, never a connection (they use the answers they have). The
// thread is detached with its shared state, so stopping never waits for a hung lookup.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/request.hpp"

namespace rdpgate::gateway {

class NameCache {
 public:
  using Addresses = std::vector<asio::ip::address>;
  static constexpr std::chrono::seconds default_refresh{30};
  static constexpr std::chrono::seconds default_retry{2};

  explicit NameCache(std::chrono::milliseconds refresh = default_refresh,
                     std::chrono::milliseconds retry = default_retry);
  ~NameCache();
  NameCache(const NameCache&) = delete;
  NameCache& operator=(const NameCache&) = delete;

  // The names to keep resolved from now on (IP literals are ignored); others are forgotten.
  void watch(const std::vector<std::string>& hosts);
  [[nodiscard]] std::shared_ptr<const Addresses> find(const std::string& host) const;
  // find(), or, when there is no answer yet, the answer of the next lookup of `host` to
  // complete (null when it failed), waiting on the caller's executor until `until` at most.
  awaitable<std::shared_ptr<const Addresses>> wait(const std::string& host,
                                                   SteadyClock::time_point until);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace rdpgate::gateway
