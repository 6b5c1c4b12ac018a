// NameCache: see names.hpp.
#include "rdpgate/gateway/names.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "rdpgate/gateway/log.hpp"

namespace rdpgate::gateway {
namespace {

using Clock = std::chrono::steady_clock;
using Addresses = NameCache::Addresses;

// Sessions waiting for a name's first answer, at most this many per name: past it, a session
// waits out its own deadline instead (the list is only a wake-up).
constexpr std::size_t max_waiters = 4096;

// A blocking lookup: every address of `host`, in the resolver's order, without duplicates.
std::variant<Addresses, std::string> resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return std::string(::gai_strerror(rc));
  }
  Addresses out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    asio::ip::address address;
    if (a->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &sin->sin_addr, bytes.size());
      address = asio::ip::address_v4(bytes);
    } else if (a->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
      address = asio::ip::address_v6(bytes, sin6->sin6_scope_id);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
  }
  ::freeaddrinfo(found);
  if (out.empty()) return std::string("no address");
  return out;
}

}  // namespace

struct NameCache::State {
  struct Entry {
    std::shared_ptr<const Addresses> last_good;
    Clock::time_point due;  // next lookup
    bool failing = false;   // the last lookup failed (logged once per change)
    std::vector<std::function<void()>> waiters;
  };
  std::chrono::milliseconds refresh;
  std::chrono::milliseconds retry;
  std::mutex mutex;  // INVARIANT: guards everything below
  std::condition_variable changed;
  std::unordered_map<std::string, Entry> names;
  bool stopping = false;

  // The lookup thread: the name due first, looked up without the lock held.
  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      auto next = std::min_element(names.begin(), names.end(), [](const auto& a, const auto& b) {
        return a.second.due < b.second.due;
      });
      if (next == names.end()) {
        changed.wait(lock);
        continue;
      }
      if (next->second.due > Clock::now()) {
        changed.wait_until(lock, next->second.due);
        continue;
      }
      const std::string host = next->first;
      next->second.due = Clock::now() + retry;  // not again while this lookup runs
      lock.unlock();
      auto result = resolve(host);
      lock.lock();
      if (stopping) break;
      const auto it = names.find(host);
      if (it == names.end()) continue;  // no longer watched
      auto& entry = it->second;
      if (auto* addresses = std::get_if<Addresses>(&result)) {
        entry.last_good = std::make_shared<const Addresses>(std::move(*addresses));
        entry.due = Clock::now() + refresh;
        if (entry.failing) {
          entry.failing = false;
          log_event(spdlog::level::warn, "dns_lookup_recovered", {{"host", host}});
        }
      } else {
        entry.due = Clock::now() + retry;
        if (!entry.failing) {
          entry.failing = true;
          log_event(spdlog::level::warn, "dns_lookup_failed",
                    {{"host", host},
                     {"error", std::get<std::string>(result)},
                     {"keeping_last_answer", entry.last_good != nullptr}});
        }
      }
      for (auto& wake : std::exchange(entry.waiters, {})) wake();
    }
  }
};

NameCache::NameCache(std::chrono::milliseconds refresh, std::chrono::milliseconds retry)
    : state_(std::make_shared<State>()) {
  state_->refresh = refresh;
  state_->retry = retry;
  std::thread([state = state_] { state->run(); }).detach();
}

NameCache::~NameCache() {
  std::lock_guard lock(state_->mutex);
  state_->stopping = true;
  state_->changed.notify_all();
}

void NameCache::watch(const std::vector<std::string>& hosts) {
  std::lock_guard lock(state_->mutex);
  std::erase_if(state_->names, [&](const auto& entry) {
    return std::find(hosts.begin(), hosts.end(), entry.first) == hosts.end();
  });
  for (const auto& host : hosts) {
    error_code literal;
    (void)asio::ip::make_address(host, literal);
    if (!literal) continue;
    state_->names.try_emplace(host).first->second.due = Clock::now();
  }
  state_->changed.notify_all();
}

std::shared_ptr<const NameCache::Addresses> NameCache::find(const std::string& host) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->names.find(host);
  return it == state_->names.end() ? nullptr : it->second.last_good;
}

awaitable<std::shared_ptr<const NameCache::Addresses>> NameCache::wait(
    const std::string& host, SteadyClock::time_point until) {
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, until);
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->names.find(host);
    if (it == state_->names.end()) {  // not configured (yet): look it up now
      it = state_->names.try_emplace(host).first;
      it->second.due = Clock::now();
      state_->changed.notify_all();
    }
    if (it->second.last_good) co_return it->second.last_good;
    if (it->second.waiters.size() < max_waiters) {
      it->second.waiters.emplace_back(
          [executor, timer] { asio::post(executor, [timer] { timer->cancel(); }); });
    }
  }
  co_await timer->async_wait(use_nothrow);
  co_return find(host);
}

}  // namespace rdpgate::gateway
