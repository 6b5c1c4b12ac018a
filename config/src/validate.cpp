// Stage 2: rules that span more than one value — unique names, references between listeners
// and routes, colliding addresses, tokens that need keys.

#include <algorithm>

#include "decode.hpp"

namespace rdpgate::config::detail {
namespace {

std::string unknown(std::string_view what, const std::string& name,
                    const std::vector<std::string_view>& known) {
  std::string message = "unknown " + std::string{what} + " " + quote(name);
  if (const auto hint = closest(name, known); !hint.empty()) {
    message += " (did you mean \"" + hint + "\")";
  }
  return message;
}

bool is_unspecified(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

struct Bound {
  const Endpoint* address;
  const Where* where;
  std::string owner;  // "listeners[0]", "metrics", "admin"
};

// Two sockets cannot listen on the same port when the hosts are equal or either one is a
// wildcard of the same family (Linux refuses 0.0.0.0:p beside 127.0.0.1:p without SO_REUSEPORT).
// Port 0 asks the OS for a free port, so it never collides.
void check_addresses(Walker& walker, const std::vector<Bound>& bound) {
  for (std::size_t i = 0; i < bound.size(); ++i) {
    const Endpoint& a = *bound[i].address;
    if (a.port == 0 || a.host.empty()) continue;
    for (std::size_t j = 0; j < i; ++j) {
      const Endpoint& b = *bound[j].address;
      if (b.port != a.port || b.host.empty()) continue;
      if (a.host == b.host) {
        walker.error(*bound[i].where, "duplicate address " + quote(a.text) + " (also used by " +
                                          bound[j].owner + ")");
        break;
      }
      // rdpgate binds IPv6 listeners with IPV6_V6ONLY: an IPv6 address never takes an IPv4
      // port, so "0.0.0.0:p" and "[::]:p" (the usual dual-stack pair) do not overlap.
      const bool a_v6 = a.host.find(':') != std::string::npos;
      const bool b_v6 = b.host.find(':') != std::string::npos;
      if (a_v6 != b_v6) continue;
      if (is_unspecified(a.host) || is_unspecified(b.host)) {
        walker.error(*bound[i].where, "address " + quote(a.text) + " overlaps " + quote(b.text) +
                                          " of " + bound[j].owner);
        break;
      }
    }
  }
}

}  // namespace

void validate(Walker& walker, const Decoded& decoded) {
  const Config& config = decoded.config;

  std::vector<std::string_view> listener_names;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& name = config.listeners[i].name;
    if (name.empty()) continue;
    const auto seen = std::find(listener_names.begin(), listener_names.end(), name);
    if (seen != listener_names.end()) {
      walker.error(decoded.listeners[i].name, "duplicate listener name " + quote(name));
    }
    listener_names.push_back(name);
  }

  std::vector<std::string_view> route_names;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const auto& name = config.routes[i].name;
    if (name.empty()) continue;
    if (std::find(route_names.begin(), route_names.end(), name) != route_names.end()) {
      walker.error(decoded.routes[i].name, "duplicate route name " + quote(name));
    }
    route_names.push_back(name);
  }

  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& route = config.listeners[i].route;
    if (!route.empty() &&
        std::find(route_names.begin(), route_names.end(), route) == route_names.end()) {
      walker.error(decoded.listeners[i].route, unknown("route", route, route_names));
    }
  }

  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const auto& route = config.routes[i];
    const auto& marks = decoded.routes[i];
    if (route.match.listener && !route.match.listener->empty() &&
        std::find(listener_names.begin(), listener_names.end(), *route.match.listener) ==
            listener_names.end()) {
      walker.error(marks.match_listener,
                   unknown("listener", *route.match.listener, listener_names));
    }
    if (route.require_token && config.tokens.keys.empty()) {
      walker.error(marks.require_token, "require_token needs at least one key in tokens.keys");
    }
    for (std::size_t b = 0; b < route.backends.size(); ++b) {
      for (std::size_t c = 0; c < b; ++c) {
        if (route.backends[c].text == route.backends[b].text) {
          walker.error(marks.backends[b], "duplicate backend " + quote(route.backends[b].text));
          break;
        }
      }
    }
  }

  // The metrics and admin endpoints first: a listener that collides with one of them is
  // reported at the listener, even when metrics or admin keep their default address.
  std::vector<Bound> bound;
  if (config.metrics.enabled) {
    bound.push_back({&config.metrics.address, &decoded.metrics_address,
                     decoded.metrics_address.known() ? "metrics" : "metrics (default address)"});
  }
  if (config.admin.enabled) {
    bound.push_back({&config.admin.address, &decoded.admin_address,
                     decoded.admin_address.known() ? "admin" : "admin (default address)"});
  }
  if (config.portal) {
    bound.push_back({&config.portal->address, &decoded.portal_address, "portal"});
  }
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    bound.push_back({&config.listeners[i].address, &decoded.listeners[i].address,
                     "listeners[" + std::to_string(i) + "]"});
  }
  check_addresses(walker, bound);

  std::vector<std::string_view> key_ids;
  for (std::size_t i = 0; i < config.tokens.keys.size(); ++i) {
    const auto& id = config.tokens.keys[i].id;
    if (id.empty()) continue;
    if (std::find(key_ids.begin(), key_ids.end(), id) != key_ids.end()) {
      walker.error(decoded.key_ids[i], "duplicate key id " + quote(id));
    }
    key_ids.push_back(id);
  }
}

}  // namespace rdpgate::config::detail
