#include "rdpgate/gateway/filters.hpp"

#include "rdpgate/gateway/glob.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"

namespace rdpgate::gateway {

Decision SourceDenyList::on_admission(const Peer& peer, SystemClock::time_point) const {
  return deny_.contains(peer.address) ? Decision::refuse(OutcomeKind::denied_source, Why::deny_list)
                                      : Decision::pass();
}

Decision BanCheck::on_admission(const Peer& peer, SystemClock::time_point now) const {
  if (services_.bans == nullptr) return Decision::pass();
  const auto ban = services_.bans->cover(peer.address, now);
  if (!ban) return Decision::pass();
  auto d = Decision::refuse(OutcomeKind::banned, Why::ban);
  // A ban computed in observe mode is never enforced; in observe mode automatic bans are not
  // either. An operator's manual ban always is.
  d.observed = ban->observed || (observe_only_ && ban->origin == security::BanOrigin::automatic);
  return d;
}

Decision SourceAllowList::on_admission(const Peer& peer, SystemClock::time_point now) const {
  if (allow_ && allow_->contains(peer.address)) return Decision::pass();
  if (jit_) {
    if (services_.grants != nullptr && services_.grants->any_grant(peer.address, now)) {
      return Decision::pass();
    }
    return Decision::refuse(OutcomeKind::denied_source, Why::no_grant);
  }
  if (!allow_) return Decision::pass();
  return Decision::refuse(OutcomeKind::denied_source, Why::allow_list);
}

Decision SourceRateLimit::on_admission(const Peer& peer, SystemClock::time_point) const {
  const auto key = config::source_range(peer.address, v4_prefix_, v6_prefix_).network;
  if (limiter_->allow(key, rate_.per_second, burst_, RateLimiter::Clock::now())) {
    return Decision::pass();
  }
  return Decision::refuse(OutcomeKind::rate_limited, Why::rate_limited);
}

Decision ProtocolRequirement::on_request(const Peer&, const Request& request,
                                         SystemClock::time_point) const {
  if (!require_any_ || request.direct_tls) {
    // Direct Approach can only carry CredSSP ([MS-RDPBCGR] 5.4.2.2); whether it is allowed at
    // all was decided during inspection (inspection.direct_approach).
    return Decision::pass();
  }
  if (!request.has_negotiation) {
    auto d = Decision::refuse(OutcomeKind::protocol_not_allowed, Why::no_negotiation);
    d.disconnect_request = true;
    return d;
  }
  if ((request.requested_protocols & required_) != 0) return Decision::pass();
  // `require_protocols: [rdp, ...]`: standard RDP security (no bits) is acceptable too.
  if (accept_rdp_ && request.requested_protocols == 0) return Decision::pass();
  namespace p = protocol::proto;
  auto d = Decision::refuse(OutcomeKind::protocol_not_allowed, Why::protocol_not_offered);
  // HYBRID_REQUIRED_BY_SERVER whenever CredSSP is among the required protocols; when only
  // TLS-based protocols are required, SSL_REQUIRED_BY_SERVER ([MS-RDPBCGR] 2.2.1.2.2).
  d.reply = (required_ & (p::hybrid | p::hybrid_ex)) != 0
                ? protocol::NegFailureCode::hybrid_required_by_server
                : protocol::NegFailureCode::ssl_required_by_server;
  return d;
}

Decision UsernamePolicy::on_request(const Peer&, const Request& request,
                                    SystemClock::time_point) const {
  if (!request.has_cookie) {
    // Without a cookie there is no name to match: only a catch-all allow lets it through.
    for (const auto& a : allow_) {
      if (a == "*") return Decision::pass();
    }
    return Decision::refuse(OutcomeKind::username_denied, Why::no_username);
  }
  for (const auto& d : deny_) {
    if (glob_match(d, request.user))
      return Decision::refuse(OutcomeKind::username_denied, Why::deny);
  }
  for (const auto& a : allow_) {
    if (glob_match(a, request.user)) return Decision::pass();
  }
  return Decision::refuse(OutcomeKind::username_denied, Why::not_allowed);
}

Decision UsernameThrottle::on_request(const Peer& peer, const Request& request,
                                      SystemClock::time_point now) const {
  if (!request.has_cookie || services_.bans == nullptr ||
      !services_.bans->username_blocked(request.user, now)) {
    return Decision::pass();
  }
  const bool trusted =
      services_.bans->exempt(peer.address) || (allow_ && allow_->contains(peer.address)) ||
      (services_.grants != nullptr && services_.grants->any_grant(peer.address, now));
  return trusted ? Decision::pass()
                 : Decision::refuse(OutcomeKind::banned, Why::username_throttled);
}

}  // namespace rdpgate::gateway
