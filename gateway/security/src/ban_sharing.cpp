// BanManager's side of sharing bans with other instances (state.redis): see ban_manager.hpp.

#include "rdpgate/security/ban_manager.hpp"

namespace rdpgate::security {

void BanManager::apply_failure(const config::IpAddress& source, std::string_view username,
                               TimePoint at) {
  record(source, username, at, nullptr, false);
}

void BanManager::set_listener(Listener listener) {
  std::lock_guard writer{writer_mutex_};
  listener_ = std::move(listener);
}

void BanManager::apply_ban(Ban ban) {
  ban.observed = false;  // only enforced bans are shared
  std::lock_guard writer{writer_mutex_};
  {
    std::unique_lock lock{mutex_};
    if (const auto* known = find_locked(ban.cidr.network, Clock::now());
        known != nullptr && known->cidr == ban.cidr && known->reason == ban.reason &&
        std::chrono::abs(known->until - ban.until) < std::chrono::milliseconds{1}) {
      return;  // already known: no write
    }
    file_locked(ban);
  }
  if (store_ != nullptr) {
    store_->put_ban({ban.cidr.to_string(), ban.until, ban.reason, ban.origin, ban.offenses}, {});
  }
}

void BanManager::apply_unban(const config::Cidr& cidr) {
  std::lock_guard writer{writer_mutex_};
  {
    std::unique_lock lock{mutex_};
    if (!enforced_.erase(cidr)) return;
    std::erase_if(failures_, [&](const auto& entry) { return cidr.contains(entry.first); });
  }
  if (store_ != nullptr) store_->delete_ban(cidr.to_string(), {});
}

}  // namespace rdpgate::security
