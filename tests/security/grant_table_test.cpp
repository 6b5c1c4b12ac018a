// GrantTable: expiry, route matching, revocation, durability, bounds.

#include "rdpgate/security/grant_table.hpp"

#include <gtest/gtest.h>

#include <set>

#include "../common/addresses.hpp"
#include "../common/temp_dir.hpp"

namespace rdpgate::security {
namespace {

using namespace std::chrono_literals;
using TimePoint = GrantTable::TimePoint;

using test::cidr;
using test::ip;
using test::t0;

Grant add_or_fail(GrantTable& table, std::string_view range, std::string route,
                  std::chrono::milliseconds duration, TimePoint now) {
  auto added = table.add(cidr(range), std::move(route), duration, "ticket 1234", now);
  if (auto* error = std::get_if<std::string>(&added)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<Grant>(added);
}

TEST(GrantTable, GrantAllowsItsRouteUntilItExpires) {
  GrantTable grants;
  const auto grant = add_or_fail(grants, "203.0.113.7/32", "finance", 2h, t0);
  EXPECT_EQ(grant.id.size(), 16U);
  EXPECT_EQ(grant.id.find_first_not_of("0123456789abcdef"), std::string::npos) << grant.id;
  EXPECT_EQ(grant.until, t0 + 2h);
  EXPECT_EQ(grant.created, t0);
  EXPECT_EQ(grant.reason, "ticket 1234");

  const auto a = ip("203.0.113.7");
  EXPECT_TRUE(grants.allows(a, "finance", t0));
  EXPECT_TRUE(grants.allows(a, "finance", t0 + 2h - 1ms));
  EXPECT_FALSE(grants.allows(a, "finance", t0 + 2h));  // expired on its own
  EXPECT_FALSE(grants.allows(a, "hr", t0));            // another route
  EXPECT_FALSE(grants.allows(ip("203.0.113.8"), "finance", t0));
  EXPECT_TRUE(grants.any_grant(a, t0));
  EXPECT_FALSE(grants.any_grant(a, t0 + 2h));
  EXPECT_FALSE(grants.any_grant(ip("203.0.113.8"), t0));
  EXPECT_EQ(grants.active_count(t0), 1U);
  EXPECT_EQ(grants.active_count(t0 + 2h), 0U);
  EXPECT_TRUE(grants.list(t0 + 2h).empty());
}

TEST(GrantTable, WildcardRouteAndRanges) {
  GrantTable grants;
  (void)add_or_fail(grants, "2001:db8::/48", "*", 1h, t0);
  EXPECT_TRUE(grants.allows(ip("2001:db8::42"), "finance", t0));
  EXPECT_TRUE(grants.allows(ip("2001:db8:0:ffff::1"), "anything", t0));
  EXPECT_FALSE(grants.allows(ip("2001:db8:1::1"), "finance", t0));
  EXPECT_FALSE(grants.allows(ip("192.0.2.1"), "finance", t0));
}

TEST(GrantTable, RevokeAndList) {
  GrantTable grants;
  const auto g1 = add_or_fail(grants, "192.0.2.0/24", "finance", 1h, t0);
  const auto g2 = add_or_fail(grants, "198.51.100.5/32", "hr", 3h, t0 + 1s);
  EXPECT_NE(g1.id, g2.id);
  auto listed = grants.list(t0 + 2s);
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0], g1);
  EXPECT_EQ(listed[1], g2);
  EXPECT_EQ(grants.find(g2.id, t0)->route, "hr");

  EXPECT_TRUE(grants.revoke(g1.id));
  EXPECT_FALSE(grants.revoke(g1.id));
  EXPECT_FALSE(grants.revoke("0000000000000000"));
  EXPECT_FALSE(grants.allows(ip("192.0.2.9"), "finance", t0 + 2s));
  listed = grants.list(t0 + 2s);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].id, g2.id);
  EXPECT_FALSE(grants.find(g1.id, t0));
}

TEST(GrantTable, RefusesBadInput) {
  GrantTable grants;
  EXPECT_TRUE(std::holds_alternative<std::string>(grants.add(cidr("192.0.2.1"), "", 1h, "", t0)));
  EXPECT_TRUE(std::holds_alternative<std::string>(grants.add(cidr("192.0.2.1"), "r", 0s, "", t0)));
  EXPECT_EQ(grants.active_count(t0), 0U);
}

TEST(GrantTable, IdsAreUnique) {
  GrantTable grants;
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.insert(add_or_fail(grants, "192.0.2.1", "r", 1h, t0).id);
  EXPECT_EQ(ids.size(), 200U);
}

TEST(GrantTable, BoundedButExpiredGrantsMakeRoom) {
  GrantTable grants;
  for (std::size_t i = 0; i < GrantTable::max_grants; ++i) {
    ASSERT_TRUE(std::holds_alternative<Grant>(grants.add(cidr("192.0.2.1"), "r", 1min, "", t0)));
  }
  const auto refused = grants.add(cidr("192.0.2.1"), "r", 1min, "", t0);
  ASSERT_TRUE(std::holds_alternative<std::string>(refused));
  EXPECT_NE(std::get<std::string>(refused).find("too many"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<Grant>(grants.add(cidr("192.0.2.1"), "r", 1min, "", t0 + 1min)));
  EXPECT_EQ(grants.active_count(t0 + 1min), 1U);
}

TEST(GrantTable, DurableAcrossRestart) {
  test::TempDir tmp;
  state::StateHealth health;
  std::string kept_id;
  {
    auto opened = state::StateStore::open(tmp.path(), &health);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<state::StateStore>>(opened));
    auto store = std::move(std::get<std::unique_ptr<state::StateStore>>(opened));
    GrantTable grants{store.get()};
    kept_id = add_or_fail(grants, "203.0.113.7/32", "finance", 2h, t0).id;
    const auto revoked = add_or_fail(grants, "203.0.113.8/32", "finance", 2h, t0);
    (void)add_or_fail(grants, "203.0.113.9/32", "finance", 1min, t0);
    EXPECT_TRUE(grants.revoke(revoked.id));
    EXPECT_EQ(health.snapshot().failures, 0u);
  }
  auto opened = state::StateStore::open(tmp.path(), &health);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<state::StateStore>>(opened));
  auto store = std::move(std::get<std::unique_ptr<state::StateStore>>(opened));
  GrantTable grants{store.get()};
  EXPECT_EQ(health.snapshot().failures, 0u);
  EXPECT_TRUE(grants.allows(ip("203.0.113.7"), "finance", t0 + 1h));
  EXPECT_FALSE(grants.allows(ip("203.0.113.8"), "finance", t0 + 1h));  // revoked stays revoked
  EXPECT_FALSE(grants.allows(ip("203.0.113.9"), "finance", t0 + 1h));  // expired
  const auto listed = grants.list(t0 + 1h);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].id, kept_id);
  EXPECT_EQ(listed[0].reason, "ticket 1234");
  EXPECT_EQ(listed[0].created, t0);

  grants.purge(t0 + 1h);
  EXPECT_EQ(store->load_grants().size(), 1U);  // the expired one left the store
}

}  // namespace
}  // namespace rdpgate::security
