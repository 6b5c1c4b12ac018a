#include "rdpgate/config/units.hpp"

#include <gtest/gtest.h>

namespace rdpgate::config {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, SingleUnits) {
  EXPECT_EQ(parse_duration("500ms"), Duration{500});
  EXPECT_EQ(parse_duration("5s"), Duration{5000});
  EXPECT_EQ(parse_duration("10m"), Duration{10min});
  EXPECT_EQ(parse_duration("2h"), Duration{2h});
  EXPECT_EQ(parse_duration("1d"), Duration{24h});
  EXPECT_EQ(parse_duration("0s"), Duration{0});
  EXPECT_EQ(parse_duration("0ms"), Duration{0});
}

TEST(ParseDuration, Compound) {
  EXPECT_EQ(parse_duration("1h30m"), Duration{90min});
  EXPECT_EQ(parse_duration("1m30s"), Duration{90s});
  EXPECT_EQ(parse_duration("1s500ms"), Duration{1500});
  EXPECT_EQ(parse_duration("1d2h3m4s5ms"), Duration{24h + 2h + 3min + 4s + 5ms});
}

TEST(ParseDuration, Rejects) {
  for (const char* bad : {"", "5", "s", "5x", "5 s", " 5s", "5s ", "-5s", "+5s", "1.5s", "5sec",
                          "5S", "1h30", "h1", "5ms5", "99999999999999999999s",
                          "9223372036854775807d"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(FormatDuration, RoundTrips) {
  EXPECT_EQ(format_duration(Duration{0}), "0s");
  EXPECT_EQ(format_duration(Duration{90min}), "1h30m");
  EXPECT_EQ(format_duration(Duration{1500}), "1s500ms");
  EXPECT_EQ(format_duration(Duration{24h}), "1d");
  EXPECT_EQ(format_duration(Duration{100}), "100ms");
  for (const auto d : {Duration{1}, Duration{59999}, Duration{26h + 1s}, Duration{7 * 24h}}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
}

TEST(ParseSize, Units) {
  EXPECT_EQ(parse_size("4096"), 4096U);
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("64B"), 64U);
  EXPECT_EQ(parse_size("4KiB"), 4096U);
  EXPECT_EQ(parse_size("64KiB"), 65536U);
  EXPECT_EQ(parse_size("1MiB"), 1048576U);
  EXPECT_EQ(parse_size("1GiB"), 1073741824U);
  EXPECT_EQ(parse_size("2KB"), 2000U);
  EXPECT_EQ(parse_size("3MB"), 3000000U);
}

TEST(ParseSize, Rejects) {
  for (const char* bad : {"", "KiB", "4 KiB", "4kib", "4K", "-1", "1.5MiB", "4KiBx",
                          "99999999999999999999", "17179869184GiB"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

TEST(ParseRate, Units) {
  EXPECT_DOUBLE_EQ(parse_rate("5/s")->per_second, 5.0);
  EXPECT_DOUBLE_EQ(parse_rate("30/min")->per_second, 0.5);
  EXPECT_DOUBLE_EQ(parse_rate("100/h")->per_second, 100.0 / 3600.0);
  EXPECT_DOUBLE_EQ(parse_rate("0/s")->per_second, 0.0);
  EXPECT_DOUBLE_EQ(parse_rate("2.5/s")->per_second, 2.5);
  EXPECT_DOUBLE_EQ(parse_rate("86400/d")->per_second, 1.0);
}

TEST(ParseRate, Rejects) {
  for (const char* bad : {"", "5", "5/", "/s", "5/x", "-5/s", "5 /s", "5/ s", "inf/s", "nan/s",
                          ".5/s", "5/S", "5s"}) {
    EXPECT_EQ(parse_rate(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace rdpgate::config
