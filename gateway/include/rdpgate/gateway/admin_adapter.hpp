#pragma once
// The gateway side of the admin API (SPEC §6): admin::AdminService over the session registry,
// the ban manager, the grant table, the state-health sink and reload. Thread-safe: every
// member it touches is.

#include <functional>
#include <optional>
#include <string>

#include "rdpgate/admin/service.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/registry.hpp"

namespace rdpgate::security {
class BanManager;
class GrantTable;
}  // namespace rdpgate::security
namespace rdpgate::state {
class StateHealth;
}

namespace rdpgate::gateway {

class AdminAdapter final : public admin::AdminService {
 public:
  struct Parts {
    SessionRegistry& registry;
    security::BanManager& bans;
    security::GrantTable& grants;
    const state::StateHealth& state;
    Metrics& metrics;
    const PolicyStore& policies;
    std::function<std::optional<std::string>()> reload;
  };
  explicit AdminAdapter(Parts parts) : p_(std::move(parts)) {}

  std::vector<admin::SessionView> list_sessions() override;
  bool kill_session(std::string_view id) override;
  std::vector<admin::BanView> list_bans() override;
  std::variant<admin::BanView, std::string> add_ban(std::string_view cidr,
                                                    config::Duration duration,
                                                    std::string_view reason) override;
  bool remove_ban(std::string_view cidr) override;
  std::vector<admin::GrantView> list_grants() override;
  std::variant<admin::GrantView, std::string> add_grant(std::string_view cidr,
                                                        std::string_view route,
                                                        config::Duration duration,
                                                        std::string_view reason) override;
  bool revoke_grant(std::string_view id) override;
  std::optional<std::string> reload() override { return p_.reload(); }
  admin::HealthView health() override;

  // rdpgate_bans_active and rdpgate_grants_active from the tables (housekeeping calls it too).
  void sync_gauges();

 private:
  Parts p_;
};

}  // namespace rdpgate::gateway
