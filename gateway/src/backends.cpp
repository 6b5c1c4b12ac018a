#include "rdpgate/gateway/backends.hpp"

#include <algorithm>
#include <cctype>

namespace rdpgate::gateway {
namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::vector<std::shared_ptr<BackendState>> RoutePool::candidates(config::Balance balance,
                                                                 std::string_view user) {
  std::vector<std::shared_ptr<BackendState>> up;
  up.reserve(backends_.size());
  for (const auto& b : backends_) {
    if (b->up.load(std::memory_order_relaxed)) up.push_back(b);
  }
  if (up.empty()) return up;
  switch (balance) {
    case config::Balance::first: break;  // file order
    case config::Balance::round_robin: {
      const auto start = next_.fetch_add(1, std::memory_order_relaxed) % up.size();
      std::rotate(up.begin(), up.begin() + static_cast<std::ptrdiff_t>(start), up.end());
      break;
    }
    case config::Balance::least_connections:
      // Ties keep file order (stable), so an idle pool fills its first backend first.
      std::stable_sort(up.begin(), up.end(), [](const auto& a, const auto& b) {
        return a->active.load(std::memory_order_relaxed) <
               b->active.load(std::memory_order_relaxed);
      });
      break;
  }
  // Affinity by username: the backend this user used last goes first, if it is still up. It
  // applies to least_connections and round_robin; `first` is a strict priority order.
  if (!user.empty() && balance != config::Balance::first) {
    std::string previous;
    {
      std::lock_guard lock(affinity_mutex_);
      if (auto it = affinity_.find(lower(user)); it != affinity_.end()) previous = it->second;
    }
    if (!previous.empty()) {
      auto it = std::find_if(up.begin(), up.end(),
                             [&](const auto& b) { return b->endpoint.text == previous; });
      if (it != up.end()) std::rotate(up.begin(), it, it + 1);
    }
  }
  return up;
}

void RoutePool::remember(std::string_view user, const std::string& backend) {
  if (user.empty()) return;
  std::lock_guard lock(affinity_mutex_);
  // INVARIANT: bounded. Forgetting all affinities at the cap is crude but cheap and rare.
  if (affinity_.size() >= max_affinity) affinity_.clear();
  affinity_[lower(user)] = backend;
}

void BackendPools::update(const std::vector<config::RouteConfig>& routes) {
  std::lock_guard lock(mutex_);
  std::unordered_map<std::string, std::shared_ptr<RoutePool>> next;
  for (const auto& route : routes) {
    std::vector<std::shared_ptr<BackendState>> states;
    auto old = pools_.find(route.name);
    for (const auto& endpoint : route.backends) {
      std::shared_ptr<BackendState> state;
      if (old != pools_.end()) {
        for (const auto& b : old->second->backends()) {
          if (b->endpoint.text == endpoint.text) state = b;
        }
      }
      if (!state) {
        state = std::make_shared<BackendState>();
        state->endpoint = endpoint;
        state->metrics = &metrics_.backend(route.name, endpoint.text);
        state->metrics->up->Set(1);
      }
      states.push_back(std::move(state));
    }
    next.emplace(route.name, std::make_shared<RoutePool>(route.name, std::move(states)));
  }
  pools_ = std::move(next);
}

std::shared_ptr<RoutePool> BackendPools::get(const std::string& route) const {
  std::lock_guard lock(mutex_);
  auto it = pools_.find(route);
  return it == pools_.end() ? nullptr : it->second;
}

}  // namespace rdpgate::gateway
