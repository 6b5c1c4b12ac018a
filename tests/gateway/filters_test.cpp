// Filters one by one: deny/allow lists, just-in-time grants, bans, the per-source rate limit, the
// protocol requirement (and which failure code answers the client), username globs and the
// password-spray throttle.

#include "rdpgate/gateway/filters.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"
#include "test_support.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;
using test::cidrs;
using test::peer;
using test::request;
namespace proto = protocol::proto;

const SystemClock::time_point t0 = SystemClock::time_point{} + std::chrono::hours(24 * 365 * 50);

class FiltersTest : public ::testing::Test {
 protected:
  Metrics metrics;
  Services services{metrics};
};

TEST_F(FiltersTest, DenyListRefusesAddressesInsideItsRanges) {
  SourceDenyList f(config::CidrSet(cidrs({"203.0.113.0/24", "2001:db8::/32"})));
  EXPECT_EQ(f.name(), "source_deny_list");
  auto d = f.on_admission(peer("203.0.113.77"), t0);
  EXPECT_TRUE(d.refused());
  EXPECT_EQ(d.refusal, OutcomeKind::denied_source);
  EXPECT_EQ(d.reason, "deny_list");
  EXPECT_TRUE(f.on_admission(peer("2001:db8::1"), t0).refused());
  EXPECT_FALSE(f.on_admission(peer("203.0.114.1"), t0).refused());
  EXPECT_FALSE(f.on_admission(peer("2001:db9::1"), t0).refused());
  // The filter never answers the client: a refused source gets nothing but a close.
  EXPECT_FALSE(d.reply.has_value());
  EXPECT_FALSE(d.disconnect_request);
}

TEST_F(FiltersTest, WithoutAllowListOrJitEverySourcePasses) {
  SourceAllowList f(std::nullopt, false, services);
  EXPECT_FALSE(f.on_admission(peer("198.51.100.1"), t0).refused());
  EXPECT_FALSE(f.on_admission(peer("::1"), t0).refused());
}

TEST_F(FiltersTest, AllowListRefusesSourcesOutsideIt) {
  SourceAllowList f(config::CidrSet(cidrs({"10.0.0.0/8"})), false, services);
  EXPECT_FALSE(f.on_admission(peer("10.200.0.1"), t0).refused());
  auto d = f.on_admission(peer("11.0.0.1"), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::denied_source);
  EXPECT_EQ(d.reason, "allow_list");
}

TEST_F(FiltersTest, EmptyAllowListRefusesEverySource) {
  SourceAllowList f(config::CidrSet{}, false, services);
  EXPECT_EQ(f.on_admission(peer("10.0.0.1"), t0).refusal, OutcomeKind::denied_source);
}

TEST_F(FiltersTest, JitModeNeedsALiveGrantOrTheStaticAllowList) {
  security::GrantTable grants;
  services.grants = &grants;
  SourceAllowList f(config::CidrSet(cidrs({"10.0.0.0/8"})), true, services);
  // On the static allow list: passes without a grant.
  EXPECT_FALSE(f.on_admission(peer("10.1.2.3"), t0).refused());
  // No grant yet.
  auto d = f.on_admission(peer("203.0.113.7"), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::denied_source);
  EXPECT_EQ(d.reason, "no_grant");
  // A two-hour grant for the /32.
  auto added = grants.add(*config::parse_cidr("203.0.113.7/32"), "finance", 2h, "ticket 1234", t0);
  ASSERT_TRUE(std::holds_alternative<security::Grant>(added));
  EXPECT_FALSE(f.on_admission(peer("203.0.113.7"), t0 + 1h).refused());
  // Its neighbour is not covered, and the grant expires on its own.
  EXPECT_TRUE(f.on_admission(peer("203.0.113.8"), t0 + 1h).refused());
  EXPECT_EQ(f.on_admission(peer("203.0.113.7"), t0 + 2h + 1s).reason, "no_grant");
}

TEST_F(FiltersTest, JitModeWithoutGrantTableRefuses) {
  SourceAllowList f(std::nullopt, true, services);
  EXPECT_EQ(f.on_admission(peer("203.0.113.7"), t0).reason, "no_grant");
}

TEST_F(FiltersTest, BanCheckRefusesBannedSourcesUntilTheBanExpires) {
  BanCheck without(services, false);
  EXPECT_FALSE(without.on_admission(peer("192.0.2.1"), t0).refused());  // no ban service

  security::BanManager bans(config::BruteforceConfig{});
  services.bans = &bans;
  BanCheck f(services, false);
  bans.ban(*config::parse_cidr("192.0.2.0/24"), 15min, "manual", t0);
  auto d = f.on_admission(peer("192.0.2.1"), t0 + 1min);
  EXPECT_EQ(d.refusal, OutcomeKind::banned);
  EXPECT_FALSE(d.observed);
  EXPECT_FALSE(f.on_admission(peer("192.0.3.1"), t0 + 1min).refused());
  EXPECT_FALSE(f.on_admission(peer("192.0.2.1"), t0 + 16min).refused());
}

TEST_F(FiltersTest, BanCheckInObserveModeReportsAutomaticBansAndEnforcesManualOnes) {
  config::BruteforceConfig cfg;
  cfg.max_failures = 2;
  security::BanManager bans(cfg);
  services.bans = &bans;
  // An automatic ban made while enforcing, and an operator's manual ban.
  for (int i = 0; i < 2; ++i) (void)bans.record_failure(test::ip("198.51.100.1"), "", t0);
  bans.ban(*config::parse_cidr("192.0.2.0/24"), 15min, "manual", t0);

  BanCheck observing(services, true);
  auto automatic = observing.on_admission(peer("198.51.100.1"), t0 + 1s);
  EXPECT_EQ(automatic.refusal, OutcomeKind::banned);
  EXPECT_TRUE(automatic.observed);  // reported, not enforced
  auto manual = observing.on_admission(peer("192.0.2.9"), t0 + 1s);
  EXPECT_EQ(manual.refusal, OutcomeKind::banned);
  EXPECT_FALSE(manual.observed);  // an operator's decision stays enforced

  // A ban computed in observe mode is never enforced, even once observe mode is off.
  cfg.observe_only = true;
  bans.reconfigure(cfg);
  for (int i = 0; i < 2; ++i) (void)bans.record_failure(test::ip("203.0.113.5"), "", t0);
  EXPECT_FALSE(bans.is_banned(test::ip("203.0.113.5"), t0 + 1s));
  cfg.observe_only = false;
  bans.reconfigure(cfg);
  BanCheck enforcing(services, false);
  auto observed = enforcing.on_admission(peer("203.0.113.5"), t0 + 1s);
  EXPECT_EQ(observed.refusal, OutcomeKind::banned);
  EXPECT_TRUE(observed.observed);
  EXPECT_FALSE(enforcing.on_admission(peer("198.51.100.1"), t0 + 1s).observed);
}

TEST_F(FiltersTest, RateLimitAllowsTheBurstThenRefuses) {
  auto limiter = std::make_shared<RateLimiter>();
  // One token a day: nothing refills while the test runs.
  config::SourcesConfig sources;
  sources.per_source_rate = config::Rate{1.0 / 86400};
  sources.per_source_burst = 3;
  SourceRateLimit f(limiter, sources);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.on_admission(peer("198.51.100.9"), t0).refused()) << i;
  auto d = f.on_admission(peer("198.51.100.9"), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::rate_limited);
  // Buckets are per source.
  EXPECT_FALSE(f.on_admission(peer("198.51.100.10"), t0).refused());
}

TEST_F(FiltersTest, RateLimitKeysIpv6SourcesByTheirSlash64) {
  auto limiter = std::make_shared<RateLimiter>();
  config::SourcesConfig sources;  // ipv6_prefix 64 by default
  sources.per_source_rate = config::Rate{1.0 / 86400};
  sources.per_source_burst = 3;
  SourceRateLimit f(limiter, sources);
  // 200 addresses of one /64 share one bucket: the burst, then refusals.
  int passed = 0;
  for (int i = 1; i <= 200; ++i) {
    char text[64];
    std::snprintf(text, sizeof text, "2001:db8:0:1::%x", i);
    passed += f.on_admission(peer(text), t0).refused() ? 0 : 1;
  }
  EXPECT_EQ(passed, 3);
  EXPECT_FALSE(f.on_admission(peer("2001:db8:0:2::1"), t0).refused());  // another /64
  // ipv6_prefix: 128 is per address again.
  sources.per_source_ipv6_prefix = 128;
  SourceRateLimit per_address(std::make_shared<RateLimiter>(), sources);
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(per_address.on_admission(peer("2001:db8::1"), t0).refused());
  EXPECT_FALSE(per_address.on_admission(peer("2001:db8::2"), t0).refused());
}

// ---- protocol requirement -------------------------------------------------------------------

constexpr std::uint32_t nla = proto::hybrid | proto::hybrid_ex;  // the default requirement

TEST_F(FiltersTest, ProtocolRequirementPassesClientsOfferingARequiredProtocol) {
  ProtocolRequirement f(nla, true, false);
  EXPECT_FALSE(
      f.on_request(peer("10.0.0.1"), request("u", proto::ssl | proto::hybrid), t0).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("u", proto::hybrid_ex), t0).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("u", 0xb), t0).refused());
}

TEST_F(FiltersTest, TlsOnlyClientGetsHybridRequiredByServer) {
  ProtocolRequirement f(nla, true, false);
  auto d = f.on_request(peer("10.0.0.1"), request("u", proto::ssl), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::protocol_not_allowed);
  EXPECT_EQ(d.reason, "protocol_not_offered");
  ASSERT_TRUE(d.reply.has_value());
  EXPECT_EQ(*d.reply, protocol::NegFailureCode::hybrid_required_by_server);
  EXPECT_FALSE(d.disconnect_request);
}

TEST_F(FiltersTest, StandardRdpSecurityClientGetsHybridRequiredWhenNlaIsRequired) {
  ProtocolRequirement f(nla | proto::ssl, true, false);
  auto d = f.on_request(peer("10.0.0.1"), request("u", proto::rdp), t0);
  ASSERT_TRUE(d.reply.has_value());
  EXPECT_EQ(*d.reply, protocol::NegFailureCode::hybrid_required_by_server);
}

TEST_F(FiltersTest, OnlySslRequiredAnswersSslRequiredByServer) {
  ProtocolRequirement f(proto::ssl, true, false);
  auto d = f.on_request(peer("10.0.0.1"), request("u", proto::rdp), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::protocol_not_allowed);
  ASSERT_TRUE(d.reply.has_value());
  EXPECT_EQ(*d.reply, protocol::NegFailureCode::ssl_required_by_server);
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("u", proto::ssl), t0).refused());
}

TEST_F(FiltersTest, LegacyRequestWithoutNegotiationGetsADisconnectRequest) {
  ProtocolRequirement f(nla, true, false);
  auto d = f.on_request(peer("10.0.0.1"), request("u", 0, false), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::protocol_not_allowed);
  EXPECT_EQ(d.reason, "no_negotiation");
  EXPECT_TRUE(d.disconnect_request);
  // [MS-RDPBCGR] 3.3.5.3.1: no negotiation data may answer a request that had none.
  EXPECT_FALSE(d.reply.has_value());
}

TEST_F(FiltersTest, AcceptRdpLetsStandardSecurityThrough) {
  ProtocolRequirement f(nla, true, true);
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("u", proto::rdp), t0).refused());
  // ... but not a TLS-only request, which is neither RDP nor NLA.
  EXPECT_TRUE(f.on_request(peer("10.0.0.1"), request("u", proto::ssl), t0).refused());
}

TEST_F(FiltersTest, EmptyRequirementAcceptsAnything) {
  ProtocolRequirement f(0, false, true);
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("u", proto::rdp), t0).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("u", 0, false), t0).refused());
}

TEST_F(FiltersTest, DirectApproachPassesTheRequirement) {
  ProtocolRequirement f(nla, true, false);
  Request r;
  r.direct_tls = true;
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), r, t0).refused());
}

// ---- usernames ------------------------------------------------------------------------------

TEST_F(FiltersTest, UsernameDenyGlobsAreCaseInsensitive) {
  UsernamePolicy f({"*"}, {"admin*", "guest"});
  for (const char* user : {"Administrator", "admin", "ADMIN2", "Guest"}) {
    auto d = f.on_request(peer("10.0.0.1"), request(user, nla), t0);
    EXPECT_EQ(d.refusal, OutcomeKind::username_denied) << user;
    EXPECT_EQ(d.reason, "deny") << user;
  }
  for (const char* user : {"alice", "guests", "sysadmin"}) {
    EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request(user, nla), t0).refused()) << user;
  }
}

TEST_F(FiltersTest, UsernameAllowListRefusesOtherNames) {
  UsernamePolicy f({"svc-*", "alice"}, {});
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("svc-backup", nla), t0).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("ALICE", nla), t0).refused());
  auto d = f.on_request(peer("10.0.0.1"), request("bob", nla), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::username_denied);
  EXPECT_EQ(d.reason, "not_allowed");
}

TEST_F(FiltersTest, DenyWinsOverAllow) {
  UsernamePolicy f({"svc-*"}, {"svc-old*"});
  EXPECT_TRUE(f.on_request(peer("10.0.0.1"), request("svc-oldbox", nla), t0).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("svc-new", nla), t0).refused());
}

TEST_F(FiltersTest, AbsentCookiePassesOnlyACatchAllAllow) {
  // Microsoft clients may omit the cookie: only `allow: ["*"]` lets such a request through,
  // and deny patterns cannot match a name that was not sent.
  UsernamePolicy open({"*"}, {"admin*"});
  EXPECT_FALSE(open.on_request(peer("10.0.0.1"), request("", nla), t0).refused());
  UsernamePolicy restricted({"svc-*"}, {});
  auto d = restricted.on_request(peer("10.0.0.1"), request("", nla), t0);
  EXPECT_EQ(d.refusal, OutcomeKind::username_denied);
  EXPECT_EQ(d.reason, "no_username");
}

TEST_F(FiltersTest, UsernameThrottleBlocksASprayedNameAcrossSources) {
  config::BruteforceConfig bf;
  bf.max_failures = 100;  // no source reaches its own threshold
  bf.username_max_failures = 3;
  bf.username_find_time = 10min;
  bf.username_block_time = 15min;
  security::BanManager bans(bf);
  services.bans = &bans;
  UsernameThrottle f(services, std::nullopt);

  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("alice", nla), t0).refused());
  bans.record_failure(*config::parse_ip("198.51.100.1"), "alice", t0);
  bans.record_failure(*config::parse_ip("198.51.100.2"), "ALICE", t0 + 1s);
  EXPECT_FALSE(f.on_request(peer("10.0.0.1"), request("alice", nla), t0 + 2s).refused());
  bans.record_failure(*config::parse_ip("198.51.100.3"), "alice", t0 + 2s);

  auto d = f.on_request(peer("10.0.0.9"), request("Alice", nla), t0 + 3s);
  EXPECT_EQ(d.refusal, OutcomeKind::banned);
  EXPECT_EQ(d.reason, "username_throttled");
  // Other names and cookie-less requests are unaffected; the block ends after block_time.
  EXPECT_FALSE(f.on_request(peer("10.0.0.9"), request("bob", nla), t0 + 3s).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.9"), request("", nla), t0 + 3s).refused());
  EXPECT_FALSE(f.on_request(peer("10.0.0.9"), request("alice", nla), t0 + 2s + 16min).refused());
}

TEST_F(FiltersTest, UsernameThrottleNeverAppliesToTrustedSources) {
  config::BruteforceConfig bf;
  bf.max_failures = 100;
  bf.username_max_failures = 3;
  bf.exempt = cidrs({"192.0.2.0/24"});
  security::BanManager bans(bf);
  security::GrantTable grants;
  services.bans = &bans;
  services.grants = &grants;
  UsernameThrottle f(services, config::CidrSet(cidrs({"203.0.113.0/24"})));
  for (int i = 1; i <= 3; ++i) {
    bans.record_failure(test::ip("198.51.100." + std::to_string(i)), "alice", t0);
  }
  ASSERT_TRUE(bans.username_blocked("alice", t0 + 1s));
  // A stranger is throttled; the exempt range, the static allow list and a granted source
  // are not: strangers' failures cannot lock the user out of where they work.
  EXPECT_TRUE(f.on_request(peer("198.51.100.50"), request("alice", nla), t0 + 1s).refused());
  EXPECT_FALSE(f.on_request(peer("192.0.2.7"), request("alice", nla), t0 + 1s).refused());
  EXPECT_FALSE(f.on_request(peer("203.0.113.9"), request("alice", nla), t0 + 1s).refused());
  ASSERT_TRUE(std::holds_alternative<security::Grant>(
      grants.add(cidrs({"198.51.100.77/32"})[0], "*", 1h, "ticket", t0)));
  EXPECT_FALSE(f.on_request(peer("198.51.100.77"), request("alice", nla), t0 + 1s).refused());
}

}  // namespace
}  // namespace rdpgate::gateway
