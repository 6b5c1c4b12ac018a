// BanManager with an injected clock: fail2ban window, growth, cap, exemptions, manual bans,
// expiry, password-spray blocking and persistence.

#include "rdpgate/security/ban_manager.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "../common/addresses.hpp"
#include "../common/temp_dir.hpp"

namespace rdpgate::security {
namespace {

using namespace std::chrono_literals;

using test::cidr;
using test::ip;
using test::t0;

config::BruteforceConfig small_config() {
  config::BruteforceConfig c;
  c.find_time = 10min;
  c.max_failures = 3;
  c.ban_time = 15min;
  c.ban_time_factor = 2.0;
  c.ban_time_max = 1h;
  c.exempt = {cidr("10.0.0.0/8")};
  c.username_max_failures = 4;
  c.username_find_time = 10min;
  c.username_block_time = 30min;
  return c;
}

std::unique_ptr<state::StateStore> open_store(const std::string& dir,
                                              state::StateHealth* health = nullptr) {
  auto opened = state::StateStore::open(dir, health);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<state::StateStore>>(opened));
}

TEST(BanManager, BansAfterMaxFailuresWithinFindTime) {
  BanManager bans{small_config()};
  const auto a = ip("203.0.113.7");
  EXPECT_FALSE(bans.record_failure(a, "alice", t0));
  EXPECT_FALSE(bans.record_failure(a, "alice", t0 + 1min));
  EXPECT_FALSE(bans.is_banned(a, t0 + 2min));
  const auto ban = bans.record_failure(a, "alice", t0 + 2min);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->cidr.to_string(), "203.0.113.7/32");
  EXPECT_EQ(ban->until, t0 + 2min + 15min);
  EXPECT_EQ(ban->origin, BanOrigin::automatic);
  EXPECT_EQ(ban->reason, "3 failures within 10m");
  EXPECT_TRUE(bans.is_banned(a, t0 + 2min));
  EXPECT_TRUE(bans.is_banned(a, t0 + 17min - 1ms));
  EXPECT_FALSE(bans.is_banned(a, t0 + 17min));  // expired on its own
  EXPECT_FALSE(bans.is_banned(ip("203.0.113.8"), t0 + 3min));
  EXPECT_EQ(bans.active_count(t0 + 3min), 1U);
  EXPECT_EQ(bans.active_count(t0 + 17min), 0U);
  EXPECT_TRUE(bans.list(t0 + 17min).empty());
}

TEST(BanManager, FindTimeWindowSlides) {
  BanManager bans{small_config()};
  const auto a = ip("2001:db8::7");
  EXPECT_FALSE(bans.record_failure(a, "", t0));
  EXPECT_FALSE(bans.record_failure(a, "", t0 + 5min));
  // The first failure left the window (at or before now - find_time does not count).
  EXPECT_FALSE(bans.record_failure(a, "", t0 + 10min));
  EXPECT_FALSE(bans.is_banned(a, t0 + 10min));
  // t0+5, t0+10, t0+14: three within ten minutes.
  const auto ban = bans.record_failure(a, "", t0 + 14min);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->cidr.to_string(), "2001:db8::/64");  // an IPv6 source is its /64
  EXPECT_TRUE(bans.is_banned(a, t0 + 14min));
}

TEST(BanManager, AnIpv6SourceIsItsSlash64ForFailuresAndBans) {
  BanManager bans{small_config()};
  // Three failures from three addresses of one /64 are three failures of one source.
  EXPECT_FALSE(bans.record_failure(ip("2001:db8:0:1::1"), "", t0));
  EXPECT_FALSE(bans.record_failure(ip("2001:db8:0:1::2"), "", t0 + 1s));
  const auto ban = bans.record_failure(ip("2001:db8:0:1:ffff::3"), "", t0 + 2s);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->cidr.to_string(), "2001:db8:0:1::/64");
  EXPECT_TRUE(bans.is_banned(ip("2001:db8:0:1:1234::9"), t0 + 3s));
  EXPECT_FALSE(bans.is_banned(ip("2001:db8:0:2::1"), t0 + 3s));  // the next /64 is not
  EXPECT_TRUE(bans.unban(ban->cidr));
  EXPECT_FALSE(bans.is_banned(ip("2001:db8:0:1::1"), t0 + 3s));

  // With ipv6_prefix 128 (sources.per_source), addresses are sources again.
  auto cfg = small_config();
  cfg.source_ipv6_prefix = 128;
  BanManager per_address{cfg};
  EXPECT_FALSE(per_address.record_failure(ip("2001:db8::1"), "", t0));
  EXPECT_FALSE(per_address.record_failure(ip("2001:db8::2"), "", t0));
  EXPECT_FALSE(per_address.record_failure(ip("2001:db8::3"), "", t0));
  // IPv4 keeps /32 by default.
  EXPECT_FALSE(bans.record_failure(ip("192.0.2.1"), "", t0));
  EXPECT_FALSE(bans.record_failure(ip("192.0.2.2"), "", t0));
  EXPECT_FALSE(bans.record_failure(ip("192.0.2.3"), "", t0));
}

TEST(BanManager, RepeatOffendersGrowUpToTheCap) {
  BanManager bans{small_config()};
  const auto a = ip("198.51.100.1");
  TimePoint now = t0;
  const std::chrono::milliseconds expected[] = {15min, 30min, 1h, 1h, 1h};  // capped at 1h
  for (std::uint32_t round = 0; round < 5; ++round) {
    std::optional<Ban> ban;
    for (int i = 0; i < 3; ++i) ban = bans.record_failure(a, "", now);
    ASSERT_TRUE(ban) << "round " << round;
    EXPECT_EQ(ban->offenses, round);
    EXPECT_EQ(ban->until - now, expected[round]) << "round " << round;
    // While banned, failures of in-flight sessions do not count or extend the ban.
    EXPECT_FALSE(bans.record_failure(a, "", now + 1s));
    now = ban->until;
  }
}

TEST(BanManager, OffensesAreForgottenAfterOffenderMemory) {
  BanManager bans{small_config()};
  const auto a = ip("198.51.100.2");
  for (int i = 0; i < 3; ++i) (void)bans.record_failure(a, "", t0);
  const TimePoint later = t0 + BanManager::offender_memory + 1s;
  std::optional<Ban> ban;
  for (int i = 0; i < 3; ++i) ban = bans.record_failure(a, "", later);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->offenses, 0U);
  EXPECT_EQ(ban->until - later, 15min);
}

TEST(BanManager, ExemptSourcesAreNeverCountedOrBanned) {
  BanManager bans{small_config()};
  const auto inside = ip("10.1.2.3");
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(bans.record_failure(inside, "bob", t0 + i * 1s));
  EXPECT_FALSE(bans.is_banned(inside, t0 + 1min));
  EXPECT_FALSE(bans.username_blocked("bob", t0 + 1min));  // not counted for spray either
  EXPECT_EQ(bans.active_count(t0 + 1min), 0U);
}

TEST(BanManager, DisabledCountsNothing) {
  auto config = small_config();
  config.enabled = false;
  BanManager bans{config};
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(bans.record_failure(ip("192.0.2.1"), "x", t0));
  EXPECT_FALSE(bans.is_banned(ip("192.0.2.1"), t0));
}

TEST(BanManager, ManualBanAndUnban) {
  BanManager bans{small_config()};
  const auto ban = bans.ban(cidr("203.0.113.0/24"), 2h, "abuse report 17", t0);
  EXPECT_EQ(ban.origin, BanOrigin::manual);
  EXPECT_EQ(ban.until, t0 + 2h);
  EXPECT_TRUE(bans.is_banned(ip("203.0.113.200"), t0 + 1h));
  EXPECT_FALSE(bans.is_banned(ip("203.0.114.1"), t0 + 1h));
  (void)bans.ban(cidr("2001:db8::5"), 1h, "single v6", t0);
  EXPECT_TRUE(bans.is_banned(ip("2001:db8::5"), t0));
  EXPECT_FALSE(bans.is_banned(ip("2001:db8::6"), t0));
  // Manual bans cover exempt ranges too: the operator decides.
  (void)bans.ban(cidr("10.9.9.9/32"), 1h, "compromised jump box", t0);
  EXPECT_TRUE(bans.is_banned(ip("10.9.9.9"), t0));

  const auto listed = bans.list(t0);
  ASSERT_EQ(listed.size(), 3U);
  EXPECT_EQ(listed[2].cidr.to_string(), "2001:db8::5/128");  // IPv4-mapped sort first
  EXPECT_EQ(listed[1].reason, "abuse report 17");

  // Replacing a manual ban changes its expiry.
  (void)bans.ban(cidr("203.0.113.0/24"), 10min, "shortened", t0);
  EXPECT_FALSE(bans.is_banned(ip("203.0.113.200"), t0 + 11min));
  EXPECT_EQ(bans.active_count(t0), 3U);

  EXPECT_TRUE(bans.unban(cidr("203.0.113.0/24")));
  EXPECT_FALSE(bans.is_banned(ip("203.0.113.200"), t0));
  EXPECT_FALSE(bans.unban(cidr("203.0.113.0/24")));
  EXPECT_FALSE(bans.unban(cidr("203.0.113.0/25")));  // only the exact CIDR
  EXPECT_TRUE(bans.unban(cidr("10.9.9.9/32")));
  EXPECT_EQ(bans.active_count(t0), 1U);
}

TEST(BanManager, UnbanOfAnAutomaticBanResetsTheCounter) {
  BanManager bans{small_config()};
  const auto a = ip("192.0.2.50");
  for (int i = 0; i < 3; ++i) (void)bans.record_failure(a, "", t0);
  ASSERT_TRUE(bans.is_banned(a, t0));
  EXPECT_TRUE(bans.unban(cidr("192.0.2.50/32")));
  EXPECT_FALSE(bans.is_banned(a, t0));
  EXPECT_FALSE(bans.record_failure(a, "", t0 + 1s));  // counting starts again from zero
  EXPECT_FALSE(bans.record_failure(a, "", t0 + 2s));
  EXPECT_FALSE(bans.is_banned(a, t0 + 2s));
}

TEST(BanManager, PasswordSprayBlocksTheUsernameAcrossSources) {
  BanManager bans{small_config()};
  // Four sources, one failure each: no source is banned, but the username is blocked.
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(
        bans.record_failure(config::IpAddress::from_v4(0xC6336400U + static_cast<std::uint32_t>(i)),
                            i % 2 == 0 ? "Administrator" : "ADMINISTRATOR", t0 + i * 1min));
    EXPECT_FALSE(bans.username_blocked("administrator", t0 + i * 1min));
  }
  EXPECT_FALSE(bans.record_failure(ip("198.51.100.99"), "administrator", t0 + 3min));
  EXPECT_TRUE(bans.username_blocked("administrator", t0 + 3min));
  EXPECT_TRUE(bans.username_blocked("AdMiNiStRaToR", t0 + 3min));
  EXPECT_FALSE(bans.username_blocked("alice", t0 + 3min));
  EXPECT_FALSE(bans.username_blocked("", t0 + 3min));
  EXPECT_EQ(bans.blocked_username_count(t0 + 3min), 1U);
  EXPECT_TRUE(bans.username_blocked("administrator", t0 + 33min - 1ms));
  EXPECT_FALSE(bans.username_blocked("administrator", t0 + 33min));
  EXPECT_EQ(bans.active_count(t0 + 3min), 0U);
}

TEST(BanManager, SprayWindowSlides) {
  BanManager bans{small_config()};
  for (int i = 0; i < 10; ++i) {
    // One failure every 4 minutes: never four within ten minutes.
    (void)bans.record_failure(
        config::IpAddress::from_v4(0xC0000200U + static_cast<std::uint32_t>(i)), "carol",
        t0 + i * 4min);
    EXPECT_FALSE(bans.username_blocked("carol", t0 + i * 4min)) << i;
  }
}

TEST(BanManager, ReconfigureKeepsBansAndCounters) {
  BanManager bans{small_config()};
  const auto a = ip("192.0.2.10");
  const auto b = ip("192.0.2.11");
  for (int i = 0; i < 3; ++i) (void)bans.record_failure(a, "", t0);
  (void)bans.record_failure(b, "", t0);
  auto config = small_config();
  config.max_failures = 2;
  config.ban_time = 5min;
  bans.reconfigure(config);
  EXPECT_TRUE(bans.is_banned(a, t0 + 1min));               // the ban survived
  const auto ban = bans.record_failure(b, "", t0 + 1min);  // 2nd failure under the new rule
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->until, t0 + 6min);

  config.exempt = {cidr("192.0.2.0/24")};
  bans.reconfigure(config);
  EXPECT_FALSE(bans.record_failure(ip("192.0.2.12"), "", t0));
  EXPECT_FALSE(bans.record_failure(ip("192.0.2.12"), "", t0));
  EXPECT_FALSE(bans.is_banned(ip("192.0.2.12"), t0));
}

TEST(BanManager, PersistsAcrossInstancesOnTheSameStore) {
  test::TempDir tmp;
  state::StateHealth health;
  auto store = open_store(tmp.path(), &health);
  ASSERT_TRUE(store);
  const auto a = ip("203.0.113.7");
  {
    BanManager bans{small_config(), store.get()};
    for (int i = 0; i < 3; ++i) (void)bans.record_failure(a, "", t0);
    (void)bans.ban(cidr("198.51.100.0/24"), 2h, "manual", t0);
    (void)bans.ban(cidr("2001:db8::/32"), 2h, "gone soon", t0);
    EXPECT_TRUE(bans.unban(cidr("2001:db8::/32")));
    EXPECT_EQ(health.snapshot().failures, 0U);
  }
  store.reset();
  store = open_store(tmp.path(), &health);  // as after a restart
  ASSERT_TRUE(store);
  BanManager bans{small_config(), store.get()};
  EXPECT_EQ(health.snapshot().failures, 0U);
  EXPECT_TRUE(bans.is_banned(a, t0 + 1min));
  EXPECT_TRUE(bans.is_banned(ip("198.51.100.77"), t0 + 1min));
  EXPECT_FALSE(bans.is_banned(ip("2001:db8::1"), t0 + 1min));
  const auto listed = bans.list(t0);
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0].origin, BanOrigin::manual);
  EXPECT_EQ(listed[1].origin, BanOrigin::automatic);
  EXPECT_EQ(listed[1].until, t0 + 15min);
  // The offense count survived too: the next ban of the same source is twice as long.
  const TimePoint later = t0 + 1h;
  std::optional<Ban> ban;
  for (int i = 0; i < 3; ++i) ban = bans.record_failure(a, "", later);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->until - later, 30min);

  // purge() drops expired bans from the store as well.
  bans.purge(later + 2h);
  (void)store->flush();  // purge() queues its writes
  EXPECT_TRUE(store->load_bans().empty());
  EXPECT_EQ(store->load_offenders().size(), 1U);
}

TEST(BanManager, StoreErrorIsReportedAndDefenceGoesOn) {
  test::TempDir tmp;
  state::StateHealth health;
  std::vector<std::string> observed;
  health.observe([&](const std::string& error) { observed.push_back(error); });
  auto store = open_store(tmp.path(), &health);
  ASSERT_TRUE(store);
  BanManager bans{small_config(), store.get()};
  // Make every write of a ban fail, as a full disk would, through a second connection.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(tmp.sub("rdpgate.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER fail_bans BEFORE INSERT ON bans "
                         "BEGIN SELECT RAISE(FAIL, 'simulated disk full'); END",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  for (int i = 0; i < 3; ++i) (void)bans.record_failure(ip("192.0.2.1"), "", t0);
  EXPECT_TRUE(bans.is_banned(ip("192.0.2.1"), t0));  // the defence works in memory
  (void)store->flush();  // automatic bans are written behind the caller's back
  // The store reported the failure to the one health sink, once per failed write.
  const auto after_auto = health.snapshot();
  EXPECT_EQ(after_auto.failures, 1U);
  EXPECT_NE(after_auto.last_error.find("simulated disk full"), std::string::npos)
      << after_auto.last_error;
  ASSERT_EQ(observed.size(), 1U);
  EXPECT_EQ(observed[0], after_auto.last_error);
  (void)bans.ban(cidr("192.0.2.0/24"), 1h, "manual", t0);
  EXPECT_TRUE(bans.is_banned(ip("192.0.2.77"), t0));
  EXPECT_EQ(health.snapshot().failures, 2U);
  EXPECT_TRUE(health.snapshot().persistent);
}

TEST(BanManager, ConcurrentFailuresAndLookups) {
  auto cfg = small_config();
  cfg.prefix_ban_threshold = 0;  // 300 neighbours: count source bans only
  BanManager bans{cfg};
  std::atomic<bool> stop{false};
  std::thread reader{[&] {
    while (!stop.load()) (void)bans.is_banned(ip("192.0.2.1"), t0);
  }};
  std::vector<std::thread> writers;
  for (std::uint32_t t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < 300; ++i) {
        (void)bans.record_failure(config::IpAddress::from_v4(0xC6336400U + (i % 100) + t * 100),
                                  "user" + std::to_string(i % 7), t0 + std::chrono::seconds{i});
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  // 300 sources, 3 failures each within the window: each is banned exactly once.
  EXPECT_EQ(bans.active_count(t0 + 301s), 300U);
}

// Bans `source` (max_failures failures) and returns the prefix ban that completed, if any.
std::optional<Ban> ban_source(BanManager& bans, std::string_view source, TimePoint now) {
  std::optional<Ban> prefix;
  for (int i = 0; i < 3; ++i) (void)bans.record_failure(ip(source), "", now, &prefix);
  EXPECT_TRUE(bans.is_banned(ip(source), now)) << source;
  return prefix;
}

TEST(BanManager, ThreeBannedSourcesOfOneSlash24BanTheSlash24) {
  BanManager bans{small_config()};  // prefix_ban: threshold 3, /24, /48 by default
  EXPECT_FALSE(ban_source(bans, "198.51.100.1", t0));
  EXPECT_FALSE(ban_source(bans, "198.51.100.2", t0 + 1min));
  EXPECT_FALSE(bans.is_banned(ip("198.51.100.77"), t0 + 1min));
  const auto prefix = ban_source(bans, "198.51.100.3", t0 + 2min);
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->cidr.to_string(), "198.51.100.0/24");
  EXPECT_EQ(prefix->origin, BanOrigin::automatic);
  EXPECT_EQ(prefix->until, t0 + 2min + 15min);  // the ban time of the source ban
  EXPECT_TRUE(bans.is_banned(ip("198.51.100.77"), t0 + 3min));
  EXPECT_FALSE(bans.is_banned(ip("198.51.101.1"), t0 + 3min));
  // The admin API lists it with the source bans, origin "auto".
  const auto listed = bans.list(t0 + 3min);
  EXPECT_TRUE(std::any_of(listed.begin(), listed.end(), [](const Ban& b) {
    return b.cidr.to_string() == "198.51.100.0/24" && b.origin == BanOrigin::automatic;
  }));
}

TEST(BanManager, PrefixBansCountWithinFindTimeOnlyAndSpareExemptRanges) {
  BanManager bans{small_config()};
  EXPECT_FALSE(ban_source(bans, "203.0.113.1", t0));
  EXPECT_FALSE(ban_source(bans, "203.0.113.2", t0 + 1min));
  EXPECT_FALSE(ban_source(bans, "203.0.113.3", t0 + 11min));  // the first left the window

  auto cfg = small_config();
  cfg.exempt = {cidr("192.0.2.128/25")};  // inside the /24 the bans would cover
  BanManager spared{cfg};
  EXPECT_FALSE(ban_source(spared, "192.0.2.1", t0));
  EXPECT_FALSE(ban_source(spared, "192.0.2.2", t0));
  EXPECT_FALSE(ban_source(spared, "192.0.2.3", t0));
  EXPECT_FALSE(spared.is_banned(ip("192.0.2.200"), t0));

  cfg = small_config();
  cfg.prefix_ban_threshold = 0;  // off
  BanManager off{cfg};
  EXPECT_FALSE(ban_source(off, "198.51.100.1", t0));
  EXPECT_FALSE(ban_source(off, "198.51.100.2", t0));
  EXPECT_FALSE(ban_source(off, "198.51.100.3", t0));
}

TEST(BanManager, ThreeBannedSlash64sOfOneSlash48BanTheSlash48) {
  BanManager bans{small_config()};
  EXPECT_FALSE(ban_source(bans, "2001:db8:1:1::1", t0));
  EXPECT_FALSE(ban_source(bans, "2001:db8:1:2::1", t0));
  const auto prefix = ban_source(bans, "2001:db8:1:3::1", t0);
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->cidr.to_string(), "2001:db8:1::/48");
  EXPECT_TRUE(bans.is_banned(ip("2001:db8:1:ffff::9"), t0));
  EXPECT_FALSE(bans.is_banned(ip("2001:db8:2::1"), t0));
}

// Sharing with other instances (state.redis): the listener hears what happens here, in order;
// what other instances did is applied without being told back.
TEST(BanManager, TheListenerHearsLocalChangesAndAppliedOnesAreNotEchoed) {
  BanManager bans{small_config()};
  std::vector<std::string> heard;
  bans.set_listener({[&](const Ban& b) { heard.push_back("ban " + b.cidr.to_string()); },
                     [&](const config::Cidr& c) { heard.push_back("unban " + c.to_string()); },
                     [&](const config::IpAddress& a, std::string_view user, TimePoint) {
                       heard.push_back("fail " + a.to_string() + " " + std::string(user));
                     }});
  bans.record_failure(ip("203.0.113.1"), "bob", t0);
  bans.ban(cidr("198.51.100.0/24"), 1h, "manual", t0);
  bans.unban(cidr("198.51.100.0/24"));
  EXPECT_EQ(heard, (std::vector<std::string>{"fail 203.0.113.1 bob", "ban 198.51.100.0/24",
                                             "unban 198.51.100.0/24"}));
  heard.clear();
  bans.apply_ban(Ban{cidr("192.0.2.7/32"), t0 + 1h, "from b", BanOrigin::manual, 0, false});
  EXPECT_TRUE(bans.is_banned(ip("192.0.2.7"), t0));
  bans.apply_unban(cidr("192.0.2.7/32"));
  EXPECT_FALSE(bans.is_banned(ip("192.0.2.7"), t0));
  EXPECT_TRUE(heard.empty());
}

TEST(BanManager, FailuresJudgedElsewhereCountAndTheBanTheyCompleteIsTold) {
  BanManager bans{small_config()};  // max_failures 3
  std::vector<std::string> heard;
  bans.set_listener(
      {[&](const Ban& b) { heard.push_back("ban " + b.cidr.to_string()); },
       {},
       [&](const config::IpAddress&, std::string_view, TimePoint) { heard.push_back("fail"); }});
  bans.apply_failure(ip("203.0.113.1"), "", t0);
  bans.apply_failure(ip("203.0.113.1"), "", t0 + 1s);
  EXPECT_FALSE(bans.is_banned(ip("203.0.113.1"), t0 + 1s));
  EXPECT_TRUE(heard.empty()) << "a failure judged elsewhere was echoed";
  const auto ban = bans.record_failure(ip("203.0.113.1"), "", t0 + 2s);
  ASSERT_TRUE(ban);
  EXPECT_EQ(heard, (std::vector<std::string>{"fail", "ban 203.0.113.1/32"}));
}

TEST(BanManager, AnAppliedBanSurvivesARestart) {
  test::TempDir dir;
  const auto remote = Ban{cidr("192.0.2.0/24"), t0 + 1h, "from b", BanOrigin::manual, 0, false};
  {
    auto store = open_store(dir.path());
    BanManager bans{small_config(), store.get()};
    bans.apply_ban(remote);
    bans.apply_ban(remote);  // its own message coming back: idempotent
    store->close();
  }
  auto store = open_store(dir.path());
  BanManager bans{small_config(), store.get()};
  EXPECT_TRUE(bans.is_banned(ip("192.0.2.77"), t0));
}

}  // namespace
TEST(BanManager, ObserveModeListsBansItWouldMakeAndEnforcesNone) {
  test::TempDir tmp;
  auto store = open_store(tmp.path());
  ASSERT_TRUE(store);
  auto cfg = small_config();
  cfg.observe_only = true;
  BanManager bans{cfg, store.get()};
  const auto a = ip("198.51.100.1");
  std::optional<Ban> ban;
  for (int i = 0; i < 3; ++i) ban = bans.record_failure(a, "alice", t0);
  ASSERT_TRUE(ban);
  EXPECT_TRUE(ban->observed);
  EXPECT_EQ(ban->until, t0 + 15min);  // what it would have been
  EXPECT_FALSE(bans.is_banned(a, t0 + 1s));
  ASSERT_TRUE(bans.find(a, t0 + 1s));
  EXPECT_TRUE(bans.find(a, t0 + 1s)->observed);
  EXPECT_EQ(bans.active_count(t0 + 1s), 0U);
  // Failures from an observed-banned source are not counted again (as for a banned one).
  EXPECT_FALSE(bans.record_failure(a, "alice", t0 + 2s));
  // Prefix bans follow: two more sources of the /24 complete an observed /24.
  std::optional<Ban> prefix;
  for (const char* source : {"198.51.100.2", "198.51.100.3"}) {
    for (int i = 0; i < 3; ++i) (void)bans.record_failure(ip(source), "", t0 + 1min, &prefix);
  }
  ASSERT_TRUE(prefix);
  EXPECT_TRUE(prefix->observed);
  EXPECT_EQ(prefix->cidr.to_string(), "198.51.100.0/24");
  EXPECT_FALSE(bans.is_banned(ip("198.51.100.200"), t0 + 2min));
  const auto listed = bans.list(t0 + 2min);
  EXPECT_EQ(listed.size(), 4U);
  EXPECT_TRUE(std::all_of(listed.begin(), listed.end(), [](const Ban& b) { return b.observed; }));
  // Nothing observed reaches the store or the offense count.
  EXPECT_TRUE(store->load_bans().empty());
  EXPECT_TRUE(store->load_offenders().empty());
  // Turning observe mode off enforces new bans only; an observed one can be removed.
  cfg.observe_only = false;
  bans.reconfigure(cfg);
  EXPECT_FALSE(bans.is_banned(a, t0 + 3min));
  for (int i = 0; i < 3; ++i) ban = bans.record_failure(ip("203.0.113.9"), "", t0 + 3min);
  ASSERT_TRUE(ban);
  EXPECT_FALSE(ban->observed);
  EXPECT_TRUE(bans.is_banned(ip("203.0.113.9"), t0 + 4min));
  EXPECT_TRUE(bans.unban(cidr("198.51.100.1/32")));
  EXPECT_FALSE(bans.find(a, t0 + 4min) && bans.find(a, t0 + 4min)->cidr.prefix == 32);
}

}  // namespace rdpgate::security
