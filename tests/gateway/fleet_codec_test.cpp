// The messages and records rdpgate instances share through Redis (fleet_codec.hpp): every kind
// round-trips, and nothing malformed — truncated, wrong types, unknown kinds, junk — decodes.

#include "rdpgate/gateway/fleet_codec.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "../common/addresses.hpp"

namespace rdpgate::gateway::fleet {
namespace {

using namespace std::chrono_literals;
using test::cidr;
using test::ip;

const TimePoint when = from_ms(1'790'000'000'123);

std::vector<Message> samples() {
  return {
      {"a1", security::Ban{cidr("203.0.113.7/32"), when, "4 failures within 10m",
                           state::BanOrigin::automatic, 2, false}},
      {"a1", security::Ban{cidr("2001:db8::/48"), when, "ticket \"7\"\n\t\u00e9",
                           state::BanOrigin::manual, 0, false}},
      {"b2", Unban{cidr("198.51.100.0/24")}},
      {"b2", security::Grant{"0123456789abcdef", cidr("192.0.2.9/32"), "finance", when,
                             "portal: alice", when - 1h}},
      {"b2", Revoke{"0123456789abcdef"}},
      {"c3", Failure{ip("2001:db8::7"), "Alice", when}},
      {"c3", Failure{ip("203.0.113.9"), "", when}},
      {"c3", Admitted{"main", {{ip("203.0.113.5"), 3}, {ip("2001:db8::"), 1}}}},
  };
}

TEST(FleetCodec, EveryKindRoundTrips) {
  for (const auto& message : samples()) {
    const auto text = encode(message);
    const auto back = decode(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, message) << text;
  }
}

TEST(FleetCodec, BanAndGrantRecordsRoundTrip) {
  const auto all = samples();
  const auto& ban = std::get<security::Ban>(all[0].event);
  EXPECT_EQ(decode_ban(encode_ban(ban)), ban);
  const auto& grant = std::get<security::Grant>(all[3].event);
  EXPECT_EQ(decode_grant(encode_grant(grant)), grant);
  EXPECT_FALSE(decode_ban(encode_grant(grant)));
  EXPECT_FALSE(decode_grant(encode_ban(ban)));
}

TEST(FleetCodec, MalformedMessagesAreRefused) {
  for (
      const char* text : {
          "",
          "{}",
          "[]",
          "null",
          "{\"i\":\"a\",\"k\":\"ban\"}",
          R"({"i":"a","k":"nuke","v":{}})",
          R"({"i":1,"k":"unban","v":{"cidr":"10.0.0.0/8"}})",
          R"({"i":"a","k":"unban","v":{"cidr":"10.0.0.0/33"}})",
          R"({"i":"a","k":"unban","v":{"cidr":"example.com"}})",
          R"({"i":"a","k":"ban","v":{"cidr":"10.0.0.1/32","until":"soon","reason":"","origin":"auto","offenses":0}})",
          R"({"i":"a","k":"ban","v":{"cidr":"10.0.0.1/32","until":1,"reason":"","origin":"god","offenses":0}})",
          R"({"i":"a","k":"ban","v":{"cidr":"10.0.0.1/32","until":1,"reason":"","origin":"auto","offenses":-1}})",
          R"({"i":"a","k":"grant","v":{"id":"","cidr":"10.0.0.1/32","route":"r","until":1,"reason":"","created":0}})",
          R"({"i":"a","k":"fail","v":{"source":"10.0.0.1/32","user":"","at":1}})",
          R"({"i":"a","k":"rate","v":{"listener":"main","counts":[["10.0.0.1",0]]}})",
          R"({"i":"a","k":"rate","v":{"listener":"main","counts":[["10.0.0.1"]]}})",
          R"({"i":"a","k":"rate","v":{"listener":"main","counts":{}}})",
      }) {
    EXPECT_FALSE(decode(text)) << text;
  }
}

// Timestamps beyond the clock's range saturate instead of overflowing (found by the mutation
// test under UBSan: a flipped digit in "until").
TEST(FleetCodec, TimestampsOutsideTheClocksRangeSaturate) {
  EXPECT_EQ(from_ms(9'790'000'000'123), TimePoint::max());
  EXPECT_EQ(from_ms(std::numeric_limits<std::int64_t>::max()), TimePoint::max());
  EXPECT_EQ(from_ms(std::numeric_limits<std::int64_t>::min()), TimePoint::min());
  EXPECT_EQ(from_ms(to_ms(TimePoint::max())), TimePoint::max());
  EXPECT_EQ(to_ms(from_ms(1'790'000'000'123)), 1'790'000'000'123);
}

// Every prefix of every valid message, and bytes flipped at random, decode to nothing or to a
// message that encodes again (no crash, no half-read event).
TEST(FleetCodec, TruncatedAndMutatedMessagesNeverHalfDecode) {
  std::mt19937 random{20261202};
  for (const auto& message : samples()) {
    const auto text = encode(message);
    for (std::size_t n = 0; n < text.size(); ++n) {
      EXPECT_FALSE(decode(std::string_view(text).substr(0, n))) << text.substr(0, n);
    }
    for (int round = 0; round < 2000; ++round) {
      auto mutated = text;
      mutated[random() % mutated.size()] = static_cast<char>(random() % 256);
      if (const auto back = decode(mutated)) {
        EXPECT_TRUE(decode(encode(*back))) << mutated;
      }
    }
  }
}

}  // namespace
}  // namespace rdpgate::gateway::fleet
