#pragma once
// The filters of the admission and request chains (STYLE.md §4).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/admission.hpp"
#include "rdpgate/gateway/filter.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

// `sources.deny`: refused with denied_source (reason deny_list).
class SourceDenyList final : public Filter {
 public:
  explicit SourceDenyList(config::CidrSet deny) : deny_(std::move(deny)) {}
  std::string_view name() const noexcept override { return "source_deny_list"; }
  Decision on_admission(const Peer& peer, SystemClock::time_point) const override;

 private:
  config::CidrSet deny_;
};

// Bans (automatic or manual): refused with banned. With `bruteforce.observe_only`, automatic
// bans are reported (Decision::observed), not enforced; bans computed in observe mode never are.
class BanCheck final : public Filter {
 public:
  BanCheck(Services& services, bool observe_only)
      : services_(services), observe_only_(observe_only) {}
  std::string_view name() const noexcept override { return "ban_check"; }
  Decision on_admission(const Peer& peer, SystemClock::time_point now) const override;

 private:
  Services& services_;
  bool observe_only_;
};

// `sources.allow` and `mode: jit`: a source passes if it is on the allow list, or (jit) holds a
// live grant. Without an allow list and outside jit mode every source passes.
class SourceAllowList final : public Filter {
 public:
  SourceAllowList(std::optional<config::CidrSet> allow, bool jit, Services& services)
      : allow_(std::move(allow)), jit_(jit), services_(services) {}
  std::string_view name() const noexcept override { return "source_allow_list"; }
  Decision on_admission(const Peer& peer, SystemClock::time_point now) const override;

 private:
  std::optional<config::CidrSet> allow_;
  bool jit_;
  Services& services_;
};

// `sources.per_source.rate` / `burst`: refused with rate_limited.
class SourceRateLimit final : public Filter {
 public:
  // One bucket per source range (`sources.per_source.ipv4_prefix` / `ipv6_prefix`).
  SourceRateLimit(std::shared_ptr<RateLimiter> limiter, const config::SourcesConfig& sources)
      : limiter_(std::move(limiter)),
        rate_(sources.per_source_rate),
        burst_(sources.per_source_burst),
        v4_prefix_(sources.per_source_ipv4_prefix),
        v6_prefix_(sources.per_source_ipv6_prefix) {}
  std::string_view name() const noexcept override { return "source_rate_limit"; }
  Decision on_admission(const Peer& peer, SystemClock::time_point now) const override;

 private:
  std::shared_ptr<RateLimiter> limiter_;
  config::Rate rate_;
  std::uint32_t burst_;
  std::uint8_t v4_prefix_;
  std::uint8_t v6_prefix_;
};

// `inspection.require_protocols`: the client must offer one of them. A client that sent an
// RDP_NEG_REQ without them gets CC + RDP_NEG_FAILURE (HYBRID_REQUIRED_BY_SERVER, or
// SSL_REQUIRED_BY_SERVER when only TLS-family protocols are required); a legacy request without
// negotiation data gets an X.224 Disconnect Request ([MS-RDPBCGR] 3.3.5.3.1 forbids negotiation
// data in the reply to it).
class ProtocolRequirement final : public Filter {
 public:
  ProtocolRequirement(std::uint32_t required, bool require_any, bool accept_rdp)
      : required_(required), require_any_(require_any), accept_rdp_(accept_rdp) {}
  std::string_view name() const noexcept override { return "protocol_requirement"; }
  Decision on_request(const Peer&, const Request& request, SystemClock::time_point) const override;

 private:
  std::uint32_t required_;
  bool require_any_;
  bool accept_rdp_;
};

// `inspection.usernames`: globs on the mstshash cookie. Hygiene only: Microsoft clients truncate
// the cookie to 9 characters and may omit it; tools set it to anything.
class UsernamePolicy final : public Filter {
 public:
  UsernamePolicy(std::vector<std::string> allow, std::vector<std::string> deny)
      : allow_(std::move(allow)), deny_(std::move(deny)) {}
  std::string_view name() const noexcept override { return "username_policy"; }
  Decision on_request(const Peer&, const Request& request, SystemClock::time_point) const override;

 private:
  std::vector<std::string> allow_;
  std::vector<std::string> deny_;
};

// Password-spray defence: a username with many failures across sources is throttled — but only
// for sources rdpgate has no reason to trust. The trade-off (README "Brute-force defence"): the
// failures that throttle a name are judged from the TLS record stream, yet anyone can fail a
// logon for any name, so a throttle that applied everywhere would let strangers lock a user
// out. Exempt sources (`bruteforce.exempt`), the listener's static allow list and sources with
// a live grant are never throttled: the people the name belongs to keep working from there.
class UsernameThrottle final : public Filter {
 public:
  UsernameThrottle(Services& services, std::optional<config::CidrSet> allow)
      : services_(services), allow_(std::move(allow)) {}
  std::string_view name() const noexcept override { return "username_throttle"; }
  Decision on_request(const Peer& peer, const Request& request,
                      SystemClock::time_point now) const override;

 private:
  Services& services_;
  std::optional<config::CidrSet> allow_;
};

}  // namespace rdpgate::gateway
