#pragma once
// Just-in-time access grants (SPEC §3): "allow 203.0.113.7/32 to route finance for 2h, reason:
// ticket 1234". A grant lets its sources pass admission on a `jit` listener and use a `jit`
// route; it expires on its own.
//
// Thread-safe. Lookups (allows, any_grant) take a shared lock and scan the grants: there are
// few (operators create them by hand), so a vector beats an index. At most max_grants live
// grants exist; add() drops expired ones first.
//
// Durability: with a StateStore, add() and revoke() write through before returning and the
// constructor loads the stored grants. A store error goes to the store's StateHealth and the
// grant still works in memory.

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/state/state_store.hpp"

namespace rdpgate::security {

struct Grant {
  std::string id;  // 16 lowercase hex characters from RAND_bytes
  config::Cidr cidr;
  std::string route;  // a route name; "*" = any route
  std::chrono::system_clock::time_point until;
  std::string reason;
  std::chrono::system_clock::time_point created;
  friend bool operator==(const Grant&, const Grant&) = default;
};

class GrantTable {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  static constexpr std::size_t max_grants = 10'000;
  static constexpr std::string_view any_route = "*";

  explicit GrantTable(state::StateStore* store = nullptr);

  // The new grant, or an error when max_grants live grants exist already.
  std::variant<Grant, std::string> add(const config::Cidr& cidr, std::string route,
                                       std::chrono::milliseconds duration, std::string reason,
                                       TimePoint now);
  // True if a grant with this id existed (live or expired but not yet purged).
  bool revoke(std::string_view id);

  [[nodiscard]] std::vector<Grant> list(TimePoint now) const;  // live grants, oldest first
  [[nodiscard]] std::optional<Grant> find(std::string_view id, TimePoint now) const;
  // A live grant covers `source` for `route` (or for every route).
  [[nodiscard]] bool allows(const config::IpAddress& source, std::string_view route,
                            TimePoint now) const;
  // A live grant covers `source` for some route: listener-level jit admission, before the
  // route is known.
  [[nodiscard]] bool any_grant(const config::IpAddress& source, TimePoint now) const;
  [[nodiscard]] std::size_t active_count(TimePoint now) const;

  void purge(TimePoint now);  // drops expired grants from memory and from the store

  // Sharing with other instances (state.redis, gateway/shared_state.hpp): the listener hears of
  // every grant added or revoked here, in order; its callbacks must only queue. apply_*() take
  // what another instance did (memory and store) without telling the listener again.
  struct Listener {
    std::function<void(const Grant&)> granted;
    std::function<void(std::string_view id)> revoked;
  };
  void set_listener(Listener listener);
  void apply_grant(const Grant& grant);  // inserts or replaces by id
  void apply_revoke(std::string_view id);

 private:
  state::StateStore* store_;
  mutable std::mutex writer_mutex_;  // INVARIANT: guards store_ and listener_ calls; first
  Listener listener_;
  mutable std::shared_mutex mutex_;  // INVARIANT: guards grants_
  std::vector<Grant> grants_;
};

}  // namespace rdpgate::security
