#pragma once
// The immutable Policy snapshot (STYLE.md §7): a validated Config compiled into what the data
// path needs (CIDR sets, filter chains, route table). Sessions take one snapshot at accept and
// keep it for their whole life; a reload publishes a new one through PolicyStore.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/filter.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/shared_slot.hpp"
#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {

struct Services;
}  // namespace rdpgate::gateway
namespace rdpgate::gateway {

// One rule of a filter chain. `observe_only`: the rule's section (`sources`, `inspection`,
// `bruteforce`) is in observe mode, so its refusals are reported, not enforced.
struct FilterStep {
  std::unique_ptr<Filter> filter;
  bool observe_only = false;
};

struct ListenerPolicy {
  config::ListenerConfig cfg;
  protocol::Limits limits;
  config::CidrSet trusted_proxies;    // empty unless proxy_protocol is configured
  std::vector<FilterStep> admission;  // in order; the first enforced refusal wins
  std::vector<FilterStep> request;
  ListenerMetrics* metrics = nullptr;
};

struct RoutePolicy {
  config::RouteConfig cfg;
  std::shared_ptr<RoutePool> pool;
  RouteMetrics* metrics = nullptr;
};

class Policy {
 public:
  // Compiles `cfg`; the services must outlive the policy.
  static std::shared_ptr<const Policy> build(
      config::Config cfg, Services& services,
      std::shared_ptr<const security::TokenVerifier> tokens = nullptr);

  [[nodiscard]] const config::Config& config() const noexcept { return config_; }
  [[nodiscard]] const std::vector<ListenerPolicy>& listeners() const noexcept { return listeners_; }
  [[nodiscard]] const std::vector<RoutePolicy>& routes() const noexcept { return routes_; }
  // The signed-token verifier, or null when no `tokens.keys` are configured.
  [[nodiscard]] const security::TokenVerifier* tokens() const noexcept { return tokens_.get(); }
  [[nodiscard]] std::optional<std::size_t> find_listener(const std::string& name) const;
  [[nodiscard]] std::optional<std::size_t> find_route(const std::string& name) const;

  // Runs the listener's admission chain (nothing read yet). Refusals that are not enforced
  // (observe mode) go to `observed` and the chain goes on: every rule is evaluated.
  [[nodiscard]] Decision admit(const Peer& peer, SystemClock::time_point now,
                               Observed& observed) const;
  // Runs the listener's request chain (after the first flight was parsed), likewise.
  [[nodiscard]] Decision check(const Peer& peer, const Request& request,
                               SystemClock::time_point now, Observed& observed) const;
  // Route choice (SPEC §8): a token's route claim (unless the route chosen without it requires
  // a token: then that one); else routes in file order whose `match` conditions all hold; else
  // the listener's `route`; else nullopt (`no_route`). Defined in routing.cpp.
  [[nodiscard]] std::optional<std::size_t> choose_route(const Peer& peer, const Request& request,
                                                        const std::string* token_route) const;

 private:
  config::Config config_;
  std::vector<ListenerPolicy> listeners_;
  std::vector<RoutePolicy> routes_;
  std::shared_ptr<const security::TokenVerifier> tokens_;
};

// Signed access tokens (a JWS as the Preconnection PDU string, or rdpgate's compact token as
// the routing token): verified when the request carries one; a present but invalid token is
// refused (`token_invalid`, reason = the token error). A valid token is not used up here:
// use_token() spends it once the session passed the route, grant and backend checks, so a
// token refused for anything else can be presented again.
struct TokenCheck {
  std::optional<Decision> refusal;
  std::string route;              // the verified token's route claim; empty: no token
  bool in_routing_token = false;  // the routing-token line carried it: drop it when forwarding
  std::optional<security::TokenClaims> claims;  // verified, not yet used up
};
TokenCheck check_token(const Policy& policy, Services& services, const Peer& peer,
                       const Request& request, SystemClock::time_point now);
// Uses up the token `check` verified (single use across connections): nullopt, or the refusal
// when another connection used it first (`token_invalid`, `replayed`) or the state store could
// not record the use (`replay_not_recorded`). No token: nullopt. The session waits for the
// durable answer; its worker does not.
awaitable<std::optional<Decision>> use_token(const Policy& policy, Services& services,
                                             const TokenCheck& check, SystemClock::time_point now);

class PolicyStore {
 public:
  [[nodiscard]] std::shared_ptr<const Policy> current() const noexcept { return current_.load(); }
  void publish(std::shared_ptr<const Policy> p) noexcept { current_.store(std::move(p)); }

 private:
  SharedSlot<const Policy> current_;
};

}  // namespace rdpgate::gateway
