#pragma once
// An in-memory AdminService with a fixed clock, counting every call that changes state.

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "rdpgate/admin/service.hpp"

namespace rdpgate::admin::testing {

// 2026-11-22T10:00:00Z
inline std::chrono::system_clock::time_point fixed_now() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 22} + hours{10};
}

class FakeService final : public AdminService {
 public:
  FakeService() {
    sessions_.push_back({"s-1", "198.51.100.4:50123", "public", "default", "10.1.0.5:3389",
                         "alice", fixed_now() - std::chrono::minutes{5}, 1234, 56789});
    bans_.push_back({"192.0.2.66/32", fixed_now() + std::chrono::minutes{15}, "5 failures",
                     "auto"});
    grants_.push_back({"g-1", "203.0.113.0/24", "finance", fixed_now() + std::chrono::hours{1},
                       "ticket 1"});
  }

  std::vector<SessionView> list_sessions() override {
    std::lock_guard lock{mutex_};
    return sessions_;
  }
  bool kill_session(std::string_view id) override {
    std::lock_guard lock{mutex_};
    return erase_if_found(sessions_, [&](const auto& s) { return s.id == id; });
  }
  std::vector<BanView> list_bans() override {
    std::lock_guard lock{mutex_};
    return bans_;
  }
  std::variant<BanView, std::string> add_ban(std::string_view cidr, config::Duration duration,
                                             std::string_view reason) override {
    std::lock_guard lock{mutex_};
    if (cidr == "0.0.0.0/0") return std::string{"refusing to ban every address"};
    ++mutations_;
    BanView ban{std::string{cidr}, fixed_now() + duration, std::string{reason}, "manual"};
    bans_.push_back(ban);
    return ban;
  }
  bool remove_ban(std::string_view cidr) override {
    std::lock_guard lock{mutex_};
    return erase_if_found(bans_, [&](const auto& b) { return b.cidr == cidr; });
  }
  std::vector<GrantView> list_grants() override {
    std::lock_guard lock{mutex_};
    return grants_;
  }
  std::variant<GrantView, std::string> add_grant(std::string_view cidr, std::string_view route,
                                                 config::Duration duration,
                                                 std::string_view reason) override {
    std::lock_guard lock{mutex_};
    if (!routes_.contains(std::string{route})) {
      return "unknown route \"" + std::string{route} + "\"";
    }
    ++mutations_;
    GrantView grant{"g-" + std::to_string(++grant_counter_), std::string{cidr},
                    std::string{route}, fixed_now() + duration, std::string{reason}};
    grants_.push_back(grant);
    return grant;
  }
  bool revoke_grant(std::string_view id) override {
    std::lock_guard lock{mutex_};
    return erase_if_found(grants_, [&](const auto& g) { return g.id == id; });
  }
  std::optional<std::string> reload() override {
    std::lock_guard lock{mutex_};
    ++reloads_;
    if (reload_error_) return reload_error_;
    ++mutations_;
    return std::nullopt;
  }

  HealthView health() override {
    std::lock_guard lock{mutex_};
    return health_;
  }
  void set_health(HealthView health) {
    std::lock_guard lock{mutex_};
    health_ = std::move(health);
  }

  void fail_reload_with(std::string message) {
    std::lock_guard lock{mutex_};
    reload_error_ = std::move(message);
  }
  // Successful calls that changed state; reload attempts.
  int mutations() {
    std::lock_guard lock{mutex_};
    return mutations_;
  }
  int reloads() {
    std::lock_guard lock{mutex_};
    return reloads_;
  }

 private:
  template <class T, class Pred>
  bool erase_if_found(std::vector<T>& items, Pred pred) {
    const auto it = std::find_if(items.begin(), items.end(), pred);
    if (it == items.end()) return false;
    items.erase(it);
    ++mutations_;
    return true;
  }

  std::mutex mutex_;
  std::vector<SessionView> sessions_;
  std::vector<BanView> bans_;
  std::vector<GrantView> grants_;
  std::set<std::string> routes_{"default", "finance"};
  std::optional<std::string> reload_error_;
  HealthView health_;
  int mutations_ = 0;
  int reloads_ = 0;
  int grant_counter_ = 1;
};

}  // namespace rdpgate::admin::testing
