// GrantTable: see grant_table.hpp.

#include "rdpgate/security/grant_table.hpp"

#include <algorithm>

#include "rdpgate/security/random.hpp"

namespace rdpgate::security {
namespace {

state::GrantRecord to_record(const Grant& grant) {
  return {grant.id, grant.cidr.to_string(), grant.route, grant.until, grant.reason, grant.created};
}

}  // namespace

GrantTable::GrantTable(state::StateStore* store) : store_(store) {
  if (store_ == nullptr) return;
  for (auto& record : store_->load_grants()) {
    const auto cidr = config::parse_cidr(record.cidr);
    if (!cidr) continue;  // written by a newer or broken version: skip rather than refuse
    grants_.push_back({std::move(record.id), *cidr, std::move(record.route), record.until,
                       std::move(record.reason), record.created});
  }
}

std::variant<Grant, std::string> GrantTable::add(const config::Cidr& cidr, std::string route,
                                                 std::chrono::milliseconds duration,
                                                 std::string reason, TimePoint now) {
  if (route.empty()) return std::string{"grant: empty route (use \"*\" for any route)"};
  if (duration <= std::chrono::milliseconds::zero()) {
    return std::string{"grant: duration must be positive"};
  }
  Grant grant{random_hex(8), cidr, std::move(route), now + duration, std::move(reason), now};
  std::lock_guard writer{writer_mutex_};
  {
    std::unique_lock lock{mutex_};
    std::erase_if(grants_, [&](const Grant& g) { return g.until <= now; });
    if (grants_.size() >= max_grants) {
      return "grant: too many live grants (at most " + std::to_string(max_grants) + ")";
    }
    grants_.push_back(grant);
  }
  if (listener_.granted) listener_.granted(grant);
  if (store_ != nullptr) {
    state::reported(store_->put_grant(to_record(grant)));
  }
  return grant;
}

bool GrantTable::revoke(std::string_view id) {
  std::lock_guard writer{writer_mutex_};
  bool found = false;
  {
    std::unique_lock lock{mutex_};
    found = std::erase_if(grants_, [&](const Grant& g) { return g.id == id; }) > 0;
  }
  if (found && listener_.revoked) listener_.revoked(id);
  if (found && store_ != nullptr) {
    state::reported(store_->delete_grant(id));
  }
  return found;
}

std::vector<Grant> GrantTable::list(TimePoint now) const {
  std::vector<Grant> out;
  std::shared_lock lock{mutex_};
  std::copy_if(grants_.begin(), grants_.end(), std::back_inserter(out),
               [&](const Grant& g) { return g.until > now; });
  return out;
}

std::optional<Grant> GrantTable::find(std::string_view id, TimePoint now) const {
  std::shared_lock lock{mutex_};
  for (const auto& g : grants_) {
    if (g.id == id && g.until > now) return g;
  }
  return std::nullopt;
}

bool GrantTable::allows(const config::IpAddress& source, std::string_view route,
                        TimePoint now) const {
  std::shared_lock lock{mutex_};
  return std::any_of(grants_.begin(), grants_.end(), [&](const Grant& g) {
    return g.until > now && (g.route == any_route || g.route == route) && g.cidr.contains(source);
  });
}

bool GrantTable::any_grant(const config::IpAddress& source, TimePoint now) const {
  std::shared_lock lock{mutex_};
  return std::any_of(grants_.begin(), grants_.end(),
                     [&](const Grant& g) { return g.until > now && g.cidr.contains(source); });
}

std::size_t GrantTable::active_count(TimePoint now) const {
  std::shared_lock lock{mutex_};
  return static_cast<std::size_t>(
      std::count_if(grants_.begin(), grants_.end(), [&](const Grant& g) { return g.until > now; }));
}

void GrantTable::purge(TimePoint now) {
  std::lock_guard writer{writer_mutex_};
  std::vector<std::string> expired;
  {
    std::unique_lock lock{mutex_};
    for (const auto& g : grants_) {
      if (g.until <= now) expired.push_back(g.id);
    }
    std::erase_if(grants_, [&](const Grant& g) { return g.until <= now; });
  }
  if (store_ == nullptr) return;
  for (const auto& id : expired) {
    state::reported(store_->delete_grant(id));
  }
}

void GrantTable::set_listener(Listener listener) {
  std::lock_guard writer{writer_mutex_};
  listener_ = std::move(listener);
}

void GrantTable::apply_grant(const Grant& grant) {
  std::lock_guard writer{writer_mutex_};
  {
    std::unique_lock lock{mutex_};
    const auto it = std::find_if(grants_.begin(), grants_.end(),
                                 [&](const Grant& g) { return g.id == grant.id; });
    if (it == grants_.end()) {
      grants_.push_back(grant);
    } else if (*it == grant) {
      return;  // already known: no write
    } else {
      *it = grant;
    }
  }
  // Queued, not waited for: a resync may bring thousands (the store reports a failure).
  if (store_ != nullptr) store_->put_grant(to_record(grant), {});
}

void GrantTable::apply_revoke(std::string_view id) {
  std::lock_guard writer{writer_mutex_};
  {
    std::unique_lock lock{mutex_};
    if (std::erase_if(grants_, [&](const Grant& g) { return g.id == id; }) == 0) return;
  }
  if (store_ != nullptr) store_->delete_grant(id, {});
}

}  // namespace rdpgate::security
