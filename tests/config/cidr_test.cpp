#include "rdpgate/config/cidr.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "rdpgate/config/endpoint.hpp"
#include "../common/addresses.hpp"

namespace rdpgate::config {
namespace {

using test::cidr;
using test::ip;

TEST(ParseIp, V4IsStoredMapped) {
  const auto a = ip("192.0.2.1");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a, IpAddress::from_v4(0xC0000201));
  EXPECT_EQ(a, ip("::ffff:192.0.2.1"));
  EXPECT_EQ(a.to_string(), "192.0.2.1");
  const std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(a.bytes, mapped);
}

TEST(ParseIp, V6) {
  const auto a = ip("2001:db8::1");
  EXPECT_FALSE(a.is_v4());
  EXPECT_EQ(a.to_string(), "2001:db8::1");
  EXPECT_EQ(a.bytes[0], 0x20);
  EXPECT_EQ(a.bytes[1], 0x01);
  EXPECT_EQ(a.bytes[15], 0x01);
  EXPECT_FALSE(ip("::1").is_v4());
  EXPECT_FALSE(ip("::").is_v4());
}

TEST(ParseIp, Rejects) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "[::1]", "fe80::1%eth0",
                          "2001:db8:::1", "example.com", "1.2.3.4/32", "01.2.3.4"}) {
    EXPECT_EQ(parse_ip(bad), std::nullopt) << bad;
  }
}

TEST(ParseCidr, V4AndV6) {
  const auto v4 = cidr("203.0.113.0/24");
  EXPECT_EQ(v4.prefix, 120);
  EXPECT_EQ(v4.to_string(), "203.0.113.0/24");
  EXPECT_TRUE(v4.contains(ip("203.0.113.255")));
  EXPECT_FALSE(v4.contains(ip("203.0.114.0")));

  const auto v6 = cidr("2001:db8::/32");
  EXPECT_EQ(v6.prefix, 32);
  EXPECT_EQ(v6.to_string(), "2001:db8::/32");
  EXPECT_TRUE(v6.contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(ip("2001:db9::")));

  EXPECT_EQ(cidr("192.0.2.7").prefix, 128);  // a bare address is a /32
  EXPECT_EQ(cidr("192.0.2.7").to_string(), "192.0.2.7/32");
  EXPECT_EQ(cidr("::1").prefix, 128);
  EXPECT_EQ(cidr("10.1.2.0/23").to_string(), "10.1.2.0/23");
}

TEST(ParseCidr, SlashZero) {
  const auto all_v4 = cidr("0.0.0.0/0");
  EXPECT_TRUE(all_v4.contains(ip("255.255.255.255")));
  EXPECT_TRUE(all_v4.contains(ip("0.0.0.0")));
  EXPECT_FALSE(all_v4.contains(ip("2001:db8::1")));  // IPv4 /0 is all of IPv4, not IPv6
  const auto all = cidr("::/0");
  EXPECT_TRUE(all.contains(ip("2001:db8::1")));
  EXPECT_TRUE(all.contains(ip("10.0.0.1")));
}

TEST(ParseCidr, MappedV6NotationCoversV4) {
  const auto mapped = cidr("::ffff:10.0.0.0/104");
  EXPECT_TRUE(mapped.contains(ip("10.200.0.1")));
  EXPECT_EQ(mapped.to_string(), "10.0.0.0/8");
}

TEST(ParseCidr, Errors) {
  std::string error;
  EXPECT_EQ(parse_cidr("203.0.113.7/24", &error), std::nullopt);
  EXPECT_EQ(error, "host bits set (did you mean \"203.0.113.0/24\")");
  EXPECT_EQ(parse_cidr("2001:db8::1/32", &error), std::nullopt);
  EXPECT_EQ(error, "host bits set (did you mean \"2001:db8::/32\")");
  EXPECT_EQ(parse_cidr("10.0.0.0/33", &error), std::nullopt);
  EXPECT_EQ(error, "bad prefix length: expected 0..32");
  EXPECT_EQ(parse_cidr("::/129", &error), std::nullopt);
  EXPECT_EQ(error, "bad prefix length: expected 0..128");
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8", "x/8", "/8",
                          "10.0.0.0/ 8"}) {
    EXPECT_EQ(parse_cidr(bad, &error), std::nullopt) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(CidrSet, EmptyContainsNothing) {
  const CidrSet set;
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.contains(ip("10.0.0.1")));
}

TEST(CidrSet, Membership) {
  const CidrSet set{{cidr("10.0.0.0/8"), cidr("192.168.1.0/24"), cidr("2001:db8::/32"),
                     cidr("198.51.100.7")}};
  EXPECT_TRUE(set.contains(ip("10.0.0.0")));
  EXPECT_TRUE(set.contains(ip("10.255.255.255")));
  EXPECT_FALSE(set.contains(ip("11.0.0.0")));
  EXPECT_FALSE(set.contains(ip("9.255.255.255")));
  EXPECT_TRUE(set.contains(ip("192.168.1.77")));
  EXPECT_FALSE(set.contains(ip("192.168.2.1")));
  EXPECT_TRUE(set.contains(ip("2001:db8:1::5")));
  EXPECT_FALSE(set.contains(ip("2001:db7:ffff::")));
  EXPECT_TRUE(set.contains(ip("198.51.100.7")));
  EXPECT_FALSE(set.contains(ip("198.51.100.8")));
  EXPECT_TRUE(set.contains(ip("::ffff:10.1.2.3")));  // mapped notation is the same address
  EXPECT_FALSE(set.contains(ip("::a01:203")));       // IPv4-compatible is not IPv4
  EXPECT_EQ(set.range_count(), 4U);
}

TEST(CidrSet, OverlapsAndContainedRangesMerge) {
  const CidrSet set{{cidr("10.0.0.0/16"), cidr("10.0.5.0/24"), cidr("10.0.0.0/8"),
                     cidr("10.0.0.0/8")}};
  EXPECT_EQ(set.range_count(), 1U);
  EXPECT_TRUE(set.contains(ip("10.200.0.1")));
  EXPECT_FALSE(set.contains(ip("11.0.0.0")));
}

TEST(CidrSet, AdjacentRangesMerge) {
  const CidrSet set{{cidr("10.0.1.0/24"), cidr("10.0.0.0/24"), cidr("10.0.2.0/23"),
                     cidr("10.0.5.0/24")}};
  EXPECT_EQ(set.range_count(), 2U);  // 10.0.0.0-10.0.3.255 and 10.0.5.0/24; 10.0.4.0/24 is a gap
  EXPECT_TRUE(set.contains(ip("10.0.3.255")));
  EXPECT_FALSE(set.contains(ip("10.0.4.0")));
  EXPECT_TRUE(set.contains(ip("10.0.5.0")));
}

TEST(CidrSet, SlashZeroAndTopOfSpace) {
  const CidrSet all{{cidr("::/0"), cidr("10.0.0.0/8")}};
  EXPECT_EQ(all.range_count(), 1U);
  EXPECT_TRUE(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(all.contains(ip("::")));
  const CidrSet top{{cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"), cidr("ffff::/16")}};
  EXPECT_EQ(top.range_count(), 1U);
  EXPECT_TRUE(top.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(top.contains(ip("fffe:ffff::")));
  const CidrSet v4_all{{cidr("0.0.0.0/0")}};
  EXPECT_TRUE(v4_all.contains(ip("1.2.3.4")));
  EXPECT_FALSE(v4_all.contains(ip("::1")));
}

// Random sets against a linear scan of the CIDRs themselves.
TEST(CidrSet, MatchesLinearScan) {
  std::mt19937 random{12345};
  for (int round = 0; round < 20; ++round) {
    std::vector<Cidr> cidrs;
    for (int i = 0; i < 200; ++i) {
      const auto base = static_cast<std::uint32_t>(random() & 0x00ffffff) | 0x0a000000U;
      const auto prefix = static_cast<unsigned>(16 + random() % 17);  // /16../32
      const std::uint32_t mask = prefix == 0 ? 0 : ~0U << (32 - prefix);
      Cidr c;
      c.network = IpAddress::from_v4(base & mask);
      c.prefix = static_cast<std::uint8_t>(96 + prefix);
      cidrs.push_back(c);
    }
    const CidrSet set{cidrs};
    for (int q = 0; q < 2000; ++q) {
      const auto address = IpAddress::from_v4(static_cast<std::uint32_t>(random() & 0x00ffffff) |
                                              0x0a000000U);
      const bool expected = std::any_of(cidrs.begin(), cidrs.end(),
                                        [&](const Cidr& c) { return c.contains(address); });
      ASSERT_EQ(set.contains(address), expected) << address.to_string();
    }
  }
}

// 100k IPv4 entries: 10.0.0.0 + i*512 as /24 (every other /24 from 10.0.0.0 up), plus 1000
// IPv6 /64s 2001:db8:0:2j::/64, inserted in random order. Membership has a closed form, so every
// answer is checked.
TEST(CidrSet, HundredThousandEntries) {
  constexpr std::uint32_t count = 100000;
  constexpr std::uint32_t v6_count = 1000;
  constexpr std::uint32_t base = 0x0a000000;  // 10.0.0.0
  std::vector<Cidr> cidrs;
  cidrs.reserve(count + v6_count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Cidr v4;
    v4.network = IpAddress::from_v4(base + i * 512);
    v4.prefix = 96 + 24;
    cidrs.push_back(v4);
  }
  auto v6_address = [](std::uint32_t group, std::uint8_t last) {
    IpAddress a;
    a.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, static_cast<std::uint8_t>(group >> 8),
               static_cast<std::uint8_t>(group), 0, 0, 0, 0, 0, 0, 0, last};
    return a;
  };
  for (std::uint32_t j = 0; j < v6_count; ++j) {
    Cidr v6;
    v6.network = v6_address(2 * j, 0);
    v6.prefix = 64;
    cidrs.push_back(v6);
  }
  std::shuffle(cidrs.begin(), cidrs.end(), std::mt19937{7});
  const CidrSet set{cidrs};
  EXPECT_EQ(set.range_count(), count + v6_count);  // nothing adjacent, nothing merges

  std::mt19937 random{99};
  std::vector<IpAddress> queries;
  std::vector<bool> expected;
  for (int q = 0; q < 200000; ++q) {
    const std::uint32_t offset = static_cast<std::uint32_t>(random()) % (count * 512 + 4096);
    queries.push_back(IpAddress::from_v4(base + offset));
    expected.push_back(offset < count * 512 && offset % 512 < 256);
  }
  // Around the boundaries of every hundredth entry, and outside 10/8 entirely.
  for (std::uint32_t i = 0; i < count; i += 100) {
    for (const std::uint32_t delta : {0U, 255U, 256U, 511U}) {
      queries.push_back(IpAddress::from_v4(base + i * 512 + delta));
      expected.push_back(delta < 256);
    }
  }
  queries.push_back(IpAddress::from_v4(base - 1));
  expected.push_back(false);
  for (std::uint32_t group = 0; group < 2 * v6_count + 2; ++group) {
    queries.push_back(v6_address(group, 1));
    expected.push_back(group % 2 == 0 && group < 2 * v6_count);
  }
  queries.push_back(parse_ip("::ffff:10.0.0.1").value());
  expected.push_back(true);

  std::size_t hits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const bool found = set.contains(queries[i]);
    hits += found ? 1 : 0;
    if (found != expected[i]) {
      ADD_FAILURE() << "query " << queries[i].to_string() << ": expected " << expected[i];
      break;
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double ns = static_cast<double>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
                    static_cast<double>(queries.size());
  std::printf("CidrSet: %zu ranges, %zu lookups (%zu hits), %.1f ns per lookup\n",
              set.range_count(), queries.size(), hits, ns);
}

TEST(ParseEndpoint, Forms) {
  auto e = parse_endpoint("10.1.0.5:3389", false);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "10.1.0.5");
  EXPECT_EQ(e->port, 3389);
  EXPECT_EQ(e->text, "10.1.0.5:3389");
  e = parse_endpoint("[::1]:0", false);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 0);
  e = parse_endpoint("rdp-1.corp.example:3389", true);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "rdp-1.corp.example");
  std::string error;
  EXPECT_FALSE(parse_endpoint("rdp-1.corp.example:3389", false, &error));
  EXPECT_EQ(error, "expected an IP address, not a host name");
  EXPECT_FALSE(parse_endpoint("::1:3389", true, &error));
  EXPECT_EQ(error, "write an IPv6 address in brackets, e.g. \"[::1]:3389\"");
  EXPECT_FALSE(parse_endpoint("10.0.0.1:65536", true, &error));
  EXPECT_EQ(error, "bad port: expected 0..65535");
  for (const char* bad : {"10.0.0.1", "10.0.0.1:", ":3389", "[::1]", "[::1]3389", "[10.0.0.1]:1",
                          "999.0.0.1:3389", "-bad-.example:1", "a..b:1", "host name:1",
                          "10.0.0.1:+1"}) {
    EXPECT_FALSE(parse_endpoint(bad, true)) << bad;
  }
}

}  // namespace
}  // namespace rdpgate::config
