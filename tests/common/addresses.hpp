#pragma once
// Helpers shared by the C++ test suites: addresses, ranges and a fixed wall-clock instant.
// A text that does not parse fails the calling test rather than throwing.

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/config/cidr.hpp"

namespace rdpgate::test {

// 2023-11-14T22:13:20Z: the "now" of the tests that drive time themselves.
inline const std::chrono::system_clock::time_point t0{std::chrono::seconds{1'700'000'000}};

inline config::IpAddress ip(std::string_view text) {
  const auto address = config::parse_ip(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(config::IpAddress{});
}

inline config::Cidr cidr(std::string_view text) {
  std::string error;
  const auto value = config::parse_cidr(text, &error);
  EXPECT_TRUE(value.has_value()) << text << ": " << error;
  return value.value_or(config::Cidr{});
}

inline std::vector<config::Cidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<config::Cidr> out;
  for (const auto t : texts) out.push_back(cidr(t));
  return out;
}

}  // namespace rdpgate::test
