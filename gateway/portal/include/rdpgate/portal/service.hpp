#pragma once
// What the portal needs from the gateway, as an interface (like admin::AdminService): the ban
// machinery, the grant table, token signing, metrics and the log stay in the gateway, which
// implements this in gateway/src/portal_adapter.cpp. Called from the portal's thread.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/config/units.hpp"
#include "rdpgate/security/grant_table.hpp"

namespace rdpgate::portal {

using TimePoint = std::chrono::system_clock::time_point;

// rdpgate_portal_signins_total{result}: how one sign-in attempt ended.
enum class SigninResult {
  success,
  bad_credentials,  // unknown user, wrong password, wrong or expired or reused code
  banned,           // the source is banned (brute-force machinery): not even checked
  throttled,        // the user name is blocked after too many failures from anywhere
  bad_request,      // missing or wrong CSRF token, missing fields
};
[[nodiscard]] std::string_view to_string(SigninResult result) noexcept;

class PortalService {
 public:
  virtual ~PortalService() = default;
  // An enforced ban covers `source`.
  [[nodiscard]] virtual bool banned(const config::IpAddress& source, TimePoint now) = 0;
  // Too many failed sign-ins for this user name, from any source.
  [[nodiscard]] virtual bool user_blocked(std::string_view user, TimePoint now) = 0;
  // A failed sign-in: counted per source and per user; may ban the source.
  virtual void signin_failed(const config::IpAddress& source, std::string_view user,
                             TimePoint now) = 0;
  // Counts and logs the outcome of a sign-in attempt (never the password or code).
  virtual void signin(SigninResult result, std::string_view user,
                      const config::IpAddress& source) = 0;
  [[nodiscard]] virtual bool route_exists(std::string_view route) = 0;
  // Adds a grant through the grant table; counted (rdpgate_portal_grants_total), logged and
  // audited. `user` is who asked for it.
  virtual std::variant<security::Grant, std::string> add_grant(const config::Cidr& cidr,
                                                               const std::string& route,
                                                               config::Duration duration,
                                                               const std::string& reason,
                                                               std::string_view user) = 0;
  [[nodiscard]] virtual std::vector<security::Grant> grants(TimePoint now) = 0;
  virtual bool end_grant(std::string_view id, std::string_view user) = 0;
  // A signed routing token for `route` bound to `source`, valid until `until`.
  struct SignedToken {
    std::string token;  // "" when no signing key is configured (or signing failed)
    std::string error;  // why signing failed, "" otherwise
  };
  [[nodiscard]] virtual SignedToken routing_token(const std::string& route,
                                                  const config::Cidr& source, TimePoint until) = 0;
};

}  // namespace rdpgate::portal
