#pragma once
// Small helpers shared by the gateway unit tests.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "../common/addresses.hpp"
#include "rdpgate/config/cidr.hpp"
#include "rdpgate/gateway/request.hpp"

namespace rdpgate::gateway::test {

using rdpgate::test::cidrs;
using rdpgate::test::ip;

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
