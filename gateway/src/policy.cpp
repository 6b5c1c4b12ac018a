#include "rdpgate/gateway/policy.hpp"

#include "rdpgate/gateway/filters.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {

Request Request::from(const protocol::FirstFlight& flight) {
  Request r;
  r.direct_tls = flight.tls.has_value();
  r.preconnection = flight.preconnection;
  r.preconnection_size = flight.preconnection_size;
  if (flight.request) {
    const auto& cr = *flight.request;
    r.has_cookie = cr.has_cookie;
    r.user = std::string(cr.cookie);
    r.token_kind = cr.token_kind;
    r.routing_token = std::string(cr.routing_token);
    if (cr.token_size != 0) {
      r.token_offset = flight.preconnection_size + cr.token_offset;
      r.token_size = cr.token_size;
    }
    r.has_negotiation = cr.negotiation.has_value();
    if (cr.negotiation) {
      r.negotiation_flags = cr.negotiation->flags;
      r.requested_protocols = cr.negotiation->requested_protocols;
    }
    if (cr.correlation) r.correlation_id = cr.correlation->id;
    r.src_ref = cr.src_ref;
  }
  if (flight.tls) r.sni = std::string(flight.tls->sni);
  return r;
}

std::shared_ptr<const Policy> Policy::build(config::Config cfg, Services& services,
                                            std::shared_ptr<const security::TokenVerifier> tokens) {
  auto p = std::make_shared<Policy>();
  p->tokens_ = std::move(tokens);
  services.pools.update(cfg.routes);
  std::vector<std::string> hosts;
  for (const auto& r : cfg.routes) {
    for (const auto& b : r.backends) hosts.push_back(b.host);
  }
  services.names.watch(hosts);
  for (const auto& lc : cfg.listeners) {
    ListenerPolicy lp;
    lp.cfg = lc;
    lp.metrics = &services.metrics.listener(lc.name);
    lp.limits.max_total = lc.inspection.max_bytes;
    if (lc.proxy_protocol) lp.trusted_proxies = config::CidrSet(lc.proxy_protocol->trusted);
    const auto& s = lc.sources;
    const auto& bf = cfg.bruteforce;
    const auto add = [](std::vector<FilterStep>& chain, bool observe, auto filter) {
      chain.push_back(FilterStep{std::move(filter), observe});
    };
    if (!s.deny.empty()) {
      add(lp.admission, s.observe_only, std::make_unique<SourceDenyList>(config::CidrSet(s.deny)));
    }
    add(lp.admission, false, std::make_unique<BanCheck>(services, bf.observe_only));
    std::optional<config::CidrSet> allow;
    if (s.allow) allow = config::CidrSet(*s.allow);
    add(lp.admission, s.observe_only,
        std::make_unique<SourceAllowList>(std::move(allow), lc.mode == config::AccessMode::jit,
                                          services));
    if (s.per_source_rate.per_second > 0) {
      add(lp.admission, s.observe_only,
          std::make_unique<SourceRateLimit>(services.rate_limiter(lc.name), s));
    }
    const auto& i = lc.inspection;
    add(lp.request, i.observe_only,
        std::make_unique<ProtocolRequirement>(i.require_protocols, i.require_any, i.accept_rdp));
    add(lp.request, i.observe_only,
        std::make_unique<UsernamePolicy>(i.username_allow, i.username_deny));
    std::optional<config::CidrSet> trusted;
    if (s.allow) trusted = config::CidrSet(*s.allow);
    add(lp.request, bf.observe_only,
        std::make_unique<UsernameThrottle>(services, std::move(trusted)));
    p->listeners_.push_back(std::move(lp));
  }
  for (const auto& rc : cfg.routes) {
    RoutePolicy rp;
    rp.cfg = rc;
    rp.pool = services.pools.get(rc.name);
    rp.metrics = &services.metrics.route(rc.name);
    p->routes_.push_back(std::move(rp));
  }
  p->config_ = std::move(cfg);
  return p;
}

std::optional<std::size_t> Policy::find_listener(const std::string& name) const {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i].cfg.name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Policy::find_route(const std::string& name) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].cfg.name == name) return i;
  }
  return std::nullopt;
}

namespace {

// The first enforced refusal of `chain`, or pass; refusals not enforced go to `observed`.
template <typename Evaluate>
Decision run_chain(const std::vector<FilterStep>& chain, Phase phase, Observed& observed,
                   Evaluate evaluate) {
  for (const auto& step : chain) {
    auto d = evaluate(*step.filter);
    if (!d.refused()) continue;
    if (!step.observe_only && !d.observed) return d;
    observed.add(Outcome{phase, d.refusal, d.reason});
  }
  return Decision::pass();
}

}  // namespace

Decision Policy::admit(const Peer& peer, SystemClock::time_point now, Observed& observed) const {
  return run_chain(listeners_.at(peer.listener).admission, Phase::admission, observed,
                   [&](const Filter& f) { return f.on_admission(peer, now); });
}

Decision Policy::check(const Peer& peer, const Request& request, SystemClock::time_point now,
                       Observed& observed) const {
  return run_chain(listeners_.at(peer.listener).request, Phase::policy, observed,
                   [&](const Filter& f) { return f.on_request(peer, request, now); });
}

namespace {

// A compact JWS: three base64url segments separated by two dots.
bool looks_like_jws(std::string_view s) {
  if (s.size() < 5 || s.size() > security::TokenVerifier::max_jws_size) return false;
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_')) {
      return false;
    }
  }
  return dots == 2;
}

}  // namespace

TokenCheck check_token(const Policy& policy, Services& services, const Peer& peer,
                       const Request& request, SystemClock::time_point now) {
  const auto* verifier = policy.tokens();
  std::string_view candidate;
  bool from_routing_token = false;
  if (request.token_kind == protocol::TokenKind::other &&
      security::TokenVerifier::is_routing_token(request.routing_token)) {
    candidate = request.routing_token;
    from_routing_token = true;
  } else if (verifier != nullptr && request.preconnection &&
             looks_like_jws(request.preconnection->blob)) {
    // Without configured keys a PCB string is someone else's (a Hyper-V VM id, ...): ignore it.
    candidate = request.preconnection->blob;
  }
  TokenCheck check;
  if (candidate.empty()) return check;
  if (verifier == nullptr) {
    services.metrics.token_invalid().Increment();
    check.refusal = Decision::refuse(OutcomeKind::token_invalid, Why::tokens_not_configured);
    return check;
  }
  auto result = verifier->check(candidate, peer.address, now);
  if (auto* err = std::get_if<security::TokenError>(&result)) {
    services.metrics.token_invalid().Increment();
    check.refusal = Decision::refuse(OutcomeKind::token_invalid, Reason(*err));
    return check;
  }
  services.metrics.token_valid().Increment();
  check.claims = std::move(std::get<security::TokenClaims>(result));
  check.route = check.claims->route;
  check.in_routing_token = from_routing_token;
  return check;
}

awaitable<std::optional<Decision>> use_token(const Policy& policy, Services& services,
                                             const TokenCheck& check, SystemClock::time_point now) {
  if (!check.claims || policy.tokens() == nullptr) co_return std::nullopt;
  using Answer = std::optional<security::TokenError>;
  const auto* verifier = policy.tokens();
  const auto& claims = *check.claims;
  auto executor = co_await asio::this_coro::executor;
  // The answer may come from the state store's writer thread: resume on this session's worker.
  const Answer error = co_await asio::async_initiate<decltype(use_awaitable), void(Answer)>(
      [&](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        verifier->consume(claims, now, [shared, executor](Answer answer) {
          asio::post(executor, [shared, answer] { std::move (*shared)(answer); });
        });
      },
      use_awaitable);
  if (error) {
    services.metrics.token_invalid().Increment();
    co_return Decision::refuse(OutcomeKind::token_invalid, Reason(*error));
  }
  co_return std::nullopt;
}

}  // namespace rdpgate::gateway
