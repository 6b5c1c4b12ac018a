#pragma once
// The session's calls into the security services (tokens, grants, bans), kept apart from the
// I/O so they can be tested without sockets.

#include <optional>
#include <string>
#include <string_view>

#include "rdpgate/gateway/filter.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

// Verifies a signed access token if the request carries one (a JWS as the Preconnection PDU
// string, or rdpgate's compact token as the routing token). On success `token_route` is the
// token's route claim and `consumed` tells whether the routing-token line must be dropped before
// forwarding. A present but invalid token is refused (`token_invalid`, reason = the error).
std::optional<Decision> check_token(const Policy& policy, Services& services, const Peer& peer,
                                    const Request& request, SystemClock::time_point now,
                                    std::string& token_route, bool& consumed);

// Route-level access: `mode: jit` routes need a grant for the route (or the source on the
// listener's static allow list); `require_token` routes need a valid token naming them.
std::optional<Decision> check_route_access(const Policy& policy, Services& services,
                                           const Peer& peer, const RoutePolicy& route,
                                           const std::string& token_route,
                                           SystemClock::time_point now);

// An inferred failed logon: count it, and ban the source when it crosses the threshold.
void on_auth_failure(Services& services, const config::Config& cfg, const Peer& peer,
                     std::string_view user, std::string_view conn);

}  // namespace rdpgate::gateway
