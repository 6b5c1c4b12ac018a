#pragma once
// The gateway side of the self-service portal: portal::PortalService over the ban manager, the
// grant table, the policy's routes, the token signing key, the metrics and the log. Thread-safe.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/portal/service.hpp"
#include "rdpgate/security/token_keys.hpp"

namespace rdpgate::security {
class BanManager;
class GrantTable;
}  // namespace rdpgate::security

namespace rdpgate::gateway {

// The key the portal signs routing tokens with: the first of tokens.keys that has its secret
// or private key. nullopt when there is none (the .rdp files then carry no token); an error
// when a key's material cannot be read.
using PortalKey = std::optional<security::TokenKeyMaterial>;
[[nodiscard]] std::variant<PortalKey, std::string> load_portal_key(const config::TokensConfig& t);

class PortalAdapter final : public portal::PortalService {
 public:
  PortalAdapter(security::BanManager& bans, security::GrantTable& grants, Metrics& metrics,
                const PolicyStore& policies);

  void set_key(PortalKey key);  // start and reload

  bool banned(const config::IpAddress& source, portal::TimePoint now) override;
  bool user_blocked(std::string_view user, portal::TimePoint now) override;
  void signin_failed(const config::IpAddress& source, std::string_view user,
                     portal::TimePoint now) override;
  void signin(portal::SigninResult result, std::string_view user,
              const config::IpAddress& source) override;
  bool route_exists(std::string_view route) override;
  std::variant<security::Grant, std::string> add_grant(const config::Cidr& cidr,
                                                       const std::string& route,
                                                       config::Duration duration,
                                                       const std::string& reason,
                                                       std::string_view user) override;
  std::vector<security::Grant> grants(portal::TimePoint now) override;
  bool end_grant(std::string_view id, std::string_view user) override;
  SignedToken routing_token(const std::string& route, const config::Cidr& source,
                            portal::TimePoint until) override;

 private:
  security::BanManager& bans_;
  security::GrantTable& grants_;
  Metrics& metrics_;
  const PolicyStore& policies_;
  std::mutex key_mutex_;  // INVARIANT: guards key_
  std::shared_ptr<const security::TokenKeyMaterial> key_;
};

}  // namespace rdpgate::gateway
