#pragma once
// Routing (SPEC §1.4, §8): which route a request takes, and whether this source may use it
// (just-in-time grants, routes that require a signed token naming them).

#include <string>
#include <variant>

#include "rdpgate/gateway/filter.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

// The route for `request` (Policy::choose_route), then route-level access: `mode: jit` routes
// need a grant for the route (or the source on the listener's static allow list);
// `require_token` routes need a valid token naming them. `token_route` is the route claim of a
// verified token, empty without one.
std::variant<const RoutePolicy*, Decision> route_request(const Policy& policy, Services& services,
                                                         const Peer& peer, const Request& request,
                                                         const std::string& token_route,
                                                         SystemClock::time_point now);

}  // namespace rdpgate::gateway
