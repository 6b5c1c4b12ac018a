#pragma once
// Small helpers shared by the gateway unit tests.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/gateway/request.hpp"

namespace rdpgate::gateway::test {

inline config::IpAddress ip(std::string_view text) {
  auto a = config::parse_ip(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(config::IpAddress{});
}

inline std::vector<config::Cidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<config::Cidr> out;
  for (auto t : texts) {
    auto c = config::parse_cidr(t);
    EXPECT_TRUE(c.has_value()) << t;
    if (c) out.push_back(*c);
  }
  return out;
}

inline Peer peer(std::string_view address, std::size_t listener = 0) {
  Peer p;
  p.address = ip(address);
  p.port = 50000;
  p.listener = listener;
  return p;
}

// A parsed Connection Request with a cookie and an RDP_NEG_REQ.
inline Request request(std::string user, std::uint32_t requested, bool negotiation = true) {
  Request r;
  r.has_cookie = !user.empty();
  r.user = std::move(user);
  r.has_negotiation = negotiation;
  r.requested_protocols = negotiation ? requested : 0;
  return r;
}

}  // namespace rdpgate::gateway::test
